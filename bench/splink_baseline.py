"""Splink 5 (DuckDB backend) on the same CSV as ``bench/dedupe.py``: the side-by-side reference.

    .venv/bin/python bench/splink_baseline.py INPUT.csv CLUSTERS.csv [--threshold 0.95]

prints one JSON line (seconds per stage, own peak RSS and CPU time, pair and cluster counts)
and writes ``source,source_id,cluster_id`` for every input row. ``bench/dedupe.py`` runs it in
a child process so its wall time and peak memory are its own. Splink is in the optional ``bench``
dependency group only; nothing under ``src/`` imports it.

The setup follows Splink's own documentation rather than anything tuned to this data, so the
comparison is with Splink as its users are told to run it:

* Cleaning: the "Data Prerequisites" tutorial (docs/demos/tutorials/01_Prerequisites) asks for
  trimmed, same-case text without special characters, dates as ``yyyy-mm-dd``, abbreviations
  written out and true nulls. That is done in DuckDB SQL on read (lower-case, accents and
  punctuation dropped, phone digits, the four date formats of the sources, street suffixes).
  Every column is read as text, so ZIP codes keep their leading zeros.
* Comparisons: the comparison-library templates of the tutorials and the
  ``deduplicate_50k_synthetic`` / ``febrl3`` examples, on the same fields as
  ``crmhub.matching.settings.DEFAULT_COMPARISONS`` (city left out, as there):
  ``ForenameSurnameComparison`` with a full-name column for term frequencies (the 50k example;
  it has a swapped-names level, like crmhub's ``swap_with``), ``EmailComparison``,
  ``DateOfBirthComparison(input_is_string=True)``, Damerau-Levenshtein <= 1 on phone digits (as
  ``febrl3`` does for its id number), Jaro-Winkler 0.95 / 0.88 on street, exact match with term
  frequencies on postcode and company (``febrl3``'s postcode; ``PostcodeComparison``'s sector
  and district levels only parse UK postcodes) and exact match on tax id. Two
  ``NameComparison`` s instead of the forename-surname template scored a lower F1 (0.75 vs 0.80
  at 100k rows), so the stronger documented choice is used.
* Blocking: the rules of ``crmhub.matching.settings.DEFAULT_BLOCKING`` written with
  ``block_on`` (prefixes as ``substr``; crmhub's sorted-name key as a swapped-name
  ``CustomRule``).
  Splink has no nickname table, so ``first_name_canon`` becomes plain ``first_name``.
* Training, as in the tutorial "Estimating model parameters" and the 50k example:
  ``estimate_probability_two_random_records_match`` from deterministic rules with a recall
  guess of 0.7, ``estimate_u_using_random_sampling(max_pairs=1e7)`` (the tutorial's "at least
  10 million" for large data; its library default 1e6 is one flag away and gave the same F1),
  then EM blocked on first + last name and on birth date, without term frequencies during the
  iterations (the 50k example). The u sample is not seeded: Splink documents that a seed costs
  time.
* Threshold: 0.95, the 50k example's clustering threshold and crmhub's ``auto_merge``. Splink's
  ``predict`` default is no threshold (every blocked pair is returned); filtering ``predict`` at
  the clustering threshold gives the same clusters and spares writing pairs no one reads.
  Connected components at 0.95 chain family members and namesakes into large clusters on this
  data, which is why ``bench/dedupe.py`` also shows Splink's best threshold in hindsight.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from pathlib import Path
from typing import Any

import duckdb
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.blocking_rule_library import CustomRule

THRESHOLD = 0.95
"""Match probability at which pairs are clustered (Splink's 50k example; crmhub auto_merge)."""

PRIOR_RECALL = 0.7
"""Recall guessed for the deterministic rules, as in Splink's tutorial."""

U_MAX_PAIRS = 1e7
"""Random pairs for the u estimates: the "at least 10 million" of Splink's tutorial."""

# Street suffixes written out, per the prerequisites' "replace abbreviations with full words".
_STREET_WORDS = {
    "st": "street", "ave": "avenue", "rd": "road", "dr": "drive", "ln": "lane", "ct": "court",
    "pl": "place", "blvd": "boulevard", "apt": "apartment",
}  # fmt: skip

_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%d.%m.%Y")
"""The sources' date formats; all become ISO ``yyyy-mm-dd`` as the prerequisites ask."""


def _text(column: str) -> str:
    """SQL: folded text -- lower-case, no accents, letters/digits/spaces only, blank -> NULL."""
    cleaned = f"regexp_replace(lower(strip_accents({column})), '[^a-z0-9 ]+', '', 'g')"
    return f"nullif(trim(regexp_replace({cleaned}, ' +', ' ', 'g')), '')"


def cleaning_sql(path: Path) -> str:
    """SQL that reads the CSV as text and applies Splink's documented data prerequisites."""
    street = _text("street")
    for short, long in _STREET_WORDS.items():
        street = f"regexp_replace({street}, '\\b{short}\\b', '{long}', 'g')"
    dates = ", ".join(f"try_strptime(trim(birth_date), '{f}')" for f in _DATE_FORMATS)
    return f"""
        select
            source || '/' || source_id as unique_id,
            source,
            source_id,
            {_text("first_name")} as first_name,
            {_text("last_name")} as last_name,
            {_text("first_name")} || ' ' || {_text("last_name")} as full_name,
            nullif(lower(trim(email)), '') as email,
            nullif(right(regexp_replace(phone, '[^0-9]', '', 'g'), 10), '') as phone,
            strftime(coalesce({dates}), '%Y-%m-%d') as birth_date,
            {street} as street,
            nullif(upper(trim(postal_code)), '') as postal_code,
            {_text("company")} as company,
            nullif(trim(tax_id), '') as tax_id
        from read_csv({_quoted(path)}, header = true, all_varchar = true)
    """


def splink_settings() -> SettingsCreator:
    """The documented unsupervised dedupe model; blocking mirrors crmhub's DEFAULT_BLOCKING."""
    return SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("email"),
            block_on("phone"),
            block_on("first_name", "last_name"),
            block_on("substr(last_name, 1, 3)", "postal_code"),
            block_on("birth_date", "substr(last_name, 1, 3)"),
            block_on("birth_date", "substr(first_name, 1, 3)"),
            CustomRule(
                "l.first_name = r.last_name and l.last_name = r.first_name "
                "and substr(l.birth_date, 1, 4) = substr(r.birth_date, 1, 4)"
            ),
            block_on("tax_id"),
            block_on("birth_date", "postal_code"),
            block_on("street", "postal_code"),
        ],
        comparisons=[
            cl.ForenameSurnameComparison(
                "first_name", "last_name", forename_surname_concat_col_name="full_name"
            ),
            cl.EmailComparison("email"),
            cl.DamerauLevenshteinAtThresholds("phone", [1]),
            cl.DateOfBirthComparison("birth_date", input_is_string=True),
            cl.JaroWinklerAtThresholds("street", [0.95, 0.88]),
            cl.ExactMatch("postal_code").configure(term_frequency_adjustments=True),
            cl.ExactMatch("company").configure(term_frequency_adjustments=True),
            cl.ExactMatch("tax_id"),
        ],
        retain_intermediate_calculation_columns=False,
    )


