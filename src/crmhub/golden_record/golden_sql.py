"""Bulk reads and writes of `build_golden`: one join to load members, executemany to write.

Members are loaded through a temporary table of (record_id, cluster) filled with COPY on
PostgreSQL and executemany on SQLite, so a build of 100k+ records is one join, not 100k
look-ups. Writes go through SQLAlchemy Core executemany (insertmanyvalues batches).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
import pandas as pd
import sqlalchemy as sa

from crmhub.canonical import CANONICAL_FIELDS
from crmhub.golden_record.bulk import upsert_statement
from crmhub.golden_record.models import (
    CustomerXref,
    GoldenCustomer,
    GoldenEvent,
    MatchEvidence,
    Run,
    SourceRecord,
)

_MEMBERS = "crmhub_members"
_CHUNK = 5_000
EVIDENCE_DECISIONS = ("match", "review")

_golden = GoldenCustomer.__table__
_record = SourceRecord.__table__


def load_members(conn: sa.Connection, clusters: pd.DataFrame) -> pd.DataFrame:
    """Every clustered record with its key, current golden id, xref golden id and values."""
    pairs = list(
        zip(
            clusters["record_id"].astype("int64").tolist(),
            clusters["cluster"].tolist(),
            strict=True,
        )
    )
    _fill_members(conn, pairs)
    canon = ", ".join(f"r.{name}" for name in CANONICAL_FIELDS)
    rows = conn.exec_driver_sql(
        "SELECT m.cluster, r.id, r.source, r.stream, r.source_id, r.golden_id, "
        f"x.golden_id, r.changed_run, {canon} FROM {_MEMBERS} m "
        "JOIN source_record r ON r.id = m.record_id "
        "LEFT JOIN customer_xref x ON x.record_id = r.id"
    ).all()
    columns = [
        "cluster",
        "record_id",
        "source",
        "stream",
        "source_id",
        "golden_id",
        "xref_golden",
        "changed_run",
        *CANONICAL_FIELDS,
    ]
    members = pd.DataFrame.from_records(rows, columns=columns)
    members["member_key"] = members["source"] + "/" + members["stream"] + "/" + members["source_id"]
    return members.astype({"record_id": "int64"})


def _fill_members(conn: sa.Connection, pairs: list[tuple[int, Any]]) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_MEMBERS}")
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE {_MEMBERS} (record_id bigint PRIMARY KEY, cluster bigint) "
            "ON COMMIT DROP"
        )
        dbapi = conn.connection.driver_connection
        with (
            dbapi.cursor() as cursor,
            cursor.copy(  # type: ignore[union-attr]
                f"COPY {_MEMBERS} (record_id, cluster) FROM STDIN"
            ) as copy,
        ):
            for pair in pairs:
                copy.write_row(pair)
        conn.exec_driver_sql(f"ANALYZE {_MEMBERS}")
        return
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {_MEMBERS} (record_id INTEGER PRIMARY KEY, cluster)"
    )
    conn.exec_driver_sql(f"DELETE FROM {_MEMBERS}")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cursor.executemany(f"INSERT INTO {_MEMBERS} VALUES (?, ?)", pairs)
    cursor.close()


def load_golden(conn: sa.Connection, golden_ids: Iterable[str]) -> pd.DataFrame:
    """Golden rows for `golden_ids` and, transitively, the ids they were merged into."""
    wanted = set(golden_ids)
    frames: list[pd.DataFrame] = []
    seen: set[str] = set()
    while wanted - seen:
        batch = sorted(wanted - seen)
        seen |= set(batch)
        for start in range(0, len(batch), _CHUNK):
            chunk = batch[start : start + _CHUNK]
            rows = conn.execute(sa.select(_golden).where(_golden.c.golden_id.in_(chunk))).all()
            frame = pd.DataFrame.from_records(rows, columns=list(_golden.c.keys()))
            frames.append(frame)
            wanted |= set(frame["merged_into"].dropna())
    if not frames:
        return pd.DataFrame(columns=list(_golden.c.keys()))
    return pd.concat(frames, ignore_index=True)


def existing_ids(conn: sa.Connection, golden_ids: Sequence[str]) -> set[str]:
    """Which of `golden_ids` are taken by a golden record (active or retired)."""
    found: set[str] = set()
    for start in range(0, len(golden_ids), _CHUNK):
        chunk = list(golden_ids[start : start + _CHUNK])
        query = sa.select(_golden.c.golden_id).where(_golden.c.golden_id.in_(chunk))
        found.update(conn.execute(query).scalars())
    return found


def last_built_run(conn: sa.Connection, before: int) -> int | None:
    """The newest finished run before `before` whose summary shows it built golden records:
    every record changed up to it has its lookup keys. None when there is no such run."""
    rows = conn.execute(
        sa.select(Run.run_id, Run.summary)
        .where(Run.run_id < before, Run.finished_at.is_not(None))
        .order_by(Run.run_id.desc())
        .limit(50)
    ).all()
    for run_id, summary in rows:
        if isinstance(summary, str):
            summary = orjson.loads(summary)
        if isinstance(summary, dict) and summary.get("golden"):
            return int(run_id)
    return None


def insert_golden(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert new golden records."""
    if rows:
        conn.execute(sa.insert(_golden), rows)


