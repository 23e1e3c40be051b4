"""Ingest benchmark: source rows -> `source_record` staging, records/s and peak memory.

Four paths: CSV -> SQLite, CSV -> PostgreSQL, PostgreSQL -> SQLite, PostgreSQL -> PostgreSQL,
each at two sizes so a flat peak memory is visible. Every measurement runs in its own child
process; peak MB is that child's ru_maxrss (os.wait4), so the parent's data does not count.
Records go through the real connectors and `stage_batches`; the per-stage seconds (read in the
connector, prepare = key/payload/hash/canonical, write = the database transaction, which runs
in the writer thread in parallel with the other two) show which stage bounds the total.

    .venv/bin/python bench/ingest.py                      # 200k and 1M rows, all four paths
    .venv/bin/python bench/ingest.py --rows 200000 --paths csv-sqlite --profile

Needs the PostgreSQL server of the test setup (CRMHUB_BENCH_PG_URL to use another one).
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from crmhub.connectors.base import Batch

# Heavy imports live inside the functions the child processes run: a forked child inherits the
# parent's peak RSS, so the parent must stay a small process for ru_maxrss to mean anything.

PG_URL = os.environ.get("CRMHUB_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATA_DIR = Path(os.environ.get("CRMHUB_BENCH_DIR", Path(tempfile.gettempdir()) / "crmhub-bench"))
SOURCE_SCHEMA = "crmhub_bench_source"
PATHS = ("csv-sqlite", "csv-postgresql", "postgresql-sqlite", "postgresql-postgresql")
CHUNK = 100_000
KEY = "id"
MAPPING: dict[str, str | list[str]] = {
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "phone": "phone",
    "birth_date": "birth_date",
    "street": "street",
    "city": "city",
    "postal_code": "postal_code",
    "country": "country",
    "company": "company",
    "tax_id": "tax_id",
    "balance": "balance",
    "credit_limit": "credit_limit",
    "source_updated_at": "updated_at",
}
PG_COLUMNS = (
    "id bigint PRIMARY KEY, first_name text, last_name text, email text, phone text, "
    "birth_date date, street text, city text, postal_code text, country text, company text, "
    "tax_id text, balance numeric(12,2), credit_limit numeric(12,2), updated_at timestamp"
)


# --- data ---------------------------------------------------------------------------------


def generate_frame(rows: int, seed: int = 7) -> pd.DataFrame:
    """Synthetic customers with 15 columns, vectorised so a million rows take seconds."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    first = np.array(
        [
            "Anna",
            "Ben",
            "Chloé",
            "David",
            "Eva",
            "Finn",
            "Greta",
            "Hugo",
            "Ida",
            "Jonas",
            "Klara",
            "Lukas",
            "Marie",
            "Noah",
            "Olga",
            "Paul",
            "Rosa",
            "Sam",
        ]
    )
    last = np.array(
        [
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Schulz",
            "Hoffmann",
            "O'Brien",
            "García",
            "Rossi",
            "Dubois",
        ]
    )
    cities = np.array(["Berlin", "Hamburg", "München", "Köln", "Wien", "Zürich", "Lyon"])
    ids = np.arange(1, rows + 1)
    fn = first[rng.integers(0, len(first), rows)]
    ln = last[rng.integers(0, len(last), rows)]
    frame = pd.DataFrame({"id": ids, "first_name": fn, "last_name": ln})
    frame["email"] = (
        pd.Series(fn).str.lower()
        + "."
        + pd.Series(ln).str.lower()
        + ids.astype(str)
        + "@example.com"
    )
    frame["phone"] = "+49 30 " + pd.Series(rng.integers(1_000_000, 9_999_999, rows)).astype(str)
    days = rng.integers(0, 20_000, rows).astype("timedelta64[D]")
    frame["birth_date"] = pd.Series(np.datetime64("1940-01-01") + days).dt.strftime("%Y-%m-%d")
    frame["street"] = (
        pd.Series(rng.integers(1, 200, rows)).astype(str)
        + " "
        + pd.Series(last[rng.integers(0, len(last), rows)])
        + "straße"
    )
    frame["city"] = cities[rng.integers(0, len(cities), rows)]
    frame["postal_code"] = pd.Series(rng.integers(10_000, 99_999, rows)).astype(str)
    frame["country"] = np.array(["DE", "AT", "CH", "FR"])[rng.integers(0, 4, rows)]
    frame["company"] = (
        pd.Series(ln) + " " + np.array(["GmbH", "AG", "KG", "SE"])[rng.integers(0, 4, rows)]
    )
    frame["tax_id"] = "DE" + pd.Series(rng.integers(100_000_000, 999_999_999, rows)).astype(str)
    frame["balance"] = (rng.integers(-100_000, 10_000_000, rows) / 100).round(2)
    frame["credit_limit"] = (rng.integers(0, 5_000, rows) * 100).astype(float)
    seconds = rng.integers(0, 3 * 365 * 86_400, rows).astype("timedelta64[s]")
    stamps = pd.Series(np.datetime64("2023-01-01T00:00:00") + seconds)
    frame["updated_at"] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S")
    return frame


