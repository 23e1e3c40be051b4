"""Write-back: applied / unchanged / rejected per row, idempotency keys, batches, templates."""

from __future__ import annotations

from typing import Any

import pytest
from rest_support import MakeConnector, stream_block
from tests.fakes.rest_api import EPOCH, RestApiFake, customer
from tests.fakes.server import Fault

from crmhub.connectors.base import Upsert
from crmhub.connectors.rest.writeback import render_body, render_path
from crmhub.errors import AuthError, RetriesExhaustedError, SourceContractError

SINGLE = {
    "method": "PATCH",
    "path": "/customers/{external_id}",
    "body": {"email": "{email}", "custom.crmhub_id": "{custom.crmhub_id}"},
    "current": "/customers/{external_id}",
    "current_selector": "data",
}
BATCH = {
    "method": "POST",
    "path": "/customers/batch",
    "body": "fields",
    "batch_size": 2,
    "batch_key": "items",
    "results_path": "results",
}


@pytest.fixture(autouse=True)
def seeded(fake: RestApiFake) -> None:
    fake.seed([customer(f"c{i}", "Ada", "L", f"a{i}@example.com", EPOCH) for i in range(1, 5)])


def upsert(cid: str | None, **fields: Any) -> Upsert:
    return Upsert(cid, f"g-{cid}", fields, f"key-{cid}-{sorted(fields.items())}")


def writer(make: MakeConnector, write: dict[str, Any]) -> Any:
    return make(streams=[stream_block(write=write)], error_code_path="error.code")


def statuses(report: Any) -> list[str]:
    return [row.status.value for row in report.rows]


