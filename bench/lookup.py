"""Customer lookup latency on a PostgreSQL golden-record DB of a million customers.

Builds the DB in a schema of its own (dropped at the end, also on failure): golden customers,
one crm source record each and a webshop record for a third of them, written with COPY; then
`refresh_lookup_keys` computes every lookup key the way a build does (timed). Then it times
`crmhub.golden_record.lookup` for distinct customers by phone, e-mail and name, each typed
differently from what is stored, and prints p50/p99 per kind, both for the whole call and for
its database part alone (the two indexed SELECTs with keys already normalised). Last, the wall
time of one `crmhub lookup` command, start-up included.

Usage: .venv/bin/python bench/lookup.py [--customers 1000000] [--lookups 2000]
       [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa
from faker.providers.person.en_US import Provider as UsNames

from crmhub.golden_record.customer_lookup import (
    _find,
    _sources,
    lookup,
    query_keys,
    refresh_lookup_keys,
)
from crmhub.golden_record.db import open_database

NOW = "2026-05-01T12:00:00+00:00"
AREA_CODES = ("212", "646", "718", "917", "347", "415", "312", "617", "202", "305")


@contextmanager
def bench_schema(admin_url: str) -> Iterator[str]:
    """A fresh schema; yields a URL whose search_path is that schema, drops it afterwards."""
    admin = sa.create_engine(admin_url)
    schema = f"bench_lookup_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in admin_url else "?"
    try:
        yield f"{admin_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def customers(n: int, seed: int = 1) -> pl.DataFrame:
    """N people with unique phones and e-mails; names drawn from US name tables."""
    rng = np.random.default_rng(seed)
    firsts = np.array(sorted(set(UsNames.first_names)), dtype=object)
    lasts = np.array(sorted(set(UsNames.last_names)), dtype=object)
    first = firsts[rng.integers(0, len(firsts), n)]
    last = lasts[rng.integers(0, len(lasts), n)]
    i = np.arange(n)
    exchanges = np.array([e for e in range(220, 1000) if e % 100 != 11])
    area = np.array(AREA_CODES)[(i // (10_000 * len(exchanges))) % len(AREA_CODES)]
    exchange = exchanges[(i // 10_000) % len(exchanges)].astype(str)
    line = np.char.zfill((i % 10_000).astype(str), 4)
    return pl.DataFrame(
        {
            "golden_id": [f"G{k:011d}" for k in range(n)],
            "first_name": first.astype(str),
            "last_name": last.astype(str),
            "area": area,
            "exchange": exchange,
            "line": line,
            "serial": i,
        }
    ).with_columns(
        email=pl.concat_str(
            pl.col("first_name").str.to_lowercase(),
            pl.lit("."),
            pl.col("last_name").str.to_lowercase(),
            pl.lit("."),
            pl.col("serial").cast(pl.String),
            pl.lit("@example.com"),
        ),
        phone=pl.concat_str(pl.lit("+1 "), "area", pl.lit(" "), "exchange", pl.lit(" "), "line"),
    )


def copy(conn: sa.Connection, into: str, frame: pl.DataFrame) -> None:
    """COPY a frame as CSV (empty text = NULL)."""
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, null_value="")
    dbapi = conn.connection.driver_connection
    with (
        dbapi.cursor() as cursor,  # type: ignore[union-attr]
        cursor.copy(f"COPY {into} FROM STDIN (FORMAT csv)") as out,
    ):
        out.write(buffer.getbuffer())


def load(engine: sa.Engine, people: pl.DataFrame) -> int:
    """Golden rows, crm records for all and webshop records for every third; returns records."""
    golden = people.select(
        "golden_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        provenance=pl.lit("{}"),
        version=pl.lit(1),
        status=pl.lit("active"),
        created_at=pl.lit(NOW),
        updated_at=pl.lit(NOW),
    )
    crm = people.select(
        "golden_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        source=pl.lit("crm"),
        source_id=pl.concat_str(pl.lit("C"), pl.col("serial").cast(pl.String)),
    )
    webshop = people.filter(pl.col("serial") % 3 == 0).select(
        "golden_id",
        pl.col("first_name").str.to_uppercase(),
        pl.col("last_name").str.to_uppercase(),
        pl.col("email").str.to_uppercase(),
        phone=pl.concat_str(pl.lit("("), "area", pl.lit(") "), "exchange", pl.lit("-"), "line"),
        source=pl.lit("webshop"),
        source_id=pl.concat_str(pl.lit("W"), pl.col("serial").cast(pl.String)),
    )
    records = pl.concat([crm, webshop]).with_row_index("id", offset=1)
    record_rows = records.select(
        "id",
        "source",
        stream=pl.lit("customers"),
        source_id="source_id",
        raw=pl.lit("{}"),
        content_hash=pl.lit("0" * 32),
        first_name="first_name",
        last_name="last_name",
        email="email",
        phone="phone",
        first_seen_run=pl.lit(1),
        last_seen_run=pl.lit(1),
        changed_run=pl.lit(1),
        first_seen_at=pl.lit(NOW),
        last_seen_at=pl.lit(NOW),
        deleted=pl.lit(False),
        golden_id="golden_id",
    )
    xref = records.select(
        "source",
        stream=pl.lit("customers"),
        source_id="source_id",
        golden_id="golden_id",
        record_id="id",
        updated_at=pl.lit(NOW),
    )
    with engine.begin() as conn:
        copy(conn, f"golden_customer ({', '.join(golden.columns)})", golden)
        copy(conn, f"source_record ({', '.join(record_rows.columns)})", record_rows)
        copy(conn, f"customer_xref ({', '.join(xref.columns)})", xref)
    return records.height


def percentiles(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, round(0.99 * len(ms)) - 1)]
    return f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"


def timed(calls: list[Callable[[], Any]]) -> list[float]:
    out = []
    for call in calls:
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def find(engine: sa.Engine, kind: str, value: str, answers: list[int]) -> None:
    """One library lookup by `kind`; the number of customers found goes to `answers`."""
    if kind == "phone":
        found = lookup(engine, phone=value)
    elif kind == "email":
        found = lookup(engine, email=value)
    else:
        found = lookup(engine, name=value)
    answers.append(len(found))


def find_keys(engine: sa.Engine, keys: list[tuple[str, str]]) -> None:
    """The database part of a lookup alone: both SELECTs, keys already normalised."""
    with engine.connect() as conn:
        found = _find(conn, keys, 10)
        if found:
            _sources(conn, [row[0] for row in found])


def typed_queries(people: pl.DataFrame, count: int, seed: int = 2) -> dict[str, list[str]]:
    """Values of distinct customers, typed unlike what is stored (so no cache can help)."""
    picked = people.sample(n=min(count, people.height), seed=seed)
    return {
        "phone": [
            f"({a}) {e}-{line}"
            for a, e, line in picked.select("area", "exchange", "line").iter_rows()
        ],
        "email": [e.upper() for e in picked["email"]],
        "name": [
            f"{f.upper()} {last}"
            for f, last in picked.select("first_name", "last_name").iter_rows()
        ],
    }


def cli_seconds(url: str, phone: str) -> tuple[float, int, str]:
    """Wall time of `crmhub lookup` in a new process, start-up included."""
    directory = Path(tempfile.mkdtemp(prefix="crmhub-lookup-bench-"))
    try:
        config = directory / "hub.yaml"
        config.write_text(
            "sources:\n  crm:\n    type: spreadsheet\n    path: crm.csv\n    key: id\n"
            f"database:\n  url: {url}\n",
            encoding="utf-8",
        )
        crmhub = Path(sys.executable).with_name("crmhub")
        started = time.perf_counter()
        done = subprocess.run(
            [str(crmhub), "lookup", str(config), "--phone", phone],
            capture_output=True,
            text=True,
            check=False,
            env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"},
        )
        return time.perf_counter() - started, done.returncode, done.stdout + done.stderr
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    with bench_schema(args.pg) as url:
        engine = open_database(url)
        started = time.perf_counter()
        people = customers(args.customers)
        records = load(engine, people)
        print(
            f"loaded {people.height} golden customers and {records} source records "
            f"in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        with engine.begin() as conn:
            keys = refresh_lookup_keys(conn)
        print(f"refresh_lookup_keys (all): {keys} keys in {time.perf_counter() - started:.1f} s")
        sample = people.sample(n=min(10_000, people.height), seed=3)["golden_id"].to_list()
        started = time.perf_counter()
        with engine.begin() as conn:
            refresh_lookup_keys(conn, sample)
        print(f"refresh_lookup_keys ({len(sample)} ids): {time.perf_counter() - started:.2f} s")
        raw = engine.raw_connection()  # VACUUM cannot run in a transaction
        try:
            raw.driver_connection.autocommit = True  # type: ignore[union-attr]
            raw.driver_connection.execute("VACUUM ANALYZE")  # type: ignore[union-attr]
        finally:
            raw.driver_connection.autocommit = False  # type: ignore[union-attr]
            raw.close()

        queries = typed_queries(people, args.lookups)
        lookup(engine, phone=queries["phone"][0])  # warm the pool and the normalisers
        print(f"{args.lookups} lookups per kind, distinct customers, values typed differently:")
        for kind, values in queries.items():
            answers: list[int] = []
            whole = timed([partial(find, engine, kind, v, answers) for v in values])
            database = timed([partial(find_keys, engine, query_keys(**{kind: v})) for v in values])
            print(
                f"  {kind:5}  library call {percentiles(whole)}   of which DB "
                f"{percentiles(database)}   ({sum(answers) / len(answers):.1f} customers each)"
            )
        engine.dispose()
        seconds, code, output = cli_seconds(url, queries["phone"][-1])
        print(f"crmhub lookup --phone (new process): {seconds:.2f} s, exit code {code}")
        if code != 0:
            print(output)


if __name__ == "__main__":
    main()