def update_golden(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Update golden records by `b_id` with the other keys of each row."""
    if rows:
        conn.execute(sa.update(_golden).where(_golden.c.golden_id == sa.bindparam("b_id")), rows)


def retire_golden(conn: sa.Connection, retired: Mapping[str, str], now: datetime) -> None:
    """Mark merged ids retired, and repoint ids merged into them earlier at the survivor."""
    if not retired:
        return
    rows = [{"b_id": old, "b_into": new} for old, new in retired.items()]
    conn.execute(
        sa.update(_golden)
        .where(_golden.c.golden_id == sa.bindparam("b_id"))
        .values(status="retired", merged_into=sa.bindparam("b_into"), updated_at=now),
        rows,
    )
    conn.execute(
        sa.update(_golden)
        .where(_golden.c.merged_into == sa.bindparam("b_id"))
        .values(merged_into=sa.bindparam("b_into")),
        rows,
    )


def insert_events(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Append golden events."""
    if rows:
        conn.execute(sa.insert(GoldenEvent.__table__), rows)


def link_members(
    conn: sa.Connection, members: pd.DataFrame, golden_of: Mapping[Any, str], now: datetime
) -> None:
    """Point source_record.golden_id and customer_xref at each member's golden id (changes only)."""
    target = members["cluster"].map(golden_of)
    record_moved = members["golden_id"].ne(target) | members["golden_id"].isna()
    xref_moved = members["xref_golden"].ne(target) | members["xref_golden"].isna()
    moved = members.assign(target=target)
    if record_moved.any():
        rows = [
            {"b_id": int(r), "golden_id": g}
            for r, g in zip(
                moved.loc[record_moved, "record_id"], moved.loc[record_moved, "target"], strict=True
            )
        ]
        conn.execute(sa.update(_record).where(_record.c.id == sa.bindparam("b_id")), rows)
    if xref_moved.any():
        _upsert_xref(conn, moved.loc[xref_moved], now)


def _upsert_xref(conn: sa.Connection, moved: pd.DataFrame, now: datetime) -> None:
    rows = [
        {
            "source": s,
            "stream": t,
            "source_id": i,
            "golden_id": g,
            "record_id": int(r),
            "updated_at": now,
        }
        for s, t, i, g, r in zip(
            moved["source"],
            moved["stream"],
            moved["source_id"],
            moved["target"],
            moved["record_id"],
            strict=True,
        )
    ]
    stmt = upsert_statement(conn, CustomerXref.__table__)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["source", "stream", "source_id"],
            set_={
                "golden_id": stmt.excluded.golden_id,
                "record_id": stmt.excluded.record_id,
                "updated_at": stmt.excluded.updated_at,
            },
        ),
        rows,
    )


def insert_evidence(conn: sa.Connection, run_id: int, pairs: pd.DataFrame) -> None:
    """Store the run's match and review pairs with their per-comparison evidence."""
    if pairs is None or pairs.empty:
        return
    kept = pairs[pairs["decision"].isin(EVIDENCE_DECISIONS)]
    rows = [
        {
            "run_id": run_id,
            "left_id": int(left),
            "right_id": int(right),
            "weight": float(w),
            "probability": float(p),
            "decision": d,
            "rule": rule,
            "evidence": _json(ev),
        }
        for left, right, w, p, d, rule, ev in zip(
            kept["left_id"],
            kept["right_id"],
            kept["weight"],
            kept["probability"],
            kept["decision"],
            kept["rule"],
            kept["evidence"],
            strict=True,
        )
    ]
    if rows:
        conn.execute(sa.insert(MatchEvidence.__table__), rows)


def _json(value: Any) -> Any:
    """Matching hands evidence over as a JSON string; store it as a JSON document."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value