def dedupe_with_splink(
    input_csv: Path,
    output_csv: Path,
    threshold: float = THRESHOLD,
    u_max_pairs: float = U_MAX_PAIRS,
    edges_path: Path | None = None,
) -> dict[str, Any]:
    """Read, clean, train, predict, cluster and write; returns the figures of the run.

    Seconds and peak RSS cover exactly that work. `edges_path`, when given, then receives the
    scored pairs (``unique_id_l, unique_id_r, match_probability``, all >= `threshold`) as
    Parquet, so the benchmark can cluster them at stricter thresholds and show what Splink
    would score with a threshold picked in hindsight; that export is outside the figures.
    """
    timings: dict[str, float] = {}
    started = mark = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        timings[stage] = round(now - mark, 3)
        mark = now

    con = duckdb.connect()
    con.execute(f"create table customers as {cleaning_sql(input_csv)}")
    lap("read+clean")
    db_api = DuckDBAPI(connection=con)
    linker = Linker(db_api.register("customers"), splink_settings(), log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [
            block_on("email"),
            block_on("first_name", "last_name", "birth_date"),
            block_on("phone", "last_name"),
        ],
        recall=PRIOR_RECALL,
    )
    lap("prior")
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs)
    lap("u sampling")
    for rule in (block_on("first_name", "last_name"), block_on("birth_date")):
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True
        )
    lap("em")
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    lap("predict")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    )
    lap("cluster")
    con.execute(
        f"copy (select source, source_id, cluster_id from {clusters.physical_name}) "
        f"to {_quoted(output_csv)} (header, delimiter ',')"
    )
    lap("write")
    seconds = round(time.perf_counter() - started, 3)
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process alone, not its parent
    peak_mb, cpu_seconds = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime  # KiB
    counted = con.execute(
        f"select count(*), count(distinct cluster_id) from {clusters.physical_name}"
    ).fetchone()
    pairs = con.execute(f"select count(*) from {predictions.physical_name}").fetchone()
    if edges_path is not None:
        con.execute(
            f"copy (select unique_id_l, unique_id_r, match_probability "
            f"from {predictions.physical_name}) to {_quoted(edges_path)} (format parquet)"
        )
    return {
        "seconds": seconds,
        "timings": timings,
        "peak_mb": round(peak_mb, 1),
        "cpu_seconds": round(cpu_seconds, 3),
        "rows": int(counted[0]) if counted else 0,
        "clusters": int(counted[1]) if counted else 0,
        "match_pairs": int(pairs[0]) if pairs else 0,
        "threshold": threshold,
        "u_max_pairs": u_max_pairs,
        "splink_version": _splink_version(),
    }


def _quoted(path: Path) -> str:
    """A path as a DuckDB string literal."""
    return "'" + str(path).replace("'", "''") + "'"


def _splink_version() -> str:
    import splink

    return str(splink.__version__)


def main() -> None:
    """Run on INPUT, write OUTPUT, print the figures as one JSON line."""
    parser = argparse.ArgumentParser(description="Splink 5 dedupe of a crmhub benchmark CSV")
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--threshold", type=float, default=THRESHOLD)
    parser.add_argument("--u-max-pairs", type=float, default=U_MAX_PAIRS)
    parser.add_argument("--edges", type=Path, help="also write the scored pairs as Parquet")
    args = parser.parse_args()
    figures = dedupe_with_splink(
        args.input, args.output, args.threshold, args.u_max_pairs, args.edges
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
