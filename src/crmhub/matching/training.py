"""Training the match model: u from random pairs, then EM, refined by labelled pairs if any.

Labels are steward decisions ("these two are one customer", "these two are not"). Where a
labelled pair is a candidate pair, EM takes its class as given instead of guessing it; a
labelled pair no blocking rule found is compared too and joins the fit in a stratum of its own
(``labelled``), where it teaches the shared m what a confirmed match looks like. A hub with a
few hundred decisions thus learns from them, and one with none learns without.

A saved model (`MatchModel.to_dict`) can be used instead of training, when it was learnt with
the same comparisons and blocking rules (`check_model`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmhub.errors import CrmhubError
from crmhub.matching.blocking import CandidatePairs
from crmhub.matching.comparisons import Comparison, RecordValues, compare_pairs
from crmhub.matching.scoring import MatchModel, estimate_u, fit_model, forced_comparisons
from crmhub.matching.settings import MatchingSettings

logger = logging.getLogger(__name__)

LABELLED_STRATUM = "labelled"
"""Stratum of labelled pairs that no blocking rule found (fit only, never scored)."""


def label_positions(record_ids: np.ndarray, labels: pd.DataFrame) -> pd.DataFrame:
    """Labels as record positions: DataFrame[left, right, is_match] with left < right.

    Args:
        labels: DataFrame[left_id, right_id, is_match] in record ids; a pair naming an unknown
            record is dropped with a warning (a decision about a record since deleted).
    """
    missing = {"left_id", "right_id", "is_match"} - set(labels.columns)
    if missing:
        raise ValueError(f"labels need columns left_id, right_id, is_match; missing {missing}")
    index = pd.Index(record_ids)
    left = index.get_indexer(pd.to_numeric(labels["left_id"]))
    right = index.get_indexer(pd.to_numeric(labels["right_id"]))
    known = (left >= 0) & (right >= 0) & (left != right)
    if not known.all():
        logger.warning("%d labelled pair(s) name records not in this run", int((~known).sum()))
    out = pd.DataFrame(
        {
            "left": np.minimum(left, right)[known],
            "right": np.maximum(left, right)[known],
            "is_match": labels["is_match"].astype(bool).to_numpy()[known],
        }
    )
    return out.drop_duplicates(["left", "right"], keep="last").reset_index(drop=True)


@dataclass(frozen=True)
class _FitInput:
    """What EM fits: a level row, stratum and known class (-1 unknown) per pair."""

    levels: np.ndarray
    strata: np.ndarray
    known: np.ndarray
    strata_labels: tuple[str, ...]
    ignored: np.ndarray


def train_model(
    values: RecordValues,
    levels: np.ndarray,
    candidates: CandidatePairs,
    comparisons: list[Comparison],
    settings: MatchingSettings,
    labels: pd.DataFrame | None = None,
) -> MatchModel:
    """Fit the model on the candidates' levels; `labels` from `label_positions` refine it."""
    u = estimate_u(values, comparisons, settings.u_sample_pairs, settings.random_seed)
    data = _FitInput(
        levels,
        candidates.rule.astype(np.int64),
        np.full(len(candidates), -1, np.int8),
        candidates.rule_labels,
        forced_comparisons(settings.blocking, comparisons),
    )
    if labels is not None and len(labels):
        data = _with_labels(data, values, candidates, comparisons, labels)
    model = fit_model(
        data.levels,
        comparisons,
        u,
        strata=data.strata,
        strata_labels=data.strata_labels,
        max_iterations=settings.em_max_iterations,
        ignored=data.ignored,
        labels=data.known,
    )
    logger.debug(
        "match model (priors %s)", dict(zip(model.strata, model.prior.round(4), strict=True))
    )
    return model


def candidate_labels(
    candidates: CandidatePairs, labels: pd.DataFrame, n_records: int
) -> tuple[np.ndarray, np.ndarray]:
    """(per candidate pair: 1 labelled match, 0 labelled non-match, -1 unknown; bool mask over
    `labels`: the labelled pairs that are candidates)."""
    n = np.int64(n_records)
    code = candidates.left.astype(np.int64) * n + candidates.right
    order = np.argsort(code)
    wanted = labels["left"].to_numpy(np.int64) * n + labels["right"].to_numpy(np.int64)
    at = np.minimum(np.searchsorted(code, wanted, sorter=order), max(len(code) - 1, 0))
    found = code[order[at]] == wanted if len(code) else np.zeros(len(wanted), bool)
    known = np.full(len(candidates), -1, np.int8)
    known[order[at[found]]] = labels["is_match"].to_numpy()[found]
    return known, found


def _with_labels(
    data: _FitInput,
    values: RecordValues,
    candidates: CandidatePairs,
    comparisons: list[Comparison],
    labels: pd.DataFrame,
) -> _FitInput:
    """Fix the class of labelled candidates; add the other labelled pairs in their own stratum."""
    known, found = candidate_labels(candidates, labels, len(values))
    extra = labels[~found]
    extra_levels = compare_pairs(
        values, extra["left"].to_numpy(), extra["right"].to_numpy(), comparisons
    )
    logger.info("learning from %d labelled pair(s), %d found by blocking", len(labels), found.sum())
    return _FitInput(
        np.concatenate([data.levels, extra_levels]),
        np.concatenate([data.strata, np.full(len(extra), len(data.strata_labels), np.int64)]),
        np.concatenate([known, extra["is_match"].to_numpy().astype(np.int8)]),
        (*data.strata_labels, LABELLED_STRATUM),
        np.vstack([data.ignored, np.zeros((1, len(comparisons)), bool)]),
    )


def check_model(
    model: MatchModel, comparisons: list[Comparison], rule_labels: tuple[str, ...]
) -> MatchModel:
    """`model` if it was learnt with these comparisons and blocking rules, else a clear error."""
    if tuple(model.comparisons) != tuple(comparisons):
        raise CrmhubError(
            "the saved model was learnt with other comparisons than matching.comparisons: "
            "retrain it (crmhub dedupe --model-out) or use the comparisons it was learnt with"
        )
    rules = tuple(s for s in model.strata if s != LABELLED_STRATUM)
    if rules != tuple(rule_labels):
        raise CrmhubError(
            "the saved model was learnt with other blocking rules "
            f"({', '.join(model.strata)}) than matching.blocking ({', '.join(rule_labels)})"
        )
    return model
