"""Write synthetic customers with known duplicates to a CSV (see `crmhub.demo_data`).

    python bench/generate.py 100000 --seed 1 --out customers.csv

The ``entity_id`` column is the ground truth; ``--no-truth`` leaves it out.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from crmhub.demo_data import generate_customers


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, generate, write, and say how long it took."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int, help="number of records to generate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("customers.csv"))
    parser.add_argument("--no-truth", action="store_true", help="drop the entity_id column")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    frame = generate_customers(args.rows, args.seed)
    generated = time.perf_counter() - started
    if args.no_truth:
        frame = frame.drop(columns=["entity_id"])
    frame.to_csv(args.out, index=False)
    print(
        f"{len(frame)} rows, {frame['entity_id'].nunique() if 'entity_id' in frame else '?'} "
        f"people -> {args.out} (generated in {generated:.2f}s, "
        f"written in {time.perf_counter() - started - generated:.2f}s)"
    )


if __name__ == "__main__":
    main()
