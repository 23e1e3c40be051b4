"""The database's own cost of storing staged rows: the floor under `bench/ingest.py`.

Times only the bulk write of N rows shaped like `source_record` (source, stream, source_id,
short raw JSON, content hash, 11 canonical text columns), with the rows already in memory:
sqlite3 `executemany` in one transaction (WAL, synchronous=NORMAL) and PostgreSQL `COPY`, each
without and with the unique (source, stream, source_id) index that staging needs for upserts.
Whatever staging does on top (reading, keying, hashing) can only add to these seconds.

Usage: .venv/bin/python bench/db_write_floor.py [--rows 1000000]
       [--pg postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import psycopg

CANONICAL = [f"c{i}" for i in range(11)]
COLUMNS = ["source", "stream", "source_id", "raw", "content_hash", *CANONICAL]


def staged_rows(n: int) -> pl.DataFrame:
    """N rows of the staged shape, with realistic widths."""
    ids = pl.int_range(0, n, eager=True)
    return pl.DataFrame(
        {
            "source": ["accounting"] * n,
            "stream": ["customers"] * n,
            "source_id": ids.cast(pl.String),
            "raw": ['{"balance":"56487.73","id":"1","updated_at":"2025-02-27T17:00:58"}'] * n,
            "content_hash": ids.map_elements(lambda i: f"{i:032x}", return_dtype=pl.String),
            **{name: [f"value of {name} 1234"] * n for name in CANONICAL},
        }
    )


def sqlite_seconds(rows: Sequence[tuple[str, ...]], *, indexed: bool) -> float:
    """Seconds to executemany `rows` into a fresh WAL database and commit."""
    import sqlite3

    path = Path(tempfile.mkdtemp(prefix="crmhub-floor-")) / "floor.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        f"CREATE TABLE r (id INTEGER PRIMARY KEY, {', '.join(c + ' TEXT' for c in COLUMNS)})"
    )
    if indexed:
        conn.execute("CREATE UNIQUE INDEX u ON r (source, stream, source_id)")
    conn.commit()
    marks = ", ".join("?" * len(COLUMNS))
    started = time.perf_counter()
    conn.executemany(f"INSERT INTO r ({', '.join(COLUMNS)}) VALUES ({marks})", rows)
    conn.commit()
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def postgres_seconds(frame: pl.DataFrame, url: str, *, indexed: bool) -> float:
    """Seconds to COPY `frame` (as CSV written by polars) into a fresh table and commit."""
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False)
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS crmhub_write_floor")
        cursor.execute(
            "CREATE TABLE crmhub_write_floor (id bigserial PRIMARY KEY, "
            + ", ".join(c + " text" for c in COLUMNS)
            + ")"
        )
        if indexed:
            cursor.execute("CREATE UNIQUE INDEX ON crmhub_write_floor (source, stream, source_id)")
        conn.commit()
        started = time.perf_counter()
        with cursor.copy(
            f"COPY crmhub_write_floor ({', '.join(COLUMNS)}) FROM STDIN (FORMAT csv)"
        ) as copy:
            copy.write(buffer.getbuffer())
        conn.commit()
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE crmhub_write_floor")
        conn.commit()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    frame = staged_rows(args.rows)
    tuples = frame.rows()
    print(f"{'write':<40} {'seconds':>8} {'max records/s':>14}")
    for label, seconds in (
        ("SQLite executemany, no index", sqlite_seconds(tuples, indexed=False)),
        ("SQLite executemany, unique index", sqlite_seconds(tuples, indexed=True)),
        ("PostgreSQL COPY, no index", postgres_seconds(frame, args.pg, indexed=False)),
        ("PostgreSQL COPY, unique index", postgres_seconds(frame, args.pg, indexed=True)),
    ):
        print(f"{label:<40} {seconds:8.2f} {args.rows / seconds:14,.0f}")


if __name__ == "__main__":
    main()
