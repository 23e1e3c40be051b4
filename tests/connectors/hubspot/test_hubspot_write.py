"""Write-back: compare first, batch update by id, upsert by a unique property, per-row errors."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hubspot_support import ConnectorFactory, assert_shape
from tests.fakes.hubspot import HubSpotFake
from tests.fakes.server import Fault

from crmhub.connectors.base import Upsert
from crmhub.connectors.hubspot.writer import to_property_text
from crmhub.errors import RetriesExhaustedError


def upsert(external_id: str | None, **fields: object) -> Upsert:
    key = f"k-{external_id}-{sorted(fields.items())}"
    return Upsert(external_id, f"G-{external_id}", fields, key)


def statuses(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.status.value for r in report.rows]


@pytest.fixture
def contacts(fake: HubSpotFake) -> list[str]:
    return [
        fake.add("contacts", {"firstname": "Ada", "email": "ada@example.com"}),
        fake.add("contacts", {"firstname": "Zoë", "email": "zoe@example.com"}),
        fake.add("contacts", {"firstname": "Ana", "email": "ana@example.com"}),
    ]


def test_applied_then_unchanged(
    fake: HubSpotFake, connect: ConnectorFactory, contacts: list[str]
) -> None:
    rows = [upsert(cid, crmhub_id=f"G{i}", firstname="Same") for i, cid in enumerate(contacts)]
    first = connect().write("contacts", rows)
    assert statuses(first) == ["applied"] * 3
    assert [r.idempotency_key for r in first.rows] == [r.idempotency_key for r in rows]
    assert fake.get("contacts", contacts[1]) == {
        "firstname": "Same", "email": "zoe@example.com", "crmhub_id": "G1",
    }  # fmt: skip
    updates = fake.requests_to("POST", "/contacts/batch/update")
    second = connect().write("contacts", rows)
    assert statuses(second) == ["unchanged"] * 3
    assert fake.requests_to("POST", "/contacts/batch/update") == updates


def test_only_changed_properties_are_sent(
    fake: HubSpotFake, connect: ConnectorFactory, contacts: list[str]
) -> None:
    report = connect().write(
        "contacts", [upsert(contacts[0], firstname="Ada", email="ADA@example.com", city="Oslo")]
    )
    assert statuses(report) == ["applied"]
    [update] = fake.requests_to("POST", "/contacts/batch/update")
    assert update.body == {"inputs": [{"id": contacts[0], "properties": {"city": "Oslo"}}]}
    [read] = fake.requests_to("POST", "/contacts/batch/read")
    assert read.body["inputs"] == [{"id": contacts[0]}]
    assert read.body["properties"] == ["city", "email", "firstname"]


def test_per_row_errors_of_a_207_are_rejected_rows(
    fake: HubSpotFake, connect: ConnectorFactory, contacts: list[str]
) -> None:
    rows = [
        upsert(contacts[0], firstname="Ok"),
        upsert(contacts[1], email="not-an-email"),
        upsert(contacts[2], no_such_property="x"),
    ]
    report = connect().write("contacts", rows)
    assert statuses(report) == ["applied", "rejected", "rejected"]
    assert "VALIDATION_ERROR: Email address not-an-email is invalid" in report.rows[1].reason
    assert 'Property "no_such_property" does not exist' in report.rows[2].reason
    assert fake.get("contacts", contacts[0])["firstname"] == "Ok"
    assert fake.get("contacts", contacts[1])["email"] == "zoe@example.com"


def test_a_batch_refused_as_a_whole_is_retried_row_by_row(
    fake: HubSpotFake, connect: ConnectorFactory, contacts: list[str]
) -> None:
    fake.whole_batch_errors = True
    rows = [upsert(contacts[0], firstname="Ok"), upsert(contacts[1], email="bad")]
    report = connect().write("contacts", rows)
    assert statuses(report) == ["applied", "rejected"]
    assert "refused by HubSpot: VALIDATION_ERROR" in report.rows[1].reason
    assert len(fake.requests_to("POST", "/contacts/batch/update")) == 3


def test_unknown_or_deleted_id_is_rejected(
    fake: HubSpotFake, connect: ConnectorFactory, contacts: list[str]
) -> None:
    report = connect().write("contacts", [upsert("999999", firstname="x")])
    assert statuses(report) == ["rejected"]
    assert "no contacts object with id 999999" in report.rows[0].reason
    assert fake.requests_to("POST", "/contacts/batch/update") == []


def test_rows_without_id_are_upserted_by_the_id_property(
    fake: HubSpotFake, connect: ConnectorFactory, contacts: list[str]
) -> None:
    conn = connect(streams={"contacts": {"id_property": "crmhub_id"}})
    rows = [upsert(None, crmhub_id="G-new", firstname="New"), upsert(contacts[0], crmhub_id="G1")]
    assert statuses(conn.write("contacts", rows)) == ["applied", "applied"]
    [up] = fake.requests_to("POST", "/contacts/batch/upsert")
    assert up.body == {
        "inputs": [
            {
                "idProperty": "crmhub_id",
                "id": "G-new",
                "properties": {"crmhub_id": "G-new", "firstname": "New"},
            }
        ]
    }
    assert_shape(up.body, "BatchInputSimplePublicObjectBatchInputUpsert")
    created = [
        o for o in fake.objects["contacts"].values() if o.properties.get("crmhub_id") == "G-new"
    ]
    assert len(created) == 1
    again = conn.write("contacts", rows)
    assert statuses(again) == ["unchanged", "unchanged"]
    [read_by_property] = [
        r for r in fake.requests_to("POST", "/contacts/batch/read") if r.body.get("idProperty")
    ][-1:]
    assert_shape(read_by_property.body, "BatchReadInputSimplePublicObjectId")


def test_upsert_by_email_matches_without_case(
    fake: HubSpotFake, connect: ConnectorFactory, contacts: list[str]
) -> None:
    conn = connect(streams={"contacts": {"id_property": "email"}})
    report = conn.write("contacts", [upsert(None, email="ADA@example.com", firstname="Ada")])
    assert statuses(report) == ["unchanged"]


def test_rows_without_id_need_an_id_property(
    connect: ConnectorFactory, contacts: list[str]
) -> None:
    report = connect().write("contacts", [upsert(None, firstname="New")])
    assert statuses(report) == ["rejected"]
    assert "no id_property is set" in report.rows[0].reason
    conn = connect(streams={"contacts": {"id_property": "crmhub_id"}})
    report = conn.write("contacts", [upsert(None, firstname="New")])
    assert "no 'crmhub_id' value" in report.rows[0].reason


def test_read_only_properties_are_rejected(connect: ConnectorFactory, contacts: list[str]) -> None:
    report = connect().write("contacts", [upsert(contacts[0], lastmodifieddate="2020-01-01")])
    assert statuses(report) == ["rejected"]
    assert "set by HubSpot" in report.rows[0].reason


def test_a_unique_value_conflict_is_rejected(
    fake: HubSpotFake, connect: ConnectorFactory, contacts: list[str]
) -> None:
    report = connect().write("contacts", [upsert(contacts[0], email="zoe@example.com")])
    assert statuses(report) == ["rejected"]
    assert report.rows[0].reason.startswith("CONFLICT:")


def test_one_unique_value_for_two_objects_in_one_batch(
    fake: HubSpotFake, connect: ConnectorFactory, contacts: list[str]
) -> None:
    """Duplicates inside HubSpot get one golden id: a unique crmhub_id refuses the second."""
    rows = [upsert(contacts[0], crmhub_id="G1"), upsert(contacts[1], crmhub_id="G1")]
    assert statuses(connect().write("contacts", rows)) == ["applied", "rejected"]
    fake.unique_properties["contacts"].discard("crmhub_id")
    assert statuses(connect().write("contacts", rows)) == ["unchanged", "applied"]


def test_batches_hold_at_most_the_batch_size_and_each_id_once(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    ids = [fake.add("contacts", {"firstname": str(i)}) for i in range(5)]
    rows = [upsert(ids[0], city="Bergen")] + [upsert(i, city="Oslo") for i in ids]
    report = connect(write_batch_size=2).write("contacts", rows)
    assert statuses(report) == ["applied"] * 6
    sizes = [len(r.body["inputs"]) for r in fake.requests_to("POST", "/contacts/batch/update")]
    assert sizes == [1, 2, 2, 1]
    assert fake.get("contacts", ids[0])["city"] == "Oslo"


def test_companies_are_written_to_their_endpoint(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    oid = fake.add("companies", {"name": "Acme"})
    report = connect().write("companies", [upsert(oid, name="Acme Ltd", crmhub_id="G7")])
    assert statuses(report) == ["applied"]
    assert fake.get("companies", oid) == {"name": "Acme Ltd", "crmhub_id": "G7"}


def test_update_is_retried_through_a_503(
    fake: HubSpotFake, connect: ConnectorFactory, contacts: list[str]
) -> None:
    fake.inject(Fault(503, times=1, path_prefix="/crm/v3/objects/contacts/batch/update"))
    report = connect().write("contacts", [upsert(contacts[0], city="Oslo")])
    assert statuses(report) == ["applied"]
    assert len(fake.requests_to("POST", "/contacts/batch/update")) == 2


def test_lasting_5xx_fails_the_write(
    fake: HubSpotFake, connect: ConnectorFactory, contacts: list[str]
) -> None:
    fake.inject(Fault(502, times=50, path_prefix="/crm/v3/objects/contacts/batch/update"))
    from crmhub.connectors.http import RetryPolicy

    conn = connect()
    conn.http.retry = RetryPolicy(attempts=2, backoff=0.01)
    with pytest.raises(RetriesExhaustedError, match="batch/update -> 502"):
        conn.write("contacts", [upsert(contacts[0], city="Oslo")])


def test_request_and_answer_shapes(
    fake: HubSpotFake, connect: ConnectorFactory, contacts: list[str]
) -> None:
    conn = connect(streams={"contacts": {"id_property": "crmhub_id"}})
    conn.write(
        "contacts",
        [
            upsert(contacts[0], city="Oslo"),
            upsert(contacts[1], email="bad"),
            upsert(None, crmhub_id="G9"),
        ],
    )
    [update] = fake.requests_to("POST", "/contacts/batch/update")
    assert_shape(update.body, "BatchInputSimplePublicObjectBatchInput")
    for read in fake.requests_to("POST", "/contacts/batch/read"):
        assert_shape(read.body, "BatchReadInputSimplePublicObjectId")
    http = conn.http
    answer = http.request(
        "POST", "crm/v3/objects/contacts/batch/update", json=update.body, ok=(200, 207)
    )
    assert answer.status_code == 207
    assert_shape(answer.json(), "BatchResponseSimplePublicObjectWithErrors")
    ok = http.request(
        "POST", "crm/v3/objects/contacts/batch/upsert",
        json={"inputs": [{"idProperty": "crmhub_id", "id": "G10", "properties": {"city": "Rome"}}]},
    )  # fmt: skip
    assert_shape(ok.json(), "BatchResponseSimplePublicUpsertObject")
    bad = http.request(
        "POST", "crm/v3/objects/contacts/batch/upsert",
        json={"inputs": [{"idProperty": "crmhub_id", "id": "G11", "properties": {"email": "x"}}]},
        ok=(207,),
    )  # fmt: skip
    assert_shape(bad.json(), "BatchResponseSimplePublicUpsertObjectWithErrors")
    inputs = [{"id": "404404"}, {"id": contacts[0]}]
    read = http.request(
        "POST",
        "crm/v3/objects/contacts/batch/read",
        json={"properties": ["email"], "propertiesWithHistory": [], "inputs": inputs},
        ok=(207,),
    )
    assert_shape(read.json(), "BatchResponseSimplePublicObjectWithErrors")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (12, "12"),
        (Decimal("10.50"), "10.50"),
        (date(2024, 5, 1), "2024-05-01"),
        (datetime(2024, 5, 1, 9, 30, tzinfo=UTC), "2024-05-01T09:30:00+00:00"),
        ("text", "text"),
    ],
)
def test_property_text(value: object, text: str) -> None:
    assert to_property_text(value) == text
