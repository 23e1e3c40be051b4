"""The matching engine: normalise -> block -> compare -> score -> cluster, with evidence.

`match_records` is the one entry point the golden-record step and `crmhub dedupe` call. It takes
records in canonical field names (raw values) and returns every record's cluster plus the scored
pairs with the reasons for their scores, which become ``match_evidence`` rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from crmhub.matching.blocking import CandidatePairs, generate_pairs
from crmhub.matching.clustering import cluster_guarded
from crmhub.matching.comparisons import (
    Comparison,
    RecordValues,
    compare_pairs,
    compile_comparisons,
)
from crmhub.matching.normalize import normalize_frame
from crmhub.matching.scoring import MatchModel, pattern_index, score_levels, weight_to_probability
from crmhub.matching.settings import MatchingSettings
from crmhub.matching.term_frequency import tf_adjustments
from crmhub.matching.training import (
    candidate_labels,
    check_model,
    label_positions,
    train_model,
)

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner

logger = logging.getLogger(__name__)

PAIR_COLUMNS = ("left_id", "right_id", "weight", "probability", "decision", "rule", "evidence")


@dataclass(frozen=True)
class MatchResult:
    """What matching decided.

    Attributes:
        clusters: DataFrame[record_id, cluster]: every input record once; cluster is an int label
            (the smallest record_id of the cluster), singletons included.
        pairs: DataFrame[left_id, right_id, weight, probability, decision, rule, evidence]:
            scored candidate pairs (``left_id < right_id``); all ``match`` and ``review`` pairs,
            plus the ``non_match`` ones when asked for. ``evidence`` is a JSON list of
            ``{"comparison", "level", "weight"}``.
        model: the fitted m/u parameters (`MatchModel.describe()` shows them).
        timings: seconds per stage, for benchmarks and run summaries.
    """

    clusters: pd.DataFrame
    pairs: pd.DataFrame
    model: MatchModel | None = None
    timings: dict[str, float] = field(default_factory=dict)


def match_records(
    records: pd.DataFrame,
    settings: MatchingSettings | None = None,
    *,
    keep_non_matches: bool = False,
    task_runner: TaskRunner[Any] | None = None,
    labels: pd.DataFrame | None = None,
    model: MatchModel | None = None,
    evidence: bool = True,
) -> MatchResult:
    """Cluster `records` (columns record_id, source and any canonical identity fields).

    Args:
        records: one row per source record; ``record_id`` must be unique integers.
        settings: the ``matching:`` block; defaults need no configuration.
        keep_non_matches: also return pairs scored below the review threshold.
        task_runner: a Prefect task runner (e.g. ``prefect_dask.DaskTaskRunner``) to compare
            the pairs on, in ``settings.partitions`` chunks; None compares them in process
            unless ``settings.partitions`` > 1.
        labels: steward decisions, DataFrame[left_id, right_id, is_match] in record ids, that
            refine the learnt model (`training`).
        model: a saved model to score with instead of learning one (same comparisons and rules).
        evidence: build the per-pair evidence JSON; a flat-file dedupe, which stores no
            evidence, saves the memory (half a gigabyte at a million records) by passing False.
    """
    settings = settings or MatchingSettings()
    record_ids = _record_ids(records)
    clock = _Clock()
    normalized = normalize_frame(
        records.reset_index(drop=True),
        default_region=settings.default_region,
        dayfirst=settings.dayfirst,
    )
    clock.lap("normalize")
    values = RecordValues(normalized)
    candidates = generate_pairs(values, settings.blocking, settings.max_block_size)
    clock.lap("block")
    comparisons = compile_comparisons(settings.comparisons)
    levels = _levels(values, candidates, comparisons, settings.partitions, task_runner)
    clock.lap("compare")
    known = None if labels is None else label_positions(record_ids, labels)
    if model is None:
        model = train_model(values, levels, candidates, comparisons, settings, known)
    else:
        model = check_model(model, comparisons, candidates.rule_labels)
    clock.lap("em")
    adjustments = tf_adjustments(
        values, candidates.left, candidates.right, levels, candidates.rule, comparisons
    )
    weights = score_levels(levels, model, candidates.rule) + adjustments.sum(axis=1)
    probability = weight_to_probability(weights)
    clock.lap("score")
    steward, unblocked = np.full(len(candidates), -1, np.int8), None
    if known is not None:
        steward, found = candidate_labels(candidates, known, len(record_ids))
        unblocked = known[~found]
    scored = _Scored(candidates, levels, adjustments, weights, probability, steward)
    clusters, held_back = _cluster(record_ids, scored, comparisons, settings, unblocked, values)
    clock.lap("cluster")
    pairs = _pair_frame(record_ids, scored, held_back, model, settings, keep_non_matches, evidence)
    clock.lap("evidence")
    logger.info(
        "matched %d records: %d candidate pairs, %d accepted, %d clusters",
        len(record_ids),
        len(candidates),
        int((probability >= settings.thresholds.auto_merge).sum()),
        clusters["cluster"].nunique(),
    )
    return MatchResult(clusters=clusters, pairs=pairs, model=model, timings=clock.laps)


def _levels(
    values: RecordValues,
    candidates: CandidatePairs,
    comparisons: list[Comparison],
    partitions: int,
    task_runner: TaskRunner[Any] | None,
) -> np.ndarray:
    """The candidates' level matrix: in process, or in partitions on a Prefect task runner
    (imported only then: Prefect costs a second of start-up a plain dedupe does not need)."""
    if partitions <= 1 and task_runner is None:
        return compare_pairs(values, candidates.left, candidates.right, comparisons)
    from crmhub.matching.partitioned import levels_for

    return levels_for(
        candidates, values, comparisons, partitions=partitions, task_runner=task_runner
    )


def _record_ids(records: pd.DataFrame) -> np.ndarray:
    if "record_id" not in records.columns:
        raise ValueError("records need a 'record_id' column")
    ids = pd.to_numeric(records["record_id"], errors="raise").to_numpy(dtype=np.int64)
    if pd.Index(ids).has_duplicates:
        raise ValueError("record_id values must be unique")
    return ids


DECISIONS = ("match", "review", "non_match")


def decision_codes(probability: np.ndarray, settings: MatchingSettings) -> np.ndarray:
    """Index into `DECISIONS` per pair from the two probability thresholds."""
    codes = np.full(len(probability), 2, dtype=np.int8)
    codes[probability >= settings.thresholds.review] = 1
    codes[probability >= settings.thresholds.auto_merge] = 0
    return codes


def decide(probability: np.ndarray, settings: MatchingSettings) -> np.ndarray:
    """'match' / 'review' / 'non_match' per pair from the two probability thresholds."""
    return np.asarray(DECISIONS, dtype=object)[decision_codes(probability, settings)]


STABLE_COLUMNS = frozenset({"first_name", "birth_date", "tax_id"})
"""Fields a person does not change: a pair that disagrees outright on one of them (not a typo,
not a nickname) and scores below ``cannot_link`` is two people. E-mail, phone and address do
change, so a pair of one person's old and new records may disagree on all of them."""


