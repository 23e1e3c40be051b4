"""Dedupe benchmark: speed, peak memory and pairwise precision/recall/F1 against ground truth.

    .venv/bin/python bench/dedupe.py --rows 100000 --seed 1

Generates customers with known duplicates (`crmhub.demo_data`), writes them to a temporary CSV
without the truth column, and runs `dedupe_csv` -- the code path of ``crmhub dedupe`` -- in a
child process, so the peak resident memory (``ru_maxrss`` of the child) is the dedupe's own,
interpreter and imports included. The baseline uses the same normalisation and blocking but
decides with the mean of rapidfuzz ``ratio`` over the fields both records have; it is shown at
a fixed threshold and at the threshold that is best *in hindsight* (an upper bound for it).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from crmhub.canonical import IDENTITY_FIELDS
from crmhub.demo_data import generate_customers
from crmhub.matching.blocking import derive_keys, generate_pairs
from crmhub.matching.clustering import connected_components
from crmhub.matching.normalize import normalize_frame
from crmhub.matching.settings import MatchingSettings


def pairwise_scores(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 of a clustering against true entity labels."""

    def pairs(*labels: np.ndarray) -> int:
        sizes = pd.DataFrame({str(i): v for i, v in enumerate(labels)}).value_counts()
        return int((sizes * (sizes - 1) // 2).sum())

    both, found, real = pairs(predicted, truth), pairs(predicted), pairs(truth)
    precision = both / found if found else 1.0
    recall = both / real if real else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def run_child(input_csv: Path, output_csv: Path) -> None:
    """In the child: dedupe and report the summary as JSON on stdout."""
    from crmhub.matching.dedupe import dedupe_csv

    summary = dedupe_csv(input_csv, output_csv)
    print(
        json.dumps(
            {
                "seconds": summary.seconds,
                "clusters": summary.clusters,
                "match_pairs": summary.match_pairs,
                "review_pairs": summary.review_pairs,
                "timings": summary.timings,
            }
        )
    )


def run_dedupe(input_csv: Path, output_csv: Path) -> tuple[dict[str, object], float, float]:
    """Dedupe in a child process; returns (summary, wall seconds, child peak RSS in MB)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(input_csv), str(output_csv)],
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    return json.loads(done.stdout.strip().splitlines()[-1]), wall, peak_mb


def baseline_scores(
    frame: pd.DataFrame, truth: np.ndarray, thresholds: list[float]
) -> list[tuple[float, float, float, float, float]]:
    """Same blocking, mean rapidfuzz ratio over shared fields >= threshold; (t, P, R, F1, s)."""
    started = time.perf_counter()
    settings = MatchingSettings()
    normalized = normalize_frame(frame, default_region=settings.default_region)
    candidates = generate_pairs(derive_keys(normalized), settings.blocking, settings.max_block_size)
    total = np.zeros(len(candidates))
    present = np.zeros(len(candidates))
    for column in IDENTITY_FIELDS:
        values = normalized[column].to_numpy(dtype=object)
        left, right = values[candidates.left], values[candidates.right]
        both = ~(pd.isna(left) | pd.isna(right))
        total[both] += (
            np.asarray(process.cpdist(left[both], right[both], scorer=fuzz.ratio, workers=-1))
            / 100.0
        )
        present[both] += 1
    mean = np.where(present > 0, total / np.maximum(present, 1), 0.0)
    seconds = time.perf_counter() - started
    rows = []
    for threshold in thresholds:
        accepted = mean >= threshold
        labels = connected_components(
            len(frame), candidates.left[accepted], candidates.right[accepted]
        )
        rows.append((threshold, *pairwise_scores(labels, truth), seconds))
    return rows


def blocking_recall(frame: pd.DataFrame, truth: np.ndarray) -> tuple[int, float]:
    """Candidate pairs and the share of true duplicate pairs among them (recall ceiling)."""
    settings = MatchingSettings()
    keys = derive_keys(normalize_frame(frame, default_region=settings.default_region))
    candidates = generate_pairs(keys, settings.blocking, settings.max_block_size)
    codes = pd.factorize(truth)[0]
    same = int((codes[candidates.left] == codes[candidates.right]).sum())
    sizes = np.bincount(codes)
    return len(candidates), same / max(int((sizes * (sizes - 1) // 2).sum()), 1)


def main() -> None:
    """Generate, dedupe in a child, score both methods, print a table."""
    parser = argparse.ArgumentParser(description="crmhub dedupe benchmark")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-threshold", type=float, default=0.85)
    parser.add_argument("--child", nargs=2, metavar=("INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(Path(args.child[0]), Path(args.child[1]))
        return
    started = time.perf_counter()
    data = generate_customers(args.rows, args.seed)
    print(
        f"generated {len(data)} records of {data['entity_id'].nunique()} people "
        f"in {time.perf_counter() - started:.1f}s (seed {args.seed})"
    )
    truth = data["entity_id"].to_numpy()
    with tempfile.TemporaryDirectory(prefix="crmhub-bench-") as tmp:
        input_csv, output_csv = Path(tmp) / "customers.csv", Path(tmp) / "clusters.csv"
        data.drop(columns=["entity_id"]).to_csv(input_csv, index=False)
        summary, wall, peak_mb = run_dedupe(input_csv, output_csv)
        clusters = pd.read_csv(output_csv, dtype=str)
    merged = data[["source", "source_id"]].merge(clusters, on=["source", "source_id"], how="left")
    precision, recall, f1 = pairwise_scores(merged["cluster_id"].to_numpy(), truth)
    pairs, ceiling = blocking_recall(data, truth)
    print(f"blocking: {pairs} candidate pairs, pair recall ceiling {ceiling:.4f}")
    print(
        f"crmhub dedupe_csv: {summary['seconds']:.2f}s in dedupe_csv, {wall:.2f}s child wall "
        f"(incl. interpreter start), peak RSS {peak_mb:.0f} MB, stages {summary['timings']}"
    )
    print(f"{'method':<34}{'precision':>10}{'recall':>10}{'F1':>10}")
    print(f"{'crmhub (Fellegi-Sunter + EM)':<34}{precision:>10.4f}{recall:>10.4f}{f1:>10.4f}")
    sweep = [round(t, 2) for t in np.arange(0.6, 0.96, 0.05)]
    rows = baseline_scores(
        data.drop(columns=["entity_id"]), truth, sorted({args.baseline_threshold, *sweep})
    )
    fixed = next(r for r in rows if r[0] == args.baseline_threshold)
    best = max(rows, key=lambda r: r[3])
    print(
        f"{'baseline mean ratio >= ' + format(fixed[0], '.2f'):<34}{fixed[1]:>10.4f}"
        f"{fixed[2]:>10.4f}{fixed[3]:>10.4f}"
    )
    print(
        f"{'baseline best in hindsight (' + format(best[0], '.2f') + ')':<34}{best[1]:>10.4f}"
        f"{best[2]:>10.4f}{best[3]:>10.4f}"
    )


if __name__ == "__main__":
    main()
