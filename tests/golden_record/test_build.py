"""build_golden: stable ids across runs, merges keep the oldest id, survivorship, xref."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pandas as pd
import sqlalchemy as sa

from crmhub.golden_record.build import GoldenStats, build_golden
from crmhub.golden_record.ids import mint_golden_id
from crmhub.golden_record.staging import stage_batch
from crmhub.golden_record.store import start_run

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MAPPING = {
    "first_name": "first",
    "last_name": "last",
    "email": "email",
    "phone": "phone",
    "source_updated_at": "updated",
}


def _stage(engine: sa.Engine, run_id: int, source: str, records: list[dict[str, Any]]) -> None:
    stage_batch(
        engine,
        run_id,
        source,
        "customers",
        records,
        key="id",
        mapping=MAPPING,
        state_after=None,
        now=NOW,
    )


def _ids(engine: sa.Engine, source: str) -> dict[str, int]:
    """source_id -> record id."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT source_id, id FROM source_record WHERE source = :s"), {"s": source}
        )
        return {sid: rid for sid, rid in rows}


def _clusters(groups: list[list[int]]) -> pd.DataFrame:
    rows = [(rid, n) for n, group in enumerate(groups) for rid in group]
    return pd.DataFrame(rows, columns=["record_id", "cluster"])


def _pairs(left: int, right: int, decision: str = "match") -> pd.DataFrame:
    evidence = orjson.dumps([{"comparison": "email", "level": "exact", "weight": 9.1}]).decode()
    return pd.DataFrame(
        [
            {
                "left_id": left,
                "right_id": right,
                "weight": 9.1,
                "probability": 0.99,
                "decision": decision,
                "rule": "email",
                "evidence": evidence,
            }
        ]
    )


