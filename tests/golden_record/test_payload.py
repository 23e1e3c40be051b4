"""`raw` keeps only what the canonical columns cannot give back; the full record is rebuilt."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import polars as pl
import pytest
import sqlalchemy as sa
import xxhash

from crmhub.config.loader import SourceDefinition
from crmhub.config.models import SourceSettings, WritebackSettings
from crmhub.connectors.base import RecordFrame, RowResult, RowStatus, WriteReport
from crmhub.golden_record import models
from crmhub.golden_record.payload import rebuild_record, single_sources
from crmhub.golden_record.staging import StageStats, StagingPlan, content_hash, stage_batch
from crmhub.golden_record.writeback import apply_report, plan_writeback

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MAPPING: dict[str, Any] = {
    "first_name": "First",
    "last_name": "Last",
    "email": "Email",
    "street": ["No", "Street"],
    "city": "No",
    "balance": "Balance",
    "source_updated_at": "Updated",
}


def _records() -> list[dict[str, Any]]:
    return [
        {
            "Id": 1,
            "First": "Ann",
            "Last": "Lee",
            "Email": "ann@x.org",
            "No": "12",
            "Street": "Main St",
            "Balance": Decimal("10.50"),
            "Updated": datetime(2026, 1, 2, 3, 4),
            "Note": "vip",
            "crmhub_id": None,
        },
        {"Id": 2, "First": "", "Last": None, "Email": "b@x.org", "Balance": 3, "Street": "Elm"},
        {"Id": 3, "First": "Cy", "Flag": True, "Balance": 2.5, "crmhub_id": "G1"},
    ]


def _as_json(record: dict[str, Any]) -> dict[str, Any]:
    """A record as its JSON reads back (what the source's view of it is made of)."""
    return dict(orjson.loads(orjson.dumps(record, default=str)))


def _stage(engine: sa.Engine, run_id: int, source: str, records: Any) -> StageStats:
    return stage_batch(
        engine,
        run_id,
        source,
        "customers",
        records,
        key="Id",
        mapping=MAPPING,
        ignore_fields=["crmhub_id"],
        state_after=None,
        now=NOW,
    )


def _stored(engine: sa.Engine, source: str) -> dict[str, Any]:
    with engine.connect() as conn:
        result = conn.execute(
            sa.text("SELECT * FROM source_record WHERE source = :s ORDER BY id"), {"s": source}
        )
        return {row.source_id: row._mapping for row in result}


def test_single_sources_skip_joined_fields() -> None:
    assert single_sources(MAPPING) == {
        "First": "first_name",
        "Last": "last_name",
        "Email": "email",
        "No": "city",
        "Balance": "balance",
        "Updated": "source_updated_at",
    }


def test_full_record_is_rebuilt_and_hashes_as_read(
    engine: sa.Engine, run_id: int, source: str
) -> None:
    plan = StagingPlan.build("Id", MAPPING, ["crmhub_id"])
    _stage(engine, run_id, source, _records())
    stored = _stored(engine, source)
    for record in _records():
        row = stored[str(record["Id"])]
        rebuilt = rebuild_record(row["raw"], row, plan.single_sources)
        assert rebuilt == _as_json(record)
        assert content_hash(rebuilt, plan) == row["content_hash"] == content_hash(record, plan)
    raw = orjson.loads(stored["1"]["raw"])
    assert "Email" not in raw and "First" not in raw and "No" not in raw
    assert raw["Street"] == "Main St" and raw["Note"] == "vip" and raw["Balance"] == "10.50"
    assert orjson.loads(stored["2"]["raw"])["First"] == ""


def test_hash_is_over_the_full_record() -> None:
    """The hash did not change with the smaller `raw`: XXH3 of the whole sorted JSON."""
    plan = StagingPlan.build("Id", MAPPING, ["crmhub_id"])
    record = _records()[0]
    whole = {k: v for k, v in record.items() if k != "crmhub_id"}
    expected = xxhash.xxh3_128_hexdigest(
        orjson.dumps(whole, default=str, option=orjson.OPT_SORT_KEYS), plan.hash_seed
    )
    assert content_hash(record, plan) == expected


def test_columnar_raw_equals_dict_raw() -> None:
    from crmhub.golden_record.staging import prepare_batch

    frame = pl.DataFrame(
        {
            "Id": ["1", "2", "3"],
            "First": ["Ann", "", None],
            "No": ["1", None, "3"],
            "Street": ["Main", "Elm", None],
            "Balance": [1, None, 3],
            "Note": ['a"b', None, "x"],
        }
    )
    plan = StagingPlan.build("Id", MAPPING, ["crmhub_id"])
    columnar = prepare_batch(RecordFrame(frame), plan)
    by_dicts = prepare_batch(frame.to_dicts(), plan)
    assert isinstance(columnar.rows, pl.DataFrame)
    assert columnar.rows.rows() == by_dicts.rows
    assert by_dicts.rows[0][1] == '{"Balance":1,"Id":"1","Note":"a\\"b","Street":"Main"}'


@pytest.fixture
def definition() -> SourceDefinition:
    settings = SourceSettings(
        type="sql", mapping=MAPPING, writeback=WritebackSettings(fields=["email", "first_name"])
    )
    return SourceDefinition("crm", settings, object, None)  # type: ignore[arg-type]


def test_write_back_patches_columns_and_raw_and_echo_is_no_change(
    engine: sa.Engine, run_id: int, source: str, definition: SourceDefinition
) -> None:
    definition = SourceDefinition(source, definition.settings, object, None)  # type: ignore[arg-type]
    _stage(engine, run_id, source, _records()[:1])
    golden_id = f"G{source[-8:]}"
    with engine.begin() as conn:
        conn.execute(
            sa.insert(models.GoldenCustomer).values(
                golden_id=golden_id,
                first_name="Ann",
                email="ann@new.org",
                provenance={},
                version=1,
                status="active",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        conn.execute(
            sa.update(models.SourceRecord)
            .where(models.SourceRecord.source == source)
            .values(golden_id=golden_id)
        )
    upserts = plan_writeback(engine, definition, "customers")
    assert [u.fields for u in upserts] == [{"crmhub_id": golden_id, "Email": "ann@new.org"}]
    report = WriteReport(
        [RowResult(u.external_id, u.idempotency_key, RowStatus.APPLIED) for u in upserts]
    )
    apply_report(engine, run_id, definition, "customers", upserts, report, key=["Id"])
    assert plan_writeback(engine, definition, "customers") == []
    row = _stored(engine, source)["1"]
    assert row["email"] == "ann@new.org"
    assert orjson.loads(row["raw"])["crmhub_id"] == golden_id
    echoed = {**_records()[0], "Email": "ann@new.org", "crmhub_id": golden_id}
    assert _stage(engine, run_id, source, [echoed]) == StageStats(0, 0, 1, 0)
