"""Dedupe benchmark: crmhub and Splink 5 side by side on one CSV, against ground truth.

    .venv/bin/python bench/dedupe.py --rows 100000 --seed 1 [--json out.json]
    .venv/bin/python bench/dedupe.py --rows 1000000 --no-baseline

Generates customers with known duplicates (`crmhub.demo_data`), writes them to a temporary CSV
without the truth column, and runs two dedupes of that same file, each in its own child
process so its wall time, CPU time and peak resident memory (``ru_maxrss`` that the child reads
about itself, interpreter and imports included) are its own:

* crmhub: `dedupe_csv`, the code path of ``crmhub dedupe``; its per-stage seconds are printed
  as a table with the slowest stage named.
* Splink 5 with the DuckDB backend (``bench/splink_baseline.py``; the optional ``bench``
  dependency group): its documented unsupervised setup, clustered at 0.95. Its scored pairs
  are also clustered at stricter thresholds afterwards, untimed, to show the best Splink could
  do with a threshold chosen in hindsight.

Both are scored with pairwise precision, recall and F1, and one table gives the figures and
the ratios. The rapidfuzz baseline uses crmhub's normalisation and blocking but decides with
the mean of rapidfuzz ``ratio`` over the fields both records have; it is shown at a fixed
threshold and at the threshold that is best in hindsight (``--no-baseline`` skips it).
``--json PATH`` writes every figure for the README.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from crmhub.canonical import IDENTITY_FIELDS
from crmhub.demo_data import generate_customers
from crmhub.matching.blocking import derive_keys, generate_pairs
from crmhub.matching.clustering import connected_components
from crmhub.matching.normalize import normalize_frame
from crmhub.matching.settings import MatchingSettings

SPLINK_SCRIPT = Path(__file__).with_name("splink_baseline.py")
SPLINK_HINDSIGHT = (0.95, 0.99, 0.999, 0.9999, 0.99999, 0.999999, 0.9999999, 0.99999999)
"""Clustering thresholds tried on Splink's scored pairs to find its best F1 in hindsight."""


@dataclass
class MethodFigures:
    """What one dedupe method cost and how well it clustered."""

    name: str
    seconds: float
    wall_seconds: float
    cpu_seconds: float
    peak_mb: float
    precision: float
    recall: float
    f1: float
    clusters: int
    largest_cluster: int
    match_pairs: int
    timings: dict[str, float] = field(default_factory=dict)


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


def own_usage() -> tuple[float, float]:
    """(peak RSS in MB, CPU seconds) of the calling process alone.

    ``RUSAGE_CHILDREN`` in the parent would give the maximum over *all* children so far, so a
    second child would inherit the first one's peak; each child reports its own instead.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime  # ru_maxrss is KiB on Linux


def run_child(input_csv: Path, output_csv: Path) -> None:
    """In the child: dedupe and report the summary and own usage as JSON on stdout."""
    from crmhub.matching.dedupe import dedupe_csv

    summary = dedupe_csv(input_csv, output_csv)
    peak_mb, cpu_seconds = own_usage()
    print(
        json.dumps(
            {
                "seconds": summary.seconds,
                "clusters": summary.clusters,
                "match_pairs": summary.match_pairs,
                "review_pairs": summary.review_pairs,
                "timings": summary.timings,
                "peak_mb": peak_mb,
                "cpu_seconds": cpu_seconds,
            }
        )
    )


def run_json_child(command: list[str]) -> tuple[dict[str, Any], float]:
    """Run a child that ends its stdout with one JSON line; returns (that JSON, wall seconds).

    The child's stderr is shown if it fails, because the traceback is the only useful output.
    """
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{' '.join(command[:2])} failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def run_splink_child(
    input_csv: Path, output_csv: Path, edges: Path, u_max_pairs: float
) -> tuple[dict[str, Any], float]:
    """Splink on the CSV in its own process; returns (its figures, wall seconds)."""
    return run_json_child(
        [
            sys.executable,
            str(SPLINK_SCRIPT),
            str(input_csv),
            str(output_csv),
            "--edges",
            str(edges),
            "--u-max-pairs",
            str(u_max_pairs),
        ]
    )


def cluster_labels(data: pd.DataFrame, clusters_csv: Path) -> np.ndarray:
    """Each generated row's cluster id from an output CSV; a row it lacks is a singleton."""
    clusters = pd.read_csv(clusters_csv, dtype=str, keep_default_na=False)
    merged = data[["source", "source_id"]].merge(clusters, on=["source", "source_id"], how="left")
    keys = merged["source"] + "/" + merged["source_id"]
    return np.asarray(merged["cluster_id"].fillna(keys).to_numpy())


