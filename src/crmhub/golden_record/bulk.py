"""Bulk SQL of staging: one code path per database, never row-by-row ORM inserts.

A batch of keys not staged yet (every batch of a first load) is written in one go, with the
unique index as the only check: `executemany` of plain INSERTs in key order on SQLite (the
index fills from left to right), COPY straight into `source_record` on PostgreSQL (a frame is
written as CSV by polars in native code). A batch that hits a known key is rolled back to a
savepoint and upserted instead. SQLite: one probe for the batch's existing hashes, then
INSERTs (new), UPDATEs (changed) and one set-based UPDATE (unchanged). PostgreSQL: COPY into
a temporary table, then one INSERT ... ON CONFLICT DO UPDATE. Quarantine rows are
inserted once: a record rejected again for the same reason at the same place is not repeated.
Both run on the caller's transaction; constants are rendered as quoted literals so every row
binds only its own values.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl
import sqlalchemy as sa
from psycopg.errors import UniqueViolation
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crmhub.canonical import CANONICAL_FIELDS
from crmhub.connectors.base import RejectedRecord, StreamState
from crmhub.golden_record.models import Quarantine, SyncState

if TYPE_CHECKING:
    from crmhub.golden_record.staging import StageTarget, StagingPlan

Row = tuple[Any, ...]
"""`(source_id, raw, content_hash, *canonical texts of plan.columns)`."""


def upsert_records(
    conn: sa.Connection,
    target: StageTarget,
    plan: StagingPlan,
    rows: Sequence[Row] | pl.DataFrame,
) -> tuple[int, int, int]:
    """Upsert prepared rows (tuples or a frame of the same columns); (inserted, updated, same)."""
    if len(rows) == 0:
        return 0, 0, 0
    if conn.dialect.name == "postgresql":
        return _upsert_postgresql(conn, target, plan, rows)
    if isinstance(rows, pl.DataFrame):
        rows = rows.sort("source_id")
    return _upsert_sqlite(conn, target, plan, rows)


_SLICE = 10_000
"""Rows turned into Python tuples at a time: a whole batch of them would be ~150 MB."""


def _tuples(rows: Sequence[Row] | pl.DataFrame) -> Iterator[Row]:
    """The rows as tuples, a frame converted one slice at a time while they are consumed."""
    if not isinstance(rows, pl.DataFrame):
        yield from rows
        return
    for start in range(0, rows.height, _SLICE):
        yield from rows.slice(start, _SLICE).rows()


def upsert_statement(conn: sa.Connection, table: Any) -> Any:
    """The dialect's INSERT that supports ON CONFLICT (SQLite and PostgreSQL share the API)."""
    return pg_insert(table) if conn.dialect.name == "postgresql" else sqlite_insert(table)


def save_state(conn: sa.Connection, target: StageTarget, state: StreamState | None) -> None:
    """Upsert the stream's state; called inside the transaction of the records it covers."""
    if state is None:
        return
    stmt = upsert_statement(conn, SyncState).values(
        source=target.source,
        stream=target.stream,
        state=state,
        run_id=target.run_id,
        updated_at=target.now,
    )
    excluded = stmt.excluded
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["source", "stream"],
            set_={
                "state": excluded.state,
                "run_id": excluded.run_id,
                "updated_at": excluded.updated_at,
            },
        )
    )


def insert_quarantine(
    conn: sa.Connection,
    run_id: int,
    source: str,
    stream: str,
    rejected: Sequence[RejectedRecord],
    now: datetime,
) -> int:
    """Insert rejected records with their position and reason, each (place, reason) once.

    Re-reading a file rejects the same lines again; they are already in quarantine, so they
    are not added twice. The raw text is not part of that identity: our own write-back may
    have added an (empty) golden id column to the same bad line. Returns how many rows were
    added.
    """
    fresh = _new_quarantine(conn, source, stream, rejected)
    if not fresh:
        return 0
    rows = [
        {
            "run_id": run_id,
            "source": source,
            "stream": stream,
            "position": position,
            "reason": reason,
            "raw": raw,
            "at": now,
        }
        for position, reason, raw in fresh
    ]
    conn.execute(sa.insert(Quarantine), rows)
    return len(rows)


