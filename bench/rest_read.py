"""REST read benchmark: records/s through the `rest` connector from the local fake API.

Reads generated customers (page-number paging, 100 records a page, API key, incremental cursor)
from tests/fakes/rest_api.py, once without and once with a rate budget, at two sizes so a flat
peak memory is visible. The fake runs in this process and computes each page when asked; every
measurement reads in its own child process, whose peak RSS (os.wait4) is the figure shown, so
neither the fake nor the parent counts; "read MB" is what the read added to the child's peak
after imports and set-up. With a budget of N calls per second (a bucket that starts full) the
floor is (calls - N) / N seconds; a measured time at or above it shows the budget holding.

    .venv/bin/python bench/rest_read.py                     # 50k and 200k, no budget and 100/s
    .venv/bin/python bench/rest_read.py --rows 200000 --per-second 0 500 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGE_SIZE = 100
KEY_ENV = "CRMHUB_BENCH_REST_API_KEY"


def measure(url: str, rows: int, per_second: float, profile: bool) -> dict[str, Any]:
    """Read every record of the fake at `url` through RestConnector; return the figures."""
    from crmhub.connectors.rest import RestConfig, RestConnector

    block: dict[str, Any] = {
        "type": "rest",
        "base_url": url,
        "auth": {"type": "api_key", "name": "X-API-Key", "value": {"env": KEY_ENV}},
        "streams": [
            {
                "name": "customers",
                "path": "/customers",
                "record_selector": "data.items",
                "primary_key": "id",
                "pagination": {"type": "page_number", "page_size": PAGE_SIZE},
                "incremental": {"cursor_field": "updated_at", "param": "updated_since"},
            }
        ],
    }
    if per_second:
        block["rate_limit"] = {"per_second": per_second, "api": f"bench-{uuid.uuid4().hex}"}
    connector = RestConnector(RestConfig.model_validate(block), name="bench")
    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    profiler = cProfile.Profile() if profile else None
    records = batches = 0
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    for batch in connector.read("customers", None):
        records += len(batch.records)
        batches += 1
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - started
    calls = connector.http.calls
    connector.close()
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)
    if records != rows:
        raise SystemExit(f"read {records} records, the fake serves {rows}")
    return {
        "rows": rows,
        "per_second": per_second,
        "records": records,
        "batches": batches,
        "calls": calls,
        "seconds": seconds,
        "baseline_mb": baseline_mb,
    }


def run_child(url: str, rows: int, per_second: float, profile: bool) -> dict[str, Any]:
    """One measurement in a child process, with its peak RSS in MB."""
    command = [sys.executable, __file__, "--child", url, "--rows", str(rows)]
    command += ["--per-second", str(per_second)] + (["--profile"] if profile else [])
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{rows} rows at per_second={per_second} failed")
    figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    figures["peak_mb"] = usage.ru_maxrss / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument(
        "--per-second",
        type=float,
        nargs="+",
        default=[0, 100],
        help="rate budgets in calls per second to compare (0: none); pick one below the "
        "unbudgeted calls/s, or the budget never binds",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile each run (to stderr)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        figures = measure(args.child, args.rows[0], args.per_second[0], args.profile)
        print(json.dumps(figures))
        return

    from tests.fakes.rest_api import API_KEY, RestApiFake

    os.environ[KEY_ENV] = API_KEY
    fake = RestApiFake(auth="api_key", paging="page_number")
    fake.start()
    print(
        f"{'rows':>8} {'budget':>9} {'records/s':>10} {'calls/s':>8} {'seconds':>8} "
        f"{'floor s':>8} {'peak MB':>8} {'read MB':>8}"
    )
    try:
        for per_second in args.per_second:
            for rows in args.rows:
                fake.generate(rows)
                f = run_child(fake.url, rows, per_second, args.profile)
                # the bucket starts full: one second's calls go at once, the rest at the rate
                floor = max(f["calls"] - per_second, 0) / per_second if per_second else 0.0
                budget = f"{per_second:g}/s" if per_second else "none"
                print(
                    f"{rows:>8} {budget:>9} {f['records'] / f['seconds']:>10.0f} "
                    f"{f['calls'] / f['seconds']:>8.0f} {f['seconds']:>8.2f} {floor:>8.2f} "
                    f"{f['peak_mb']:>8.1f} {f['peak_mb'] - f['baseline_mb']:>8.1f}",
                    flush=True,
                )
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