def ensure_data(rows: int) -> Path:
    """Write the CSV and load the same rows into PostgreSQL once; later runs reuse both."""
    import sqlalchemy as sa

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"customers_{rows}.csv"
    if not path.exists():
        generate_frame(rows).to_csv(path, index=False)
    engine = sa.create_engine(PG_URL)
    table = f"customers_{rows}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SOURCE_SCHEMA}")
        if not sa.inspect(conn).has_table(table, schema=SOURCE_SCHEMA):
            conn.exec_driver_sql(f"CREATE TABLE {SOURCE_SCHEMA}.{table} ({PG_COLUMNS})")
            copy_sql = f"COPY {SOURCE_SCHEMA}.{table} FROM STDIN WITH (FORMAT csv, HEADER true)"
            dbapi = conn.connection.driver_connection
            with dbapi.cursor() as cur, cur.copy(copy_sql) as cp, path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    cp.write(chunk)
            conn.exec_driver_sql(f"ANALYZE {SOURCE_SCHEMA}.{table}")
    engine.dispose()
    return path


# --- readers ------------------------------------------------------------------------------


def read_csv_fast(path: Path, chunk: int) -> Iterator[Batch]:
    """The minimal reader: csv.reader and dict(zip(header, row)), `chunk` records a batch."""
    from crmhub.connectors.base import Batch

    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        batch: list[dict[str, Any]] = []
        line = 1
        for row in reader:
            batch.append(dict(zip(header, row, strict=False)))
            if len(batch) == chunk:
                line += len(batch)
                yield Batch(batch, {"line": line})
                batch = []
        if batch:
            yield Batch(batch, {"line": line + len(batch)})


def read_sql_stream(table: str, chunk: int) -> Iterator[Batch]:
    """A server-side cursor read with SQLAlchemy `stream_results`, `chunk` rows a batch."""
    import sqlalchemy as sa

    from crmhub.connectors.base import Batch

    engine = sa.create_engine(PG_URL)
    query = sa.text(f"SELECT * FROM {SOURCE_SCHEMA}.{table}")
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk).execute(query)
        keys = list(result.keys())
        for part in result.partitions(chunk):
            last = part[-1][0]
            yield Batch([dict(zip(keys, row, strict=True)) for row in part], {"id": last})
    engine.dispose()


def open_reader(kind: str, rows: int, chunk: int, reader_kind: str) -> tuple[str, Iterator[Batch]]:
    """Read through the real connectors when they exist (or asked not to), else the bench's."""
    if kind == "csv":
        path = DATA_DIR / f"customers_{rows}.csv"
        if reader_kind == "bench":
            return "bench csv.reader", read_csv_fast(path, chunk)
        try:
            from crmhub.connectors.spreadsheet.config import SpreadsheetConfig
            from crmhub.connectors.spreadsheet.connector import SpreadsheetConnector
        except ImportError:
            return "bench csv.reader", read_csv_fast(path, chunk)
        config = SpreadsheetConfig(type="spreadsheet", path=path, key=KEY, chunk_size=chunk)
        connector = SpreadsheetConnector(config, name="sheet")
        stream = connector.discover()[0].name
        return "SpreadsheetConnector", connector.read(stream, None)
    table = f"customers_{rows}"
    if reader_kind == "bench":
        return "bench stream_results", read_sql_stream(table, chunk)
    try:
        from crmhub.connectors.sql.config import SqlConfig
        from crmhub.connectors.sql.connector import SqlConnector
    except ImportError:
        return "bench stream_results", read_sql_stream(table, chunk)
    config = SqlConfig(
        type="sql", url=PG_URL, table=table, db_schema=SOURCE_SCHEMA, key=KEY, batch_size=chunk
    )
    sql_connector = SqlConnector(config, name="sql")
    stream = sql_connector.discover()[0].name
    return "SqlConnector", sql_connector.read(stream, None)


# --- one measurement (child process) ------------------------------------------------------