def _new_quarantine(
    conn: sa.Connection, source: str, stream: str, rejected: Sequence[RejectedRecord]
) -> list[tuple[str | None, str, str | None]]:
    """The distinct rejected records not yet quarantined for this source stream."""
    wanted = list(
        {(r.position, r.reason): (r.position, r.reason, r.raw) for r in rejected}.values()
    )
    if not wanted:
        return []
    table = Quarantine.__table__
    stored = sa.select(table.c.position, table.c.reason).where(
        table.c.source == source, table.c.stream == stream
    )
    positions = sorted({p for p, _, _ in wanted if p is not None})
    found: set[tuple[Any, ...]] = set()
    for start in range(0, len(positions), 500):
        part = stored.where(table.c.position.in_(positions[start : start + 500]))
        found.update(tuple(row) for row in conn.execute(part))
    if any(p is None for p, _, _ in wanted):
        found.update(tuple(row) for row in conn.execute(stored.where(table.c.position.is_(None))))
    return [item for item in wanted if (item[0], item[1]) not in found]


def _literal(value: str, *, percent: bool = False) -> str:
    text = "'" + value.replace("'", "''") + "'"
    return text.replace("%", "%%") if percent else text


def _canonical_exprs(plan: StagingPlan, value: Any) -> dict[str, str]:
    """SQL per canonical column: the prepared text ('' as NULL), NULL when unmapped.

    `value(i)` renders the i-th prepared canonical value (0-based, in `plan.columns` order).
    """
    position = {name: i for i, name in enumerate(plan.columns)}
    return {
        name: f"NULLIF({value(position[name])}, '')" if name in position else "NULL"
        for name in CANONICAL_FIELDS
    }


# --- SQLite ---------------------------------------------------------------------------------


def _sqlite_ts(now: datetime) -> str:
    """The text SQLAlchemy stores for a DateTime on SQLite (UTC, no offset)."""
    return now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_sql(target: StageTarget, plan: StagingPlan) -> tuple[str, str, str, str]:
    exprs = _canonical_exprs(plan, lambda i: f"?{i + 4}")
    src, stm = _literal(target.source), _literal(target.stream)
    run, ts = str(int(target.run_id)), _literal(_sqlite_ts(target.now))
    where_key = f"source = {src} AND stream = {stm}"
    insert = (
        "INSERT INTO source_record (source, stream, source_id, raw, content_hash, "
        + ", ".join(exprs)
        + ", first_seen_run, last_seen_run, changed_run, first_seen_at, last_seen_at, deleted) "
        + f"VALUES ({src}, {stm}, ?1, ?2, ?3, "
        + ", ".join(exprs.values())
        + f", {run}, {run}, {run}, {ts}, {ts}, 0)"
    )
    update = (
        "UPDATE source_record SET raw = ?2, content_hash = ?3, "
        + "".join(f"{name} = {expr}, " for name, expr in exprs.items())
        + f"last_seen_run = {run}, changed_run = {run}, last_seen_at = {ts}, deleted = 0 "
        + f"WHERE {where_key} AND source_id = ?1"
    )
    touch = (
        f"UPDATE source_record SET last_seen_run = {run}, last_seen_at = {ts} "
        f"WHERE {where_key} AND source_id IN (SELECT value FROM json_each(?))"
    )
    probe = (
        "SELECT source_id, content_hash, deleted FROM source_record "
        f"WHERE {where_key} AND source_id IN (SELECT value FROM json_each(?))"
    )
    return insert, update, touch, probe


def _upsert_sqlite(
    conn: sa.Connection, target: StageTarget, plan: StagingPlan, rows: Sequence[Row] | pl.DataFrame
) -> tuple[int, int, int]:
    insert, update, touch, probe = _sqlite_sql(target, plan)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if _insert_all_new(cursor, insert, _tuples(rows)):
            return len(rows), 0, 0
        rows = list(_tuples(rows))
        ids = orjson.dumps([row[0] for row in rows]).decode()
        existing = {
            sid: (digest, deleted) for sid, digest, deleted in cursor.execute(probe, (ids,))
        }
        new, changed, same = _classify(rows, existing)
        cursor.executemany(insert, new)
        cursor.executemany(update, changed)
        if same:
            cursor.execute(touch, (orjson.dumps(same).decode(),))
        return len(new), len(changed), len(same)
    finally:
        cursor.close()


