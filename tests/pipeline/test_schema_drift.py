"""Schema drift: new, removed and retyped fields noticed per stream and handled by policy."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from crmhub.connectors.base import Batch, RecordFrame
from crmhub.errors import SourceContractError
from crmhub.pipeline import extract_source, start_run
from crmhub.schema_drift import DriftPolicy, DriftWatch, value_type

KNOWN = {"id": "integer", "name": "string", "balance": "number", "vip": "boolean"}


def watch(policy: DriftPolicy, discovered: tuple[str, ...] = ()) -> DriftWatch:
    return DriftWatch(KNOWN, policy, source="crm", stream="contacts", discovered=discovered)


def batch(*records: dict[str, object]) -> Batch:
    return Batch(list(records), {"page": 2})


def test_value_types() -> None:
    assert [value_type(v) for v in (None, "", "a", 1, 1.5, True, [1], {"a": 1})] == [
        None,
        None,
        "string",
        "integer",
        "number",
        "boolean",
        "array",
        "object",
    ]


def test_same_fields_pass_untouched_and_integers_count_as_numbers() -> None:
    drift = watch(DriftPolicy.FREEZE)
    same = batch({"id": 1, "name": "Ann", "balance": 10, "vip": None})
    assert drift.check(same) is same
    assert not drift.report


def test_evolve_keeps_new_fields_and_reports_them() -> None:
    drift = watch(DriftPolicy.EVOLVE)
    incoming = batch({"id": 1, "name": "Ann", "website": "ann.example"}, {"id": 2, "name": "Bo"})
    assert drift.check(incoming) is incoming
    assert drift.report.lines() == ["new field 'website' (string)"]
    assert drift.fields["website"] == "string"


def test_freeze_stops_the_stream_naming_the_change_and_the_fix() -> None:
    drift = watch(DriftPolicy.FREEZE)
    with pytest.raises(SourceContractError) as caught:
        drift.check(batch({"id": 1, "balance": "12.50 EUR"}))
    message = str(caught.value)
    assert message.startswith("crm: stream 'contacts' changed its schema")
    assert "field 'balance' changed type number -> string" in message
    assert "schema_drift: evolve" in message


def test_discard_row_quarantines_only_the_drifting_records() -> None:
    drift = watch(DriftPolicy.DISCARD_ROW)
    incoming = Batch(
        [{"id": 1, "name": "Ann"}, {"id": 2, "name": "Bo", "fax": "123"}, {"id": 3, "vip": "y"}],
        {"page": 2},
        positions=["row 2", "row 3", "row 4"],
    )
    kept = drift.check(incoming)
    assert [r["id"] for r in kept.records] == [1]
    assert kept.positions == ["row 2"]
    assert kept.state_after == {"page": 2}
    assert [(r.position, r.reason) for r in kept.rejected] == [
        ("row 3", "schema drift: new field 'fax'"),
        ("row 4", "schema drift: field 'vip' retyped"),
    ]
    assert "2 records discarded for schema drift" in drift.report.lines()


def test_discard_row_works_on_columnar_batches() -> None:
    drift = watch(DriftPolicy.DISCARD_ROW)
    frame = pl.DataFrame({"id": [1, 2], "name": ["Ann", "Bo"], "fax": [None, "123"]})
    kept = drift.check(Batch(RecordFrame(frame), {}))
    assert isinstance(kept.records, RecordFrame)
    assert [r["id"] for r in kept.records] == [1]
    assert len(kept.rejected) == 1


def test_a_field_gone_from_discovery_and_records_is_removed() -> None:
    drift = watch(DriftPolicy.EVOLVE, discovered=("id", "name", "balance"))
    drift.check(batch({"id": 1, "name": "Ann", "balance": 3}))
    assert drift.finish().lines() == ["field 'vip' removed"]
    assert "vip" not in drift.fields
    frozen = watch(DriftPolicy.FREEZE, discovered=("id", "name", "balance"))
    frozen.check(batch({"id": 1, "name": "Ann"}))  # a later batch may still carry it
    with pytest.raises(SourceContractError, match="field 'vip' removed"):
        frozen.finish()
    assert "vip" in frozen.fields  # kept, so the next run stops again until accepted


def test_a_sparse_field_in_a_later_batch_is_not_removed() -> None:
    drift = watch(DriftPolicy.FREEZE, discovered=("id",))
    drift.check(batch({"id": 1}))
    drift.check(batch({"id": 2, "name": "Bo", "balance": 1.5, "vip": False}))
    assert not drift.finish()


@pytest.mark.parametrize("order", [1, -1])
def test_drift_does_not_depend_on_the_order_of_records(order: int) -> None:
    records = [{"id": 1, "name": "Ann"}, {"id": 2, "name": 5551234}][::order]
    with pytest.raises(SourceContractError, match="field 'name' changed type string -> integer"):
        watch(DriftPolicy.FREEZE).check(batch(*records))
    kept = watch(DriftPolicy.DISCARD_ROW).check(batch(*records))
    assert [r["id"] for r in kept.records] == [1]


def test_a_field_records_still_carry_is_not_removed_though_discovery_omits_it() -> None:
    drift = watch(DriftPolicy.FREEZE, discovered=("id", "name", "balance"))
    drift.check(batch({"id": 1, "vip": True}))
    assert not drift.finish()


def test_a_read_without_records_reports_no_removal() -> None:
    drift = watch(DriftPolicy.EVOLVE, discovered=("id",))
    assert not drift.finish()


def test_fields_only_crmhub_writes_are_ignored() -> None:
    drift = DriftWatch(
        {"id": "integer"}, DriftPolicy.FREEZE, source="crm", stream="c", ignore=("crmhub_id",)
    )
    drift.check(batch({"id": 1, "crmhub_id": "G1"}))
    assert not drift.finish()
    assert "crmhub_id" not in drift.fields


def test_first_read_sets_the_baseline_without_reporting() -> None:
    drift = DriftWatch(None, DriftPolicy.FREEZE, source="crm", stream="contacts")
    drift.check(batch({"id": 1, "name": "Ann", "note": None}))
    assert not drift.report
    assert drift.fields == {"id": "integer", "name": "string", "note": "null"}
    later = DriftWatch(drift.fields, DriftPolicy.FREEZE, source="crm", stream="contacts")
    later.check(batch({"id": 2, "note": "now filled"}))  # a known, so far empty field
    assert not later.report


# -- through the pipeline ------------------------------------------------------------------------
def write_hub(root: Path, policy: str) -> Path:
    (root / "hub.yaml").write_text(
        f"""