def destination(kind: str, workdir: Path) -> tuple[str, Any]:
    """A fresh golden-record database and a function that removes it."""
    import sqlalchemy as sa

    if kind == "sqlite":
        path = workdir / "crmhub.db"
        return f"sqlite:///{path}", lambda: shutil.rmtree(workdir, ignore_errors=True)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()

    return f"{PG_URL}?options=-csearch_path%3D{schema}", drop


def measure(
    path_name: str, rows: int, chunk: int, profile: bool, reader_kind: str
) -> dict[str, Any]:
    """Stage `rows` records along `path_name` into a fresh database; return the figures."""
    from crmhub.golden_record import staging
    from crmhub.golden_record.db import open_database
    from crmhub.golden_record.staging import stage_batches
    from crmhub.golden_record.store import start_run

    stages = {"read": 0.0, "prepare": 0.0, "write": 0.0}
    staging.prepare_batch = _timed(staging.prepare_batch, stages, "prepare")  # type: ignore[assignment]
    staging.write_prepared = _timed(staging.write_prepared, stages, "write")  # type: ignore[assignment]

    source_kind, dest_kind = path_name.split("-")
    url, cleanup = destination(dest_kind, Path(tempfile.mkdtemp(prefix="crmhub-bench-")))
    try:
        engine = open_database(url)
        run_id = start_run(engine)
        reader, batches = open_reader(source_kind, rows, chunk, reader_kind)
        batches = _timed_iter(batches, stages)
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        stats = stage_batches(
            engine,
            run_id,
            "bench",
            "customers",
            batches,
            key=KEY,
            mapping=MAPPING,
            ignore_fields=("crmhub_id",),
        )
        if profiler is not None:
            profiler.disable()
        seconds = time.perf_counter() - started
        engine.dispose()
    finally:
        cleanup()
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(18)
    return {
        "path": path_name,
        "rows": rows,
        "reader": reader,
        "seconds": seconds,
        "inserted": stats.inserted,
        "quarantined": stats.quarantined,
        "stages": stages,
    }


def _timed(func: Any, stages: dict[str, float], name: str) -> Any:
    """`func`, adding its wall time to stages[name] (the real staging code still runs)."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            stages[name] += time.perf_counter() - started

    return timed


def _timed_iter(batches: Iterator[Batch], stages: dict[str, float]) -> Iterator[Batch]:
    """The connector's batches, adding the time spent producing each to stages["read"]."""
    while True:
        started = time.perf_counter()
        try:
            batch = next(batches)
        except StopIteration:
            return
        finally:
            stages["read"] += time.perf_counter() - started
        yield batch


def run_child(
    path_name: str, rows: int, chunk: int, profile: bool, reader_kind: str
) -> dict[str, Any]:
    """Run one measurement in a child process and add its peak RSS in MB."""
    command = [
        sys.executable,
        __file__,
        "--child",
        path_name,
        "--rows",
        str(rows),
        "--chunk",
        str(chunk),
        "--reader",
        reader_kind,
    ]
    command += ["--profile"] if profile else []
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{path_name} with {rows} rows failed (exit {child.returncode})")
    figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    figures["peak_mb"] = usage.ru_maxrss / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument("--chunk", type=int, default=CHUNK)
    parser.add_argument("--profile", action="store_true", help="cProfile each run (to stderr)")
    parser.add_argument(
        "--reader",
        choices=("connector", "bench"),
        default="connector",
        help="read through the crmhub connectors (default) or the bench readers",
    )
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = measure(args.child, args.rows[0], args.chunk, args.profile, args.reader)
        print(json.dumps(figures))
        return
    if args.prepare:
        for rows in args.rows:
            ensure_data(rows)
        return
    subprocess.run(
        [sys.executable, __file__, "--prepare", "--rows", *map(str, args.rows)], check=True
    )
    print(
        f"{'path':24} {'rows':>9} {'seconds':>8} {'records/s':>10} {'peak MB':>8} "
        f"{'read':>6} {'prep':>6} {'write':>6}  reader"
    )
    for path_name in args.paths:
        for rows in args.rows:
            f = run_child(path_name, rows, args.chunk, args.profile, args.reader)
            assert f["inserted"] == rows, f
            st = f["stages"]
            print(
                f"{path_name:24} {rows:>9} {f['seconds']:>8.2f} "
                f"{rows / f['seconds']:>10,.0f} {f['peak_mb']:>8.0f} {st['read']:>6.2f} "
                f"{st['prepare']:>6.2f} {st['write']:>6.2f}  {f['reader']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