def _insert_all_new(cursor: Any, insert: str, rows: Iterable[Row]) -> bool:
    """Insert the batch when none of its keys is staged yet; False (nothing kept) otherwise.

    The unique index is the probe, so a first load looks up no key twice; a batch of known
    keys fails on its first row (keys are sorted) and is rolled back to the savepoint.
    """
    cursor.execute("SAVEPOINT crmhub_insert")
    try:
        cursor.executemany(insert, rows)
    except sqlite3.IntegrityError:
        cursor.execute("ROLLBACK TO SAVEPOINT crmhub_insert")
        cursor.execute("RELEASE SAVEPOINT crmhub_insert")
        return False
    cursor.execute("RELEASE SAVEPOINT crmhub_insert")
    return True


def _classify(
    rows: Sequence[Row], existing: dict[str, tuple[str, Any]]
) -> tuple[list[Row], list[Row], list[str]]:
    new: list[Row] = []
    changed: list[Row] = []
    same: list[str] = []
    for row in rows:
        old = existing.get(row[0])
        if old is None:
            new.append(row)
        elif old[0] != row[2] or old[1]:
            changed.append(row)
        else:
            same.append(row[0])
    return new, changed, same


# --- PostgreSQL -----------------------------------------------------------------------------

_PG_STAGE = "crmhub_stage"


def _pg_stage_columns(plan: StagingPlan) -> list[str]:
    return ["source_id", "raw", "content_hash"] + [f"c{i}" for i in range(len(plan.columns))]


def _pg_sql(plan: StagingPlan) -> str:
    """One INSERT ... ON CONFLICT: the arbiter index probes each row, so no join is planned.

    Unchanged rows (same hash, not deleted) keep their values and only get the last-seen marks.
    The counts come from `_PG_COUNT` beforehand, whose scalar subquery is a per-row probe too.
    """
    exprs = _canonical_exprs(plan, lambda i: f"s.c{i}")
    same = "r.content_hash = EXCLUDED.content_hash AND NOT r.deleted"

    def keep(column: str) -> str:
        return f"{column} = CASE WHEN {same} THEN r.{column} ELSE EXCLUDED.{column} END, "

    sql = (
        "INSERT INTO source_record AS r (source, stream, source_id, raw, "
        f"content_hash, {', '.join(exprs)}, first_seen_run, last_seen_run, changed_run, "
        "first_seen_at, last_seen_at, deleted) SELECT %(source)s, %(stream)s, s.source_id, "
        "s.raw, s.content_hash, "
        + ", ".join(exprs.values())
        + f", %(run)s, %(run)s, %(run)s, %(now)s, %(now)s, false FROM {_PG_STAGE} s "
        "ON CONFLICT (source, stream, source_id) DO UPDATE SET "
        + keep("raw")
        + "".join(keep(name) for name in exprs)
        + keep("changed_run")
        + "content_hash = EXCLUDED.content_hash, last_seen_run = EXCLUDED.last_seen_run, "
        "last_seen_at = EXCLUDED.last_seen_at, deleted = false"
    )
    return _pg_typed(sql)


def _pg_typed(sql: str) -> str:
    """Give each parameter one type; PostgreSQL cannot deduce one when uses disagree."""
    for name, kind in (("source", "varchar"), ("stream", "varchar"), ("run", "integer")):
        sql = sql.replace(f"%({name})s", f"%({name})s::{kind}")
    return sql.replace("%(now)s", "%(now)s::timestamptz")


