"""Staging: counts, echo of write-back columns, quarantine, state committed with the data."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from crmhub.connectors.base import Batch, RejectedRecord
from crmhub.golden_record.staging import (
    StageStats,
    quarantine_records,
    stage_batch,
    stage_batches,
)
from crmhub.golden_record.store import load_state

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

MAPPING: dict[str, Any] = {
    "first_name": "First",
    "last_name": "Last",
    "email": "Email",
    "street": ["No", "Street"],
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
            "crmhub_id": None,
        },
        {
            "Id": 2,
            "First": "Bob",
            "Last": "O'Neil",
            "Email": "",
            "No": None,
            "Street": "Elm",
            "Balance": 3,
            "Updated": date(2026, 1, 1),
            "crmhub_id": None,
        },
        {
            "Id": 3,
            "First": "Cy",
            "Last": "Ng",
            "Email": "cy@x.org",
            "No": "1",
            "Street": "",
            "Balance": None,
            "Updated": "2025-12-31",
            "crmhub_id": None,
        },
    ]


def _stage(
    engine: sa.Engine,
    run_id: int,
    source: str,
    records: list[dict[str, Any]],
    state: dict[str, Any] | None = None,
) -> StageStats:
    return stage_batch(
        engine,
        run_id,
        source,
        "customers",
        records,
        key="Id",
        mapping=MAPPING,
        ignore_fields=["crmhub_id"],
        state_after=state,
        now=NOW,
    )


def _rows(engine: sa.Engine, source: str) -> dict[str, Any]:
    with engine.connect() as conn:
        result = conn.execute(
            sa.text("SELECT * FROM source_record WHERE source = :s ORDER BY id"), {"s": source}
        )
        return {row.source_id: row for row in result}


def test_insert_update_unchanged_counts(engine: sa.Engine, run_id: int, source: str) -> None:
    assert _stage(engine, run_id, source, _records()) == StageStats(3, 0, 0, 0)
    changed = _records()
    changed[1]["Email"] = "bob@x.org"
    changed.append({"Id": 4, "First": "Di"})
    assert _stage(engine, run_id, source, changed) == StageStats(1, 1, 2, 0)
    rows = _rows(engine, source)
    assert rows["2"].email == "bob@x.org"
    assert rows["4"].last_name is None


def test_canonical_columns_are_text_as_in_raw(engine: sa.Engine, run_id: int, source: str) -> None:
    _stage(engine, run_id, source, _records())
    rows = _rows(engine, source)
    ann, bob, cy = rows["1"], rows["2"], rows["3"]
    assert (ann.first_name, ann.street, ann.balance) == ("Ann", "12 Main St", "10.50")
    assert ann.source_updated_at == "2026-01-02T03:04:00"
    assert '"Balance":"10.50"' in ann.raw
    assert (bob.email, bob.street, bob.balance, bob.last_name) == (None, "Elm", "3", "O'Neil")
    assert bob.source_updated_at == "2026-01-01"
    assert (cy.street, cy.balance) == ("1", None)
    assert len(ann.content_hash) == 32


def test_write_back_echo_is_not_a_change(engine: sa.Engine, run_id: int, source: str) -> None:
    _stage(engine, run_id, source, _records())
    echoed = _records()
    for record in echoed:
        record["crmhub_id"] = "G123"
    assert _stage(engine, run_id, source, echoed) == StageStats(0, 0, 3, 0)


def test_missing_key_is_quarantined_with_position(
    engine: sa.Engine, run_id: int, source: str
) -> None:
    records = [*_records(), {"Id": None, "First": "Nobody"}, {"First": "NoKey"}]
    stats = stage_batch(
        engine,
        run_id,
        source,
        "customers",
        records,
        key="Id",
        mapping=MAPPING,
        positions=["line 2", "line 3", "line 4", "line 5", "line 6"],
        state_after=None,
        now=NOW,
    )
    assert stats == StageStats(3, 0, 0, 2)
    quarantine_records(
        engine, run_id, source, "customers", [RejectedRecord("line 9", "bad encoding", "\\xff")]
    )
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT position, reason, raw FROM quarantine WHERE source = :s ORDER BY id"),
            {"s": source},
        ).all()
    assert [r.position for r in rows] == ["line 5", "line 6", "line 9"]
    assert "missing key" in rows[0].reason and "Nobody" in rows[0].raw
    assert rows[2].reason == "bad encoding"


def test_state_is_written_with_the_data(engine: sa.Engine, run_id: int, source: str) -> None:
    _stage(engine, run_id, source, _records(), state={"cursor": "2026-01-02"})
    assert load_state(engine, source, "customers") == {"cursor": "2026-01-02"}


def _install_failing_trigger(engine: sa.Engine, source_id: str) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER IF NOT EXISTS t_fail BEFORE INSERT ON source_record "
                f"WHEN NEW.source_id = '{source_id}' BEGIN SELECT RAISE(ABORT, 'boom'); END"
            )
            return
        conn.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION t_fail() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.source_id = '{source_id}' THEN RAISE EXCEPTION 'boom'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        conn.exec_driver_sql(
            "CREATE OR REPLACE TRIGGER t_fail BEFORE INSERT ON source_record "
            "FOR EACH ROW EXECUTE FUNCTION t_fail()"
        )


def test_state_does_not_move_when_the_transaction_fails(
    engine: sa.Engine, run_id: int, source: str
) -> None:
    _stage(engine, run_id, source, _records()[:1], state={"cursor": "first"})
    _install_failing_trigger(engine, "poison")
    batches = [
        Batch(_records()[1:2], {"cursor": "second"}),
        Batch([{"Id": "poison", "First": "X"}], {"cursor": "third"}),
        Batch(_records()[2:], {"cursor": "fourth"}),
    ]
    with pytest.raises(Exception, match="boom"):  # the driver error, raised by the writer
        stage_batches(engine, run_id, source, "customers", batches, key="Id", mapping=MAPPING)
    assert load_state(engine, source, "customers") == {"cursor": "second"}
    assert set(_rows(engine, source)) == {"1", "2"}


def test_pipelined_batches_count_like_single_batches(
    engine: sa.Engine, run_id: int, source: str
) -> None:
    records = [{"Id": i, "First": f"n{i}", "Email": f"e{i}@x"} for i in range(2_000)]
    batches = [Batch(records[i : i + 300], {"at": i + 300}) for i in range(0, 2_000, 300)]
    stats = stage_batches(
        engine,
        run_id,
        source,
        "customers",
        batches,
        key="Id",
        mapping={"first_name": "First", "email": "Email"},
    )
    assert stats == StageStats(2_000, 0, 0, 0)
    assert load_state(engine, source, "customers") == {"at": 2_100}
    stats = stage_batches(
        engine,
        run_id,
        source,
        "customers",
        [Batch(records, {"at": "again"})],
        key="Id",
        mapping={"first_name": "First", "email": "Email"},
    )
    assert stats == StageStats(0, 0, 2_000, 0)


def test_composite_key_and_mapping_change_restages(
    engine: sa.Engine, run_id: int, source: str
) -> None:
    records = [{"Co": "A", "No": 1, "Name": "x"}, {"Co": "B", "No": 1, "Name": "y"}]
    stats = stage_batch(
        engine,
        run_id,
        source,
        "s",
        records,
        key=["Co", "No"],
        mapping={"first_name": "Name"},
        state_after=None,
    )
    assert stats.inserted == 2
    assert set(_rows(engine, source)) == {"A|1", "B|1"}
    stats = stage_batch(
        engine,
        run_id,
        source,
        "s",
        records,
        key=["Co", "No"],
        mapping={"last_name": "Name"},
        state_after=None,
    )
    assert stats.updated == 2
    assert _rows(engine, source)["A|1"].last_name == "x"
    assert _rows(engine, source)["A|1"].first_name is None