def splink_hindsight(
    data: pd.DataFrame, truth: np.ndarray, edges_path: Path
) -> list[tuple[float, float, float, float]]:
    """(threshold, P, R, F1) of Splink's scored pairs clustered at each `SPLINK_HINDSIGHT`."""
    edges = pd.read_parquet(edges_path)
    position = pd.Index(data["source"] + "/" + data["source_id"])
    left = position.get_indexer(edges["unique_id_l"])
    right = position.get_indexer(edges["unique_id_r"])
    probability = edges["match_probability"].to_numpy()
    rows = []
    for threshold in SPLINK_HINDSIGHT:
        kept = probability >= threshold
        labels = connected_components(len(data), left[kept], right[kept])
        rows.append((threshold, *pairwise_scores(labels, truth)))
    return rows


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


def figures_of(
    name: str, child: dict[str, Any], wall: float, labels: np.ndarray, truth: np.ndarray
) -> MethodFigures:
    """Combine a child's own report with the parent's wall time and the scores."""
    precision, recall, f1 = pairwise_scores(labels, truth)
    return MethodFigures(
        name=name,
        seconds=float(child["seconds"]),
        wall_seconds=round(wall, 3),
        cpu_seconds=round(float(child["cpu_seconds"]), 3),
        peak_mb=round(float(child["peak_mb"]), 1),
        precision=precision,
        recall=recall,
        f1=f1,
        clusters=int(child["clusters"]),
        largest_cluster=int(pd.Series(labels).value_counts().max()),
        match_pairs=int(child["match_pairs"]),
        timings=dict(child["timings"]),
    )


def print_stages(figures: MethodFigures) -> None:
    """Per-stage seconds of one method in run order, with its share, and the slowest stage.

    The stages are whatever the method reports, so a stage added to crmhub's `timings` shows up
    here without a change; a value that is not a number is printed as it is.
    """
    numbers = {k: float(v) for k, v in figures.timings.items() if isinstance(v, int | float)}
    if not numbers:
        print(f"{figures.name}: no per-stage timings reported {figures.timings or ''}")
        return
    total = sum(numbers.values())
    print(f"{figures.name} stages{'seconds':>22}{'share':>9}")
    for stage, value in figures.timings.items():
        if stage in numbers:
            share = numbers[stage] / total if total else 0.0
            print(f"  {stage:<26}{numbers[stage]:>9.3f}{share:>9.1%}")
        else:
            print(f"  {stage:<26}{value!s:>9}")
    print(f"  {'sum of stages':<26}{total:>9.3f}   (in-process total {figures.seconds:.3f}s)")
    slowest = max(numbers, key=lambda stage: numbers[stage])
    print(f"  slowest stage: {slowest} ({numbers[slowest]:.3f}s)")


def comparison(crm: MethodFigures, splink: MethodFigures) -> dict[str, dict[str, Any]]:
    """Each figure for both methods, their ratio or difference, and whether crmhub is ahead."""
    rows: dict[str, dict[str, Any]] = {}
    for label, attr in (
        ("seconds (in-process)", "seconds"),
        ("seconds (child wall)", "wall_seconds"),
        ("CPU seconds (child)", "cpu_seconds"),
        ("peak RSS MB (child)", "peak_mb"),
    ):
        ours, theirs = getattr(crm, attr), getattr(splink, attr)
        rows[label] = {
            "crmhub": ours,
            "splink": theirs,
            "splink_over_crmhub": theirs / ours if ours else None,
            "crmhub_ahead": ours < theirs,
        }
    for label, attr in (("precision", "precision"), ("recall", "recall"), ("F1", "f1")):
        ours, theirs = getattr(crm, attr), getattr(splink, attr)
        rows[label] = {
            "crmhub": ours,
            "splink": theirs,
            "crmhub_minus_splink": ours - theirs,
            "crmhub_ahead": ours > theirs,
        }
    return rows