_PG_COUNT = _pg_typed(
    "SELECT count(*) FILTER (WHERE old IS NULL), count(*) FILTER (WHERE old <> content_hash), "
    "count(*) FILTER (WHERE old = content_hash) FROM (SELECT s.content_hash, (SELECT CASE "
    "WHEN r.deleted THEN '' ELSE r.content_hash END FROM source_record r WHERE r.source = "
    "%(source)s AND r.stream = %(stream)s AND r.source_id = s.source_id) AS old "
    f"FROM {_PG_STAGE} s OFFSET 0) counted"
)


def _upsert_postgresql(
    conn: sa.Connection,
    target: StageTarget,
    plan: StagingPlan,
    rows: Sequence[Row] | pl.DataFrame,
) -> tuple[int, int, int]:
    upsert = _pg_sql(plan)
    params = {
        "source": target.source,
        "stream": target.stream,
        "run": target.run_id,
        "now": target.now,
    }
    dbapi = conn.connection.driver_connection
    with dbapi.cursor() as cursor:  # type: ignore[union-attr]
        columns = _pg_stage_columns(plan)
        # Per-batch statements are cheap but look costly to the planner; JIT would compile
        # them anew for every batch (a quarter of a second each).
        cursor.execute("SET LOCAL jit = off")
        if _copy_new_rows(cursor, target, plan, rows):
            return len(rows), 0, 0
        cursor.execute(f"DROP TABLE IF EXISTS {_PG_STAGE}")
        cursor.execute(
            f"CREATE TEMP TABLE {_PG_STAGE} ({', '.join(c + ' varchar' for c in columns)}) "
            "ON COMMIT DROP"
        )
        _copy_rows(cursor, f"{_PG_STAGE} ({', '.join(columns)})", rows)
        cursor.execute(_PG_COUNT, params)
        inserted, updated, unchanged = cursor.fetchone()
        cursor.execute(upsert, params)
    return int(inserted), int(updated), int(unchanged)


def _copy_new_rows(
    cursor: Any, target: StageTarget, plan: StagingPlan, rows: Sequence[Row] | pl.DataFrame
) -> bool:
    """COPY the batch straight into `source_record` when none of its keys is staged yet.

    The unique index is the probe: a batch with a known key fails on it, is rolled back to
    the savepoint and returns False (then the upsert path runs). A first load pays nothing
    for the check, where a lookup of every key costs a sixth of the COPY.
    """
    canonical = list(plan.columns)
    into = (
        "source_record (source, stream, source_id, raw, content_hash, "
        + "".join(f"{name}, " for name in canonical)
        + "first_seen_run, last_seen_run, changed_run, first_seen_at, last_seen_at, deleted)"
    )
    run, now = int(target.run_id), target.now.isoformat()
    marks = (run, run, run, now, now, False)
    frame: pl.DataFrame | list[Row]
    if isinstance(rows, pl.DataFrame):
        texts = [f"c{i}" for i in range(len(canonical))]
        frame = rows.with_columns(
            *[pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in texts],
        ).select(
            pl.lit(target.source).alias("source"),
            pl.lit(target.stream).alias("stream"),
            "source_id",
            "raw",
            "content_hash",
            *texts,
            *[pl.lit(value).alias(f"m{i}") for i, value in enumerate(marks)],
        )
    else:
        prefix = (target.source, target.stream)
        frame = [(*prefix, *r[:3], *(v if v != "" else None for v in r[3:]), *marks) for r in rows]
    cursor.execute("SAVEPOINT crmhub_copy")
    try:
        _copy_rows(cursor, into, frame)
    except UniqueViolation:
        cursor.execute("ROLLBACK TO SAVEPOINT crmhub_copy")
        return False
    cursor.execute("RELEASE SAVEPOINT crmhub_copy")
    return True


def _copy_rows(cursor: Any, into: str, rows: Sequence[Row] | pl.DataFrame) -> None:
    """COPY rows into `into`: a frame as one CSV buffer written by polars, tuples one by one."""
    if isinstance(rows, pl.DataFrame):
        buffer = io.BytesIO()
        rows.write_csv(buffer, include_header=False, null_value="")
        with cursor.copy(f"COPY {into} FROM STDIN (FORMAT csv)") as copy:
            copy.write(buffer.getbuffer())
        return
    with cursor.copy(f"COPY {into} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