def _count(engine: sa.Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


def _golden(engine: sa.Engine, golden_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT * FROM golden_customer WHERE golden_id = :g"), {"g": golden_id}
        ).one()


def _seed(engine: sa.Engine, run_id: int, a: str, b: str) -> dict[str, int]:
    _stage(
        engine,
        run_id,
        a,
        [
            {
                "id": 1,
                "first": "Ann",
                "last": "Lee",
                "email": "ann@old.org",
                "updated": "2024-01-01",
            },
            {"id": 2, "first": "Bo", "last": "Ek", "email": None, "updated": "2024-01-01"},
        ],
    )
    _stage(
        engine,
        run_id,
        b,
        [
            {
                "id": "x1",
                "first": "Anne",
                "last": "",
                "email": "ann@new.org",
                "phone": "+4930",
                "updated": "2025-06-01",
            },
        ],
    )
    ids = _ids(engine, a)
    return {"a1": ids["1"], "a2": ids["2"], "b1": _ids(engine, b)["x1"]}


def test_second_build_is_a_no_op(engine: sa.Engine, run_id: int, source: str) -> None:
    a, b = source + "_a", source + "_b"
    r = _seed(engine, run_id, a, b)
    clusters = _clusters([[r["a1"], r["b1"]], [r["a2"]]])
    pairs = _pairs(r["a1"], r["b1"])
    first = build_golden(engine, run_id, clusters, pairs, trust={a: 2, b: 1}, now=NOW)
    assert first == GoldenStats(created=2, updated=0, merged=0, unchanged=0, records=3)
    golden_of = _golden_ids(engine, [a, b])
    events = _count(engine, "SELECT count(*) FROM golden_event")
    run2 = start_run(engine, now=NOW)
    second = build_golden(
        engine, run2, clusters, pairs, trust={a: 2, b: 1}, now=NOW + timedelta(days=1)
    )
    assert second == GoldenStats(created=0, updated=0, merged=0, unchanged=2, records=3)
    assert _golden_ids(engine, [a, b]) == golden_of
    assert _count(engine, "SELECT count(*) FROM golden_event") == events
    gid = golden_of[(a, "1")]
    assert gid == mint_golden_id([f"{a}/customers/1", f"{b}/customers/x1"])
    assert _golden(engine, gid).version == 1
    assert _count(engine, "SELECT count(*) FROM match_evidence WHERE run_id = :r", r=run2) == 1


def _golden_ids(engine: sa.Engine, sources: list[str]) -> dict[tuple[str, str], str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(sa.column("source"), sa.column("source_id"), sa.column("golden_id"))
            .select_from(sa.table("customer_sources"))
            .where(sa.column("source").in_(sources))
        ).all()
    return {(s, i): g for s, i, g in rows}


def test_survivorship_trust_then_recency(engine: sa.Engine, run_id: int, source: str) -> None:
    a, b = source + "_a", source + "_b"
    r = _seed(engine, run_id, a, b)
    build_golden(
        engine,
        run_id,
        _clusters([[r["a1"], r["b1"]], [r["a2"]]]),
        _pairs(0, 0, "x"),
        trust={a: 2, b: 1},
        now=NOW,
    )
    golden = _golden(engine, _golden_ids(engine, [a])[(a, "1")])
    assert (golden.first_name, golden.last_name, golden.email) == ("Ann", "Lee", "ann@old.org")
    assert golden.phone == "+4930"  # only b has one: empty values never win
    provenance = (
        golden.provenance
        if isinstance(golden.provenance, dict)
        else orjson.loads(golden.provenance)
    )
    assert provenance["email"] == {"source": a, "record_id": r["a1"], "rule": "source_trust"}
    assert provenance["phone"]["rule"] == "only_value"
    run2 = start_run(engine, now=NOW)
    stats = build_golden(
        engine,
        run2,
        _clusters([[r["a1"], r["b1"]], [r["a2"]]]),
        _pairs(0, 0, "x"),
        trust={a: 1, b: 1},
        now=NOW,
    )
    assert stats.updated == 1
    golden = _golden(engine, golden.golden_id)
    assert (golden.first_name, golden.email, golden.version) == ("Anne", "ann@new.org", 2)
    provenance = (
        golden.provenance
        if isinstance(golden.provenance, dict)
        else orjson.loads(golden.provenance)
    )
    assert provenance["email"]["rule"] == "most_recent"
    assert provenance["last_name"] == {"source": a, "record_id": r["a1"], "rule": "only_value"}
    assert (
        _count(
            engine,
            "SELECT count(*) FROM golden_event WHERE golden_id = :g AND event_type = 'updated'",
            g=golden.golden_id,
        )
        == 1
    )
    with engine.connect() as conn:  # the history says what changed, from where and why
        details = conn.scalar(
            sa.text(
                "SELECT details FROM golden_event WHERE golden_id = :g AND event_type = 'updated'"
            ),
            {"g": golden.golden_id},
        )
    details = details if isinstance(details, dict) else orjson.loads(details)
    assert details["changes"]["email"] == {
        "old": "ann@old.org",
        "new": "ann@new.org",
        "source": b,
        "record_id": r["b1"],
        "rule": "most_recent",
    }


def _build_a_then_b(engine: sa.Engine, run_id: int, r: dict[str, int]) -> None:
    """Golden records for a1 and a2 first, then an hour later one for b1 too (all apart)."""
    build_golden(
        engine, run_id, _clusters([[r["a1"]], [r["a2"]]]), _pairs(0, 0, "x"), trust={}, now=NOW
    )
    build_golden(
        engine,
        run_id,
        _clusters([[r["a1"]], [r["a2"]], [r["b1"]]]),
        _pairs(0, 0, "x"),
        trust={},
        now=NOW + timedelta(hours=1),
    )


def test_merge_keeps_the_older_id(engine: sa.Engine, run_id: int, source: str) -> None:
    a, b = source + "_a", source + "_b"
    r = _seed(engine, run_id, a, b)
    _build_a_then_b(engine, run_id, r)
    older = _golden_ids(engine, [a])[(a, "1")]
    newer = _golden_ids(engine, [b])[(b, "x1")]
    run2 = start_run(engine, now=NOW)
    stats = build_golden(
        engine,
        run2,
        _clusters([[r["b1"], r["a1"]], [r["a2"]]]),
        _pairs(r["a1"], r["b1"]),
        trust={},
        now=NOW + timedelta(hours=2),
    )
    assert (stats.merged, stats.created) == (1, 0)
    links = _golden_ids(engine, [a, b])
    assert links[(a, "1")] == links[(b, "x1")] == older
    retired = _golden(engine, newer)
    assert (retired.status, retired.merged_into) == ("retired", older)
    with engine.connect() as conn:
        event = conn.execute(
            sa.text(
                "SELECT golden_id, other_golden_id FROM golden_event WHERE run_id = :r AND "
                "event_type = 'merged'"
            ),
            {"r": run2},
        ).one()
        assert tuple(event) == (older, newer)
        active = (
            conn.execute(
                sa.text("SELECT golden_id FROM golden_customers WHERE golden_id IN (:o, :n)"),
                {"o": older, "n": newer},
            )
            .scalars()
            .all()
        )
        assert active == [older]
        record_golden = conn.execute(
            sa.text("SELECT golden_id FROM source_record WHERE id = :i"), {"i": r["b1"]}
        ).scalar_one()
        assert record_golden == older


def test_retired_ids_are_never_reused(engine: sa.Engine, run_id: int, source: str) -> None:
    a, b = source + "_a", source + "_b"
    r = _seed(engine, run_id, a, b)
    _build_a_then_b(engine, run_id, r)
    first_b = _golden_ids(engine, [b])[(b, "x1")]
    build_golden(
        engine,
        run_id,
        _clusters([[r["a1"], r["b1"]], [r["a2"]]]),
        _pairs(0, 0, "x"),
        trust={},
        now=NOW + timedelta(hours=2),
    )
    assert _golden(engine, first_b).status == "retired"
    stats = build_golden(
        engine,
        run_id,
        _clusters([[r["a1"]], [r["b1"]], [r["a2"]]]),
        _pairs(0, 0, "x"),
        trust={},
        now=NOW + timedelta(hours=3),
    )
    assert stats.created == 1
    new_b = _golden_ids(engine, [b])[(b, "x1")]
    assert new_b not in (first_b, _golden_ids(engine, [a])[(a, "1")])
    assert new_b == mint_golden_id([f"{b}/customers/x1"], salt=1)