def print_comparison(rows: dict[str, dict[str, Any]]) -> None:
    """The side-by-side table: lower is better for cost, higher for quality."""
    print(f"{'figure':<24}{'crmhub':>11}{'Splink':>11}{'Splink/crmhub':>15}{'crmhub ahead':>14}")
    for label, row in rows.items():
        ahead = "yes" if row["crmhub_ahead"] else "NO"
        if "splink_over_crmhub" in row:
            ratio = row["splink_over_crmhub"]
            shown = f"{ratio:.2f}x" if ratio is not None else "-"
            print(f"{label:<24}{row['crmhub']:>11.2f}{row['splink']:>11.2f}{shown:>15}{ahead:>14}")
        else:
            diff = f"{row['crmhub_minus_splink']:+.4f} (diff)"
            print(f"{label:<24}{row['crmhub']:>11.4f}{row['splink']:>11.4f}{diff:>15}{ahead:>14}")
    behind = [label for label, row in rows.items() if not row["crmhub_ahead"]]
    print("crmhub ahead on every figure" if not behind else f"crmhub NOT ahead on: {behind}")


def quality_row(label: str, precision: float, recall: float, f1: float) -> None:
    """One line of the quality table."""
    print(f"{label:<34}{precision:>10.4f}{recall:>10.4f}{f1:>10.4f}")


def run_baseline(
    data: pd.DataFrame, truth: np.ndarray, threshold: float
) -> dict[str, dict[str, float]]:
    """Print the rapidfuzz baseline at `threshold` and at its best threshold in hindsight."""
    sweep = [round(t, 2) for t in np.arange(0.6, 0.96, 0.05)]
    rows = baseline_scores(data.drop(columns=["entity_id"]), truth, sorted({threshold, *sweep}))
    fixed = next(r for r in rows if r[0] == threshold)
    best = max(rows, key=lambda r: r[3])
    quality_row(f"baseline mean ratio >= {fixed[0]:.2f}", *fixed[1:4])
    quality_row(f"baseline best in hindsight ({best[0]:.2f})", *best[1:4])
    names = ("threshold", "precision", "recall", "f1", "seconds")
    return {
        "fixed": dict(zip(names, fixed, strict=True)),
        "best": dict(zip(names, best, strict=True)),
    }


def report_splink(
    report: dict[str, Any],
    crm: MethodFigures,
    splink: MethodFigures,
    hindsight: list[tuple[float, float, float, float]],
) -> None:
    """Print Splink's stages, the side-by-side table and its best threshold in hindsight."""
    settings = report["splink_settings"]
    report["splink"] = asdict(splink)
    print()
    print_stages(splink)
    print()
    print(
        f"Splink {settings['splink_version']} (DuckDB): documented unsupervised setup, "
        f"clustered at match probability {settings['threshold']} (predict's own default is "
        f"no threshold), u from {settings['u_max_pairs']:.0e} random pairs"
    )
    rows = comparison(crm, splink)
    report["comparison"] = rows
    print_comparison(rows)
    report["splink_hindsight"] = [
        {"threshold": t, "precision": p, "recall": r, "f1": f} for t, p, r, f in hindsight
    ]
    best = max(hindsight, key=lambda r: r[3])
    print(f"largest cluster: crmhub {crm.largest_cluster}, Splink {splink.largest_cluster} records")
    print(f"vs Splink at its best threshold in hindsight ({best[0]}), an upper bound for it:")
    upper: dict[str, dict[str, Any]] = {}
    for label, ours, theirs in zip(
        ("precision", "recall", "F1"), (crm.precision, crm.recall, crm.f1), best[1:], strict=True
    ):
        upper[label] = {
            "crmhub": ours,
            "splink": theirs,
            "crmhub_minus_splink": ours - theirs,
            "crmhub_ahead": ours > theirs,
        }
        ahead = "yes" if ours > theirs else "NO"
        print(f"{label:<24}{ours:>11.4f}{theirs:>11.4f}{ours - theirs:>+15.4f}{ahead:>14}")
    report["comparison_splink_hindsight"] = {"threshold": best[0], **upper}


