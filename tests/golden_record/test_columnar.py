"""Columnar staging: same payload and hash as the dict path, date quarantine, idempotent rejects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from crmhub.connectors.base import RecordFrame, RejectedRecord
from crmhub.golden_record.dates import find_invalid_dates
from crmhub.golden_record.staging import (
    StageStats,
    StagingPlan,
    content_hash,
    prepare_batch,
    quarantine_records,
    stage_batch,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MAPPING: dict[str, Any] = {
    "first_name": "first",
    "street": ["no", "street"],
    "birth_date": "born",
    "source_updated_at": "updated",
}
WEIRD = ['a"b', "back\\slash", "tab\tnew\nline", "\x01\x1f\x7f", "Zoë 😀", "\u2028", ""]


def _frame() -> pl.DataFrame:
    n = len(WEIRD)
    return pl.DataFrame(
        {
            "id": [str(i) for i in range(1, n + 1)],
            "first": WEIRD,
            "no": [None, "1", "2", None, "4", "5", "6"],
            "street": ["Main", None, "", "Elm", "X", "Y", "Z"],
            "born": [
                "1985-03-12",
                "19850312",
                "12/03/1985",
                "12.03.1985",
                "12 Mar 1985",
                "n/a",
                None,
            ],
            "updated": [
                "2024-01-01T00:00:00",
                "-",
                "NULL",
                None,
                "2024-01-01 10:00:00+01:00",
                "",
                "2023-12-31",
            ],
            "n": list(range(n)),
            "flag": [True, False, None, True, False, True, None],
            "crmhub_id": [None, "g1", None, None, None, None, None],
        }
    )


def _plan() -> StagingPlan:
    return StagingPlan.build("id", MAPPING, ["crmhub_id"])


def test_columnar_rows_equal_dict_rows_and_content_hash() -> None:
    frame = _frame()
    columnar = prepare_batch(RecordFrame(frame), _plan())
    by_dicts = prepare_batch(frame.to_dicts(), _plan())
    assert isinstance(columnar.rows, pl.DataFrame)
    assert columnar.rows.rows() == by_dicts.rows
    for record, row in zip(frame.to_dicts(), by_dicts.rows, strict=True):
        assert content_hash(record, _plan()) == row[2]


def test_record_frame_reads_as_records() -> None:
    frame = _frame()
    records = RecordFrame(frame, {"n": lambda v: v * 10})
    assert len(records) == frame.height
    assert records[1]["n"] == 10 and records[-1]["id"] == "7"
    assert [r["id"] for r in records[2:4]] == ["3", "4"]
    assert next(iter(records))["first"] == 'a"b'


@pytest.mark.parametrize("columnar", [True, False], ids=["frame", "dicts"])
def test_bad_dates_are_quarantined_and_the_rest_staged(
    engine: sa.Engine, run_id: int, source: str, columnar: bool
) -> None:
    frame = _frame().with_columns(
        pl.Series("born", ["1985-03-12", "soon", None, "2023-02-30", None, None, None])
    )
    records: Any = RecordFrame(frame) if columnar else frame.to_dicts()
    positions = [f"line {i + 2}" for i in range(frame.height)]
    stats = stage_batch(
        engine,
        run_id,
        source,
        "s",
        records,
        key="id",
        mapping=MAPPING,
        positions=positions,
        state_after=None,
        now=NOW,
    )
    assert stats == StageStats(inserted=frame.height - 2, quarantined=2)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT position, reason FROM quarantine WHERE source = :s ORDER BY position"),
            {"s": source},
        ).all()
    assert [r.position for r in rows] == ["line 3", "line 5"]
    assert rows[0].reason == "birth_date: not a recognisable date: 'soon'"
    assert "2023-02-30" in rows[1].reason


def test_quarantine_is_not_repeated_on_re_read(engine: sa.Engine, run_id: int, source: str) -> None:
    rejected = [
        RejectedRecord("line 9", "bad", "x"),
        RejectedRecord("line 9", "bad", "x"),
        RejectedRecord("line 10", "bad", "y"),
    ]
    quarantine_records(engine, run_id, source, "s", rejected, now=NOW)
    quarantine_records(engine, run_id, source, "s", rejected, now=NOW)
    records = [{"id": "1", "born": "never"}]
    for _ in range(2):
        stage_batch(
            engine,
            run_id,
            source,
            "s",
            records,
            key="id",
            mapping=MAPPING,
            state_after=None,
            now=NOW,
        )
    with engine.connect() as conn:
        count = conn.execute(
            sa.text("SELECT count(*) FROM quarantine WHERE source = :s"), {"s": source}
        ).scalar_one()
    assert count == 3


@pytest.mark.parametrize(
    ("value", "is_bad"),
    [
        ("1985-03-12", False),
        ("1985-03-12T10:00:00.5Z", False),
        ("19850312", False),
        ("03/31/1985", False),
        ("31/03/1985", False),
        ("12.03.1985", False),
        ("12 Mar 1985", False),
        (" N/A ", False),
        ("none", False),
        ("-", False),
        ("", False),
        ("2023-02-30", True),
        ("13/13/2020", True),
        ("soon", True),
        ("1985", True),
    ],
)
def test_date_recognition(value: str, is_bad: bool) -> None:
    assert find_invalid_dates(pl.Series([value])).to_list() == [is_bad]