def test_applied_then_unchanged_without_a_second_write(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    conn = writer(make_connector, SINGLE)
    rows = [upsert("c1", **{"custom.crmhub_id": "G1"}), upsert("c2", email="new2@example.com")]
    assert statuses(conn.write("customers", rows)) == ["applied", "applied"]
    assert fake.records["c1"]["custom"]["crmhub_id"] == "G1"
    assert fake.records["c2"]["email"] == "new2@example.com"
    writes = len(fake.writes)
    assert statuses(conn.write("customers", rows)) == ["unchanged", "unchanged"]
    assert len(fake.writes) == writes
    patch = fake.writes[0]
    assert patch.body == {"custom": {"crmhub_id": "G1"}}
    assert patch.header("idempotency-key") == rows[0].idempotency_key


def test_a_refused_row_is_rejected_with_status_and_vendor_code_and_the_rest_go_on(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    conn = writer(make_connector, SINGLE)
    rows = [
        upsert("c1", email="not-an-email"),
        upsert("nope", email="x@example.com"),
        upsert("c3", email="c3@example.com"),
    ]
    report = conn.write("customers", rows)
    assert statuses(report) == ["rejected", "rejected", "applied"]
    assert "422" in report.rows[0].reason and "invalid_email" in report.rows[0].reason
    assert "404" in report.rows[1].reason
    assert report.rows[0].idempotency_key == rows[0].idempotency_key


def test_patch_with_idempotency_key_is_retried_and_applied_once(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    conn = writer(make_connector, {**SINGLE, "current": None})
    fake.inject(Fault(503, times=2, path_prefix="/customers/c1"))
    report = conn.write("customers", [upsert("c1", email="n@example.com")])
    assert statuses(report) == ["applied"]
    patches = [r for r in fake.requests if r.method == "PATCH"]
    assert len(patches) == 3 and len({r.header("idempotency-key") for r in patches}) == 1
    assert len(fake.writes) == 1


def test_without_an_idempotency_header_a_patch_is_not_retried(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    conn = writer(make_connector, {**SINGLE, "current": None, "idempotency_header": None})
    fake.inject(Fault(503, times=1))
    with pytest.raises(RetriesExhaustedError, match="not retried"):
        conn.write("customers", [upsert("c1", email="n@example.com")])
    assert fake.requests[-1].header("idempotency-key") is None


def test_custom_idempotency_header_and_fields_body(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    write = {"method": "PUT", "path": "/customers/{external_id}", "idempotency_header": "X-Req"}
    conn = writer(make_connector, write)
    row = upsert("c4", **{"email": "c4@example.com", "custom.crmhub_id": "G4"})
    assert statuses(conn.write("customers", [row])) == ["applied"]
    sent = fake.writes[-1]
    assert sent.method == "PUT" and sent.header("x-req") == row.idempotency_key
    assert sent.body == {"email": "c4@example.com", "custom": {"crmhub_id": "G4"}}


def test_batch_write_reports_each_item(fake: RestApiFake, make_connector: MakeConnector) -> None:
    conn = writer(make_connector, BATCH)
    rows = [
        upsert("c1", email="b1@example.com"),
        upsert("c2", email="broken"),
        upsert("c3", email="b3@example.com"),
    ]
    report = conn.write("customers", rows)
    assert statuses(report) == ["applied", "rejected", "applied"]
    assert "status 422" in report.rows[1].reason and "invalid_email" in report.rows[1].reason
    assert [len(w.body["items"]) for w in fake.writes] == [2, 1]
    assert fake.writes[0].body["items"][0] == {"id": "c1", "email": "b1@example.com"}
    assert fake.writes[0].header("idempotency-key")
    assert fake.records["c3"]["email"] == "b3@example.com"


def test_a_refused_batch_rejects_its_rows(fake: RestApiFake, make_connector: MakeConnector) -> None:
    conn = writer(make_connector, BATCH)
    fake.inject(Fault(400, times=1, body={"error": {"code": "too_large"}}))
    report = conn.write("customers", [upsert("c1", email="a@x.io"), upsert("c2", email="b@x.io")])
    assert statuses(report) == ["rejected", "rejected"]
    assert "batch refused" in report.rows[0].reason and "too_large" in report.rows[0].reason


def test_a_row_without_the_path_placeholder_value_is_rejected(
    make_connector: MakeConnector,
) -> None:
    conn = writer(make_connector, SINGLE)
    report = conn.write("customers", [upsert(None, email="new@example.com")])
    assert statuses(report) == ["rejected"]
    assert "needs ['external_id']" in report.rows[0].reason


def test_write_without_write_settings_says_how_to_add_them(
    make_connector: MakeConnector,
) -> None:
    with pytest.raises(SourceContractError, match="has no 'write' settings"):
        make_connector().write("customers", [upsert("c1", email="a@b.c")])


def test_401_during_a_write_stops_it(fake: RestApiFake, make_connector: MakeConnector) -> None:
    conn = writer(make_connector, SINGLE)
    fake.inject(Fault(401, times=1))
    with pytest.raises(AuthError):
        conn.write("customers", [upsert("c1", email="a@b.c")])


def test_templates_keep_types_nest_dotted_keys_and_skip_absent_fields() -> None:
    template = {
        "email": "{email}",
        "score": "{score}",
        "note": "synced by crmhub as {golden_id}",
        "external.ref": "{crmhub_id}",
        "source": "crmhub",
    }
    row = Upsert("c/1", "G9", {"email": "a@b.c", "score": 7}, "k1")
    assert render_body(template, row) == {
        "email": "a@b.c",
        "score": 7,
        "note": "synced by crmhub as G9",
        "source": "crmhub",
    }
    assert render_path("/customers/{external_id}", {"external_id": "c/1"}) == "/customers/c%2F1"


CURRENT = {"current": "/customers/{external_id}", "current_selector": "data"}


def test_a_renamed_template_field_is_unchanged_on_the_second_write(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    conn = writer(
        make_connector,
        {"path": "/customers/{external_id}", **CURRENT} | {"body": {"email": "{mail}"}},
    )
    rows = [upsert("c1", mail="new1@example.com")]
    assert statuses(conn.write("customers", rows)) == ["applied"]
    assert fake.records["c1"]["email"] == "new1@example.com"
    assert statuses(conn.write("customers", rows)) == ["unchanged"]
    assert len(fake.writes) == 1


def test_a_template_writing_another_field_is_compared_by_that_field(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    # the row's `email` equals the record's email, but the body writes it to backup_email
    conn = writer(
        make_connector,
        {"path": "/customers/{external_id}", **CURRENT} | {"body": {"backup_email": "{email}"}},
    )
    rows = [upsert("c1", email="a1@example.com")]
    assert statuses(conn.write("customers", rows)) == ["applied"]
    assert fake.records["c1"]["backup_email"] == "a1@example.com"
    assert statuses(conn.write("customers", rows)) == ["unchanged"]


def test_a_current_template_naming_a_field_the_row_lacks_rejects_only_that_row(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    write = {"path": "/customers/{external_id}", "current": "/customers/{lookup}"}
    conn = writer(make_connector, write | {"current_selector": "data"})
    rows = [upsert("c1", email="x1@example.com"), upsert("c2", email="x2@example.com", lookup="c2")]
    report = conn.write("customers", rows)
    assert statuses(report) == ["rejected", "applied"]
    assert "lookup" in report.rows[0].reason
    assert fake.records["c2"]["email"] == "x2@example.com"