name: drift
sources:
  crm:
    type: spreadsheet
    path: contacts.csv
    key: id
    schema_drift: {policy}
    mapping: {{first_name: first, email: email}}
""",
        encoding="utf-8",
    )
    return root / "hub.yaml"


def write_csv(root: Path, header: str, *rows: str) -> None:
    (root / "contacts.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def staged(root: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{root / 'crmhub.db'}")
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM source_record")).scalar_one())


@pytest.mark.parametrize("policy", ["evolve", "freeze", "discard_row"])
def test_a_new_column_in_a_csv_source(tmp_path: Path, policy: str) -> None:
    config = str(write_hub(tmp_path, policy))
    write_csv(tmp_path, "id,first,email", "1,Ann,ann@example.com", "2,Bo,bo@example.com")
    first = extract_source(config, "crm", start_run(config))
    assert (first.inserted, first.schema_changes) == (2, [])
    write_csv(
        tmp_path,
        "id,first,email,loyalty",
        "1,Ann,ann@example.com,",
        "2,Bo,bo@example.com,gold",
        "3,Cy,cy@example.com,",
    )
    run = start_run(config)
    if policy == "freeze":
        with pytest.raises(SourceContractError, match="new field 'loyalty'"):
            extract_source(config, "crm", run)
        assert staged(tmp_path) == 2
        return
    second = extract_source(config, "crm", run)
    assert "new field 'loyalty' (string)" in second.schema_changes
    # the payload of a record now holds the new field (empty or not), so it counts as changed
    if policy == "evolve":
        assert (second.inserted, second.updated, second.quarantined) == (1, 2, 0)
    else:
        assert (second.inserted, second.updated, second.quarantined) == (1, 1, 1)
        assert "1 records discarded for schema drift" in second.schema_changes


def test_a_removed_column_is_reported_and_the_golden_id_column_is_not_new(
    tmp_path: Path,
) -> None:
    config = str(write_hub(tmp_path, "evolve"))
    write_csv(tmp_path, "id,first,email,fax", "1,Ann,ann@example.com,555", "2,Bo,,")
    extract_source(config, "crm", start_run(config))
    write_csv(tmp_path, "id,first,email,crmhub_id", "1,Ann,ann@example.com,G1", "2,Bo,,G2")
    second = extract_source(config, "crm", start_run(config))
    assert second.schema_changes == ["field 'fax' removed"]
    write_csv(tmp_path, "id,first,email,crmhub_id", "1,Ann,ann@example.com,G1", "3,Cy,,")
    third = extract_source(config, "crm", start_run(config))
    assert third.schema_changes == []  # 'fax' was forgotten once it was reported removed
