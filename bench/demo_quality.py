"""Matching quality of the demo hub: pairwise precision/recall of its golden records.

Builds the demo silos (`crmhub.demo`), stages and matches them with the sync pipeline's own steps
(no Prefect, no write-back), and compares each golden record's members with the generator's
ground truth. The demo's silos are sparse (each holds only some identity fields), so this is a
harder test than `bench/dedupe.py`.

Usage: .venv/bin/python bench/demo_quality.py [--customers 3000] [--seed 7]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from collections.abc import Iterable

import pandas as pd

from crmhub import pipeline
from crmhub.demo import RECORDS_PER_CUSTOMER, SILO_OF_SOURCE, create_demo
from crmhub.demo_data import generate_customers

DEMO_IDS = {
    "accounting": lambda n: [f"ACC-{i:06d}" for i in range(1, n + 1)],
    "sales": lambda n: [str(5001 + i) for i in range(n)],
    "credit": lambda n: [f"CR{i:05d}" for i in range(1, n + 1)],
    "marketing": lambda n: [str(i) for i in range(1, n + 1)],
}
"""The ids `crmhub.demo` gives the rows of each silo, in order."""


def truth(customers: int, seed: int) -> dict[tuple[str, str], str]:
    """(silo, source id) -> the person it really is."""
    people = generate_customers(round(customers * RECORDS_PER_CUSTOMER), seed=seed)
    found = {}
    for source, silo in SILO_OF_SOURCE.items():
        part = people[people["source"] == source].reset_index(drop=True)
        ids = DEMO_IDS[silo](len(part))
        found.update({(silo, i): e for i, e in zip(ids, part["entity_id"], strict=True)})
    return found


def pair_count(groups: Iterable[Iterable[object]]) -> int:
    """Pairs inside groups of the given members."""
    return sum(len(list(g)) * (len(list(g)) - 1) // 2 for g in groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="crmhub-demo-quality-")
    config = str(create_demo(root, customers=args.customers, seed=args.seed))
    run = pipeline.start_run(config)
    for silo in SILO_OF_SOURCE.values():
        pipeline.extract_source(config, silo, run)
    figures = pipeline.match_and_build(config, run)
    with sqlite3.connect(f"{root}/crmhub.db") as conn:
        xref = pd.read_sql("SELECT source, source_id, golden_id FROM customer_xref", conn)
    real = truth(args.customers, args.seed)
    xref["entity"] = [real[(s, i)] for s, i in zip(xref["source"], xref["source_id"], strict=True)]
    true_pairs = pair_count(xref.groupby(["golden_id", "entity"]).groups.values())
    predicted = pair_count(xref.groupby("golden_id").groups.values())
    actual = pair_count(xref.groupby("entity").groups.values())
    precision, recall = true_pairs / predicted, true_pairs / actual
    f1 = 2 * precision * recall / (precision + recall)
    print(
        f"{len(xref)} records of {xref['entity'].nunique()} people -> "
        f"{xref['golden_id'].nunique()} golden records; pairs for review: "
        f"{figures['pairs'].get('review', 0)}"
    )
    print(f"precision {precision:.4f}  recall {recall:.4f}  F1 {f1:.4f}")


if __name__ == "__main__":
    main()