def _differ_for_good(levels: np.ndarray, comparisons: Sequence[Comparison]) -> np.ndarray:
    """Pairs at the ``else`` level of a comparison on a `STABLE_COLUMNS` field."""
    out = np.zeros(len(levels), dtype=bool)
    for k, comparison in enumerate(comparisons):
        if comparison.column in STABLE_COLUMNS:
            out |= levels[:, k] == len(comparison.levels) - 1
    return out


@dataclass(frozen=True)
class _Scored:
    """Every candidate pair with its levels, term-frequency bits, total weight and probability."""

    candidates: CandidatePairs
    levels: np.ndarray
    adjustments: np.ndarray
    weights: np.ndarray
    probability: np.ndarray
    steward: np.ndarray
    """Per pair: 1 a steward said match, 0 not a match, -1 no decision."""


def _cluster(
    record_ids: np.ndarray,
    scored: _Scored,
    comparisons: list[Comparison],
    settings: MatchingSettings,
    unblocked: pd.DataFrame | None,
    values: RecordValues,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Clusters from the accepted pairs, steward decisions first: a labelled match is merged
    whatever its score, a labelled non-match never (not even through a chain); `unblocked` are
    the decisions about pairs no rule found. Returns the clusters and the mask of pairs held
    back by the chain guard (sent to review)."""
    candidates, probability, steward = scored.candidates, scored.probability, scored.steward
    accepted = ((probability >= settings.thresholds.auto_merge) | (steward == 1)) & (steward != 0)
    apart = (probability < settings.thresholds.cannot_link) & _differ_for_good(
        scored.levels, comparisons
    )
    apart = (apart & (steward != 1)) | (steward == 0)
    weights = np.where(steward == 1, np.inf, scored.weights)
    left, right = candidates.left[accepted], candidates.right[accepted]
    cannot_left, cannot_right = candidates.left[apart], candidates.right[apart]
    if unblocked is not None:
        same, other = unblocked[unblocked["is_match"]], unblocked[~unblocked["is_match"]]
        left = np.concatenate([left, same["left"].to_numpy(np.int64)])
        right = np.concatenate([right, same["right"].to_numpy(np.int64)])
        cannot_left = np.concatenate([cannot_left, other["left"].to_numpy(np.int64)])
        cannot_right = np.concatenate([cannot_right, other["right"].to_numpy(np.int64)])
    edge_weights = np.concatenate([weights[accepted], np.full(len(left) - accepted.sum(), np.inf)])
    content = values.content_hash()  # equal weights resolve by content, not input order
    low, high = np.minimum(content[left], content[right]), np.maximum(content[left], content[right])
    ties = np.lexsort((high, low)).argsort()
    clusters, refused = cluster_guarded(
        record_ids, left, right, edge_weights, cannot_left, cannot_right, ties
    )
    if refused.any():
        logger.info(
            "%d accepted pair(s) left out and sent to review: they would chain two different "
            "people",
            int(refused.sum()),
        )
    held_back = np.zeros(len(candidates), dtype=bool)
    held_back[np.flatnonzero(accepted)[refused[: int(accepted.sum())]]] = True
    return clusters, held_back


def _pair_frame(
    record_ids: np.ndarray,
    scored: _Scored,
    held_back: np.ndarray,
    model: MatchModel,
    settings: MatchingSettings,
    keep_non_matches: bool,
    with_evidence: bool = True,
) -> pd.DataFrame:
    candidates, weights, probability = scored.candidates, scored.weights, scored.probability
    decision = decision_codes(probability, settings)
    decision[held_back] = DECISIONS.index("review")
    decision[scored.steward == 1] = DECISIONS.index("match")
    decision[scored.steward == 0] = DECISIONS.index("non_match")
    keep = np.ones(len(decision), bool) if keep_non_matches else decision < 2
    left_id, right_id = record_ids[candidates.left[keep]], record_ids[candidates.right[keep]]
    swap = left_id > right_id
    labels = (*candidates.rule_labels, "")
    low, high = np.where(swap, right_id, left_id), np.where(swap, left_id, right_id)
    order = np.lexsort((high, low))
    kept = np.flatnonzero(keep)[order]
    # categoricals and an object column: a few distinct labels need no per-row string objects
    return pd.DataFrame(
        {
            "left_id": low[order],
            "right_id": high[order],
            "weight": weights[kept],
            "probability": probability[kept],
            "decision": _categorical(decision[kept], DECISIONS),
            "rule": _categorical(candidates.rule[kept], labels),
            "evidence": pd.Series(
                evidence_json(
                    scored.levels[kept], candidates.rule[kept], model, scored.adjustments[kept]
                )
                if with_evidence
                else np.full(len(kept), None, dtype=object),
                dtype=object,
            ),
        }
    )


def _categorical(codes: np.ndarray, labels: Sequence[str]) -> pd.Categorical:
    """Labels by index as a categorical (repeated labels share one category)."""
    categories = list(dict.fromkeys(labels))
    remap = np.array([categories.index(label) for label in labels], dtype=np.int64)
    return pd.Categorical.from_codes(remap[np.asarray(codes, dtype=np.int64)], categories)


def evidence_json(
    levels: np.ndarray,
    strata: np.ndarray,
    model: MatchModel,
    adjustments: np.ndarray | None = None,
) -> np.ndarray:
    """Evidence JSON per pair: ``{"comparison", "level", "weight"}`` per comparison, then one
    ``{"comparison", "level": "term_frequency", "weight"}`` item per term-frequency adjusted
    comparison (bits to 0.1), so the items plus the rule's prior add up to the pair's total.

    The comparison items are built once per distinct (rule, level pattern), the adjustment items
    once per distinct value; pairs get them by index, never by formatting a pair at a time.
    """
    if levels.shape[0] == 0:
        return np.empty(0, dtype=object)
    first, inverse, _ = pattern_index(levels, strata)
    weights = model.level_weights()
    stems = np.empty(len(first), dtype=object)
    for p, row in enumerate(first):
        stratum = int(strata[row])
        stems[p] = orjson.dumps(
            [
                {
                    "comparison": c.label,
                    "level": c.levels[level],
                    "weight": round(float(weights[k][stratum, level]), 3),
                }
                for k, (c, level) in enumerate(zip(model.comparisons, levels[row], strict=True))
            ]
        ).decode()[:-1]
    texts = stems[inverse]
    if adjustments is not None:
        tenths = np.round(np.asarray(adjustments, np.float64) * 10).astype(np.int64)
        for k in np.flatnonzero(tenths.any(axis=0)):
            texts = texts + _tf_items(model.comparisons[k].label, tenths[:, k])
    return texts + "]"


def _tf_items(label: str, tenths: np.ndarray) -> np.ndarray:
    """',{...term_frequency item...}' per pair ('' where the adjustment rounds to 0)."""
    distinct, inverse = np.unique(tenths, return_inverse=True)
    items = np.array(
        [
            ","
            + orjson.dumps(
                {"comparison": label, "level": "term_frequency", "weight": float(t) / 10}
            ).decode()
            if t
            else ""
            for t in distinct
        ],
        dtype=object,
    )
    return items[inverse.reshape(-1)]


class _Clock:
    """Seconds spent per stage."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = round(now - self._last, 3)
        self._last = now