def run_methods(
    data: pd.DataFrame, truth: np.ndarray, args: argparse.Namespace, report: dict[str, Any]
) -> tuple[MethodFigures, MethodFigures | None, list[tuple[float, float, float, float]]]:
    """Write the CSV once, dedupe it with crmhub and (unless skipped) Splink, score both."""
    with tempfile.TemporaryDirectory(prefix="crmhub-bench-") as tmp:
        input_csv = Path(tmp) / "customers.csv"
        data.drop(columns=["entity_id"]).to_csv(input_csv, index=False)
        out = Path(tmp) / "crmhub-clusters.csv"
        child, wall = run_json_child(
            [sys.executable, __file__, "--child", str(input_csv), str(out)]
        )
        crm = figures_of("crmhub", child, wall, cluster_labels(data, out), truth)
        if args.no_splink:
            return crm, None, []
        out, edges = Path(tmp) / "splink-clusters.csv", Path(tmp) / "splink-edges.parquet"
        child, wall = run_splink_child(input_csv, out, edges, args.splink_u_max_pairs)
        splink = figures_of("Splink", child, wall, cluster_labels(data, out), truth)
        report["splink_settings"] = {
            key: child[key] for key in ("threshold", "u_max_pairs", "splink_version")
        }
        return crm, splink, splink_hindsight(data, truth, edges)


def main() -> None:
    """Generate, dedupe with crmhub and Splink in children, score, print and save figures."""
    parser = argparse.ArgumentParser(description="crmhub vs Splink dedupe benchmark")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-threshold", type=float, default=0.85)
    parser.add_argument("--no-splink", action="store_true", help="skip the Splink 5 run")
    parser.add_argument("--no-baseline", action="store_true", help="skip the rapidfuzz baseline")
    parser.add_argument(
        "--splink-u-max-pairs",
        type=float,
        default=1e7,
        help="random pairs for Splink's u estimates (its tutorial: at least 1e7 for large data)",
    )
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    parser.add_argument("--child", nargs=2, metavar=("INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(Path(args.child[0]), Path(args.child[1]))
        return
    report: dict[str, Any] = {"rows": args.rows, "seed": args.seed}
    started = time.perf_counter()
    data = generate_customers(args.rows, args.seed)
    report["people"] = int(data["entity_id"].nunique())
    print(
        f"generated {len(data)} records of {report['people']} people "
        f"in {time.perf_counter() - started:.1f}s (seed {args.seed})"
    )
    truth = data["entity_id"].to_numpy()
    crm, splink, hindsight = run_methods(data, truth, args, report)
    report["crmhub"] = asdict(crm)
    pairs, ceiling = blocking_recall(data, truth)
    report["blocking"] = {"candidate_pairs": pairs, "pair_recall_ceiling": ceiling}
    print(f"crmhub blocking: {pairs} candidate pairs, pair recall ceiling {ceiling:.4f}")
    print()
    print_stages(crm)
    if splink is not None:
        report_splink(report, crm, splink, hindsight)
    print()
    print(f"{'method':<34}{'precision':>10}{'recall':>10}{'F1':>10}")
    quality_row("crmhub (Fellegi-Sunter + EM)", crm.precision, crm.recall, crm.f1)
    if splink is not None:
        label = f"Splink 5 at {report['splink_settings']['threshold']}"
        quality_row(label, splink.precision, splink.recall, splink.f1)
    if not args.no_baseline:
        report["baseline"] = run_baseline(data, truth, args.baseline_threshold)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
