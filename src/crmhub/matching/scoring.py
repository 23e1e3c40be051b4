"""Fellegi-Sunter scoring: per-level match weights learnt without labels.

For each comparison level, ``m`` is how often records of the *same* customer land on it and
``u`` how often records of *different* customers do. A level's weight is ``log2(m/u)``; a pair's
total weight is its prior log-odds plus the sum of its levels' weights, and its match probability
is ``2^w / (1 + 2^w)``. ``null`` levels weigh 0.

``u`` is first estimated from random record pairs (nearly all non-matches), as Splink does.
Candidate pairs are not random pairs, though: blocking on last name + postcode brings in the
relatives who share an address and a landline, blocking on the full name brings in namesakes.
So EM fits u and the prior *per blocking rule* (the rule that found the pair is its stratum;
m is shared by all rules), with u starting from and shrunk towards the random-pair u: a rule
with few non-matches borrows strength from random pairs, not from the other rules, whose EM
non-match class, in a rule that finds almost only matches, is matches with noisy fields. Within
the last-name+postcode stratum a shared street is weak evidence; within the full-name stratum it
is strong: one global u cannot say both.

A comparison on a field the stratum's own rule forces to agree (`forced_comparisons`) is left
out of that stratum, in EM and in scoring: inside the first-name+last-name stratum every pair,
match or not, agrees on the name, so that agreement says nothing the stratum's prior does not
already say. Counting it as well (as a weight learnt against the random-pair u) would count the
name twice and merge two namesakes who share nothing else.

EM runs on distinct (stratum, level pattern) rows with counts, so fitting millions of pairs costs
a few thousand rows of arithmetic per iteration.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crmhub.matching.comparisons import Comparison, RecordValues, compare_pairs
from crmhub.matching.settings import BlockingRule, rule_columns

logger = logging.getLogger(__name__)

_PSEUDO_COUNT = 1.0
"""Added to every level count so an unseen level gets a large but finite weight."""

_SHRINKAGE = 20.0
"""How many pairs' worth of the random-pair u each rule's u estimate starts from, at least."""

_SHRINKAGE_SHARE = 0.05
"""...and at least this share of the rule's pairs: a rule that finds almost only matches (equal
e-mail) has a handful of non-matches among 400,000 pairs, too few to learn a u from; without a
prior in proportion, EM splits the matches into two classes and calls one the non-matches
(measured at 1 M records: u of an equal first name 0.82 in the e-mail rule, recall 0.95 -> 0.85).
A rule with many non-matches (a shared landline: relatives) still learns its own u."""

_MIN_PRIOR, _MAX_PRIOR = 1e-6, 0.999

MODEL_FORMAT = "crmhub-match-model/1"
"""Tag of a saved model's JSON, so a file of another kind is refused, not misread."""


@dataclass(frozen=True)
class MatchModel:
    """Trained parameters. ``m[k]``/``u[k]``: (strata x levels) arrays for comparison k
    (column 0, the null level, is unused); ``prior``: match share per stratum; ``ignored``:
    (strata x comparisons), True where the stratum's rule forces the comparison's field to agree
    (it then weighs 0 there); None = nothing ignored."""

    comparisons: tuple[Comparison, ...]
    strata: tuple[str, ...]
    m: tuple[np.ndarray, ...]
    u: tuple[np.ndarray, ...]
    prior: np.ndarray
    iterations: int
    converged: bool
    ignored: np.ndarray | None = None

    def prior_weights(self) -> np.ndarray:
        """log2 prior odds of a candidate pair being a match, per stratum."""
        return np.log2(self.prior / (1.0 - self.prior))

    def level_weights(self) -> list[np.ndarray]:
        """log2(m/u) per comparison as (strata x levels); the null level weighs 0."""
        out = []
        for k, (m, u) in enumerate(zip(self.m, self.u, strict=True)):
            weights = np.log2(m / u)
            weights[:, 0] = 0.0
            # EM on a lopsided stratum can learn nonsense signs; agreement on the exact value
            # is never evidence against a match, and disagreement never evidence for one.
            weights[:, 1] = np.maximum(weights[:, 1], 0.0)
            weights[:, -1] = np.minimum(weights[:, -1], 0.0)
            if self.ignored is not None:
                weights[self.ignored[:, k], :] = 0.0
            out.append(weights)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The model as plain JSON-able data: readable, diffable, and never a pickle."""
        from crmhub.matching.comparisons import comparison_kind

        return {
            "format": MODEL_FORMAT,
            "strata": list(self.strata),
            "prior": self.prior.tolist(),
            "iterations": self.iterations,
            "converged": self.converged,
            "comparisons": [
                {
                    "kind": comparison_kind(comparison),
                    "settings": dataclasses.asdict(comparison),
                    "levels": list(comparison.levels),
                    "m": self.m[k].tolist(),
                    "u": self.u[k].tolist(),
                    "ignored_in": [
                        self.strata[s]
                        for s in range(len(self.strata))
                        if self.ignored is not None and self.ignored[s, k]
                    ],
                }
                for k, comparison in enumerate(self.comparisons)
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MatchModel:
        """A model saved by `to_dict`; a file of another format or shape is refused."""
        from crmhub.matching.comparisons import comparison_of_kind

        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a crmhub match model (format {data.get('format')!r})")
        strata = tuple(data["strata"])
        comparisons, m, u = [], [], []
        ignored = np.zeros((len(strata), len(data["comparisons"])), dtype=bool)
        for k, item in enumerate(data["comparisons"]):
            comparison = comparison_of_kind(item["kind"], item["settings"])
            if list(comparison.levels) != item["levels"]:
                raise ValueError(f"comparison {comparison.label!r}: levels do not match")
            comparisons.append(comparison)
            m.append(np.asarray(item["m"], dtype=np.float64))
            u.append(np.asarray(item["u"], dtype=np.float64))
            for stratum in item.get("ignored_in", []):
                ignored[strata.index(stratum), k] = True
        return cls(
            tuple(comparisons),
            strata,
            tuple(m),
            tuple(u),
            np.asarray(data["prior"], dtype=np.float64),
            int(data["iterations"]),
            bool(data["converged"]),
            ignored,
        )

    def describe(self) -> pd.DataFrame:
        """One row per stratum, comparison and level with m, u and weight: what was learnt."""
        rows = []
        weights = self.level_weights()
        for s, stratum in enumerate(self.strata):
            for k, comparison in enumerate(self.comparisons):
                for index, label in enumerate(comparison.levels[1:], start=1):
                    rows.append(
                        {
                            "rule": stratum,
                            "comparison": comparison.label,
                            "level": label,
                            "m": self.m[k][s, index],
                            "u": self.u[k][s, index],
                            "weight": weights[k][s, index],
                        }
                    )
        return pd.DataFrame(rows)


_IDENTIFIER_COLUMNS = frozenset({"email", "phone", "tax_id"})
"""Fields that (nearly) identify a person: a rule on one of them finds almost only matches, so
its stratum has no non-match class for EM to learn from. Left out of such a stratum, the other
fields make EM invent one (customers who moved house, measured: recall 0.96 -> 0.82 on
bench/dedupe.py), so these keep counting there; the stratum's prior is near 1 either way."""


def forced_comparisons(
    rules: Sequence[Sequence[str] | BlockingRule], comparisons: Sequence[Comparison]
) -> np.ndarray:
    """(rules x comparisons) True where the rule's keys force the comparison's field to agree
    and the field is not an identifier (`_IDENTIFIER_COLUMNS`): to be left out of the rule's
    stratum."""
    forced = [rule_columns(rule) - _IDENTIFIER_COLUMNS for rule in rules]
    return np.array(
        [[c.column in columns for c in comparisons] for columns in forced], dtype=bool
    ).reshape(len(rules), len(comparisons))


def _smoothed(counts: np.ndarray) -> np.ndarray:
    """Level probabilities from counts (last axis = levels); the null column is set to 1."""
    probabilities = np.array(counts, dtype=np.float64) + _PSEUDO_COUNT
    probabilities[..., 0] = 0.0
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    probabilities[..., 0] = 1.0
    return probabilities


def estimate_u(
    records: RecordValues, comparisons: Sequence[Comparison], n_pairs: int, seed: int
) -> tuple[np.ndarray, ...]:
    """u per comparison level from `n_pairs` random record pairs (seeded, so reproducible).

    Positions are drawn in the order of the records' content hashes, not their input order, so
    the same records in another order give the same sample.
    """
    n = len(records.frame)
    if n < 2:
        return tuple(_smoothed(np.zeros(len(c.levels))) for c in comparisons)
    rng = np.random.default_rng(seed)
    size = int(min(n_pairs, n * (n - 1) // 2))
    order = np.argsort(records.content_hash(), kind="stable")
    first = rng.integers(0, n, size=size)
    left = order[first]
    right = order[(first + rng.integers(1, n, size=size)) % n]  # never equal to left
    levels = compare_pairs(records, left, right, comparisons)
    return tuple(
        _smoothed(np.bincount(levels[:, k], minlength=len(c.levels)))
        for k, c in enumerate(comparisons)
    )


def pattern_index(
    levels: np.ndarray, strata: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (stratum, level pattern) rows: (first row of each, inverse per pair, counts)."""
    code = np.asarray(strata, dtype=np.int64).copy()
    for k in range(levels.shape[1]):
        code = code * (int(levels[:, k].max(initial=0)) + 1) + levels[:, k]
    _, first, inverse, counts = np.unique(
        code, return_index=True, return_inverse=True, return_counts=True
    )
    return first, inverse.reshape(-1), counts.astype(np.float64)


def _initial_m(n_levels: int) -> np.ndarray:
    """Most matches agree exactly, fewer at each weaker level, few disagree."""
    m = np.zeros(n_levels)
    m[1:] = 0.5 ** np.arange(n_levels - 1)
    m[-1] = 0.05
    return _smoothed(m * 1000)


@dataclass
class _Fit:
    """EM state over the pattern rows."""

    patterns: np.ndarray  # (rows x comparisons) level indexes
    strata: np.ndarray  # stratum of each row
    counts: np.ndarray  # pairs per row
    n_strata: int
    ignored: np.ndarray  # (strata x comparisons) comparisons left out per stratum

    def used(self, k: int) -> np.ndarray:
        """1.0 for the rows whose stratum uses comparison k, else 0.0."""
        return (~self.ignored[self.strata, k]).astype(np.float64)

    def posterior(self, m: list[np.ndarray], u: list[np.ndarray], prior: np.ndarray) -> np.ndarray:
        log_ratio = np.log(prior / (1.0 - prior))[self.strata]
        for k in range(self.patterns.shape[1]):
            level = self.patterns[:, k]
            ratio = np.log(m[k][self.strata, level]) - np.log(u[k][self.strata, level])
            log_ratio += ratio * self.used(k)
        return 1.0 / (1.0 + np.exp(-np.clip(log_ratio, -700, 700)))

    def level_table(
        self, k: int, n_levels: int, weights: np.ndarray, towards: np.ndarray
    ) -> np.ndarray:
        """(strata x levels) probabilities of comparison k, shrunk towards `towards` (levels)."""
        table = np.zeros((self.n_strata, n_levels))
        np.add.at(table, (self.strata, self.patterns[:, k]), weights * self.used(k))
        table[:, 0] = 0.0
        base = np.array(towards, dtype=np.float64)
        base[0] = 0.0
        base /= base.sum()
        strength = np.maximum(_SHRINKAGE, _SHRINKAGE_SHARE * self.stratum_counts())
        return _smoothed(table + strength[:, None] * base - _PSEUDO_COUNT)

    def stratum_counts(self) -> np.ndarray:
        """Pairs per stratum."""
        return np.bincount(self.strata, weights=self.counts, minlength=self.n_strata)

    def shared_table(self, k: int, n_levels: int, weights: np.ndarray) -> np.ndarray:
        """(strata x levels) m of comparison k: one distribution for all strata, restricted in
        each stratum to the levels that occur there (a pair found by a later rule cannot have
        an equal e-mail if an e-mail rule came first) and renormalised."""
        counts = np.bincount(
            self.patterns[:, k], weights=weights * self.used(k), minlength=n_levels
        )
        pooled: np.ndarray = np.tile(_smoothed(counts), (self.n_strata, 1))
        seen = np.zeros((self.n_strata, n_levels))
        np.add.at(seen, (self.strata, self.patterns[:, k]), self.counts)
        seen[self.ignored[:, k], 1:] = 1.0  # unused there: keep the pooled m, never all-zero
        pooled[:, 1:] = np.where(seen[:, 1:] > 0, pooled[:, 1:], 1e-12)
        pooled[:, 1:] /= pooled[:, 1:].sum(axis=1, keepdims=True)
        return pooled

    def prior(self, matched: np.ndarray) -> np.ndarray:
        per = np.bincount(self.strata, weights=matched, minlength=self.n_strata)
        total = np.bincount(self.strata, weights=self.counts, minlength=self.n_strata)
        pooled = matched.sum() / max(self.counts.sum(), 1.0)
        return np.clip((per + _SHRINKAGE * pooled) / (total + _SHRINKAGE), _MIN_PRIOR, _MAX_PRIOR)


def fit_model(
    levels: np.ndarray,
    comparisons: Sequence[Comparison],
    u: Sequence[np.ndarray],
    *,
    strata: np.ndarray | None = None,
    strata_labels: Sequence[str] = ("all",),
    max_iterations: int = 100,
    tolerance: float = 1e-5,
    ignored: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> MatchModel:
    """Fit m, u and the prior per stratum by EM over the candidate pairs' level patterns.

    Args:
        levels: (pairs x comparisons) level indexes.
        u: per comparison, level probabilities from random pairs: the starting u.
        strata: stratum index (finding blocking rule) of each pair; None = one stratum.
        ignored: (strata x comparisons) True where the stratum's rule forces the comparison's
            field to agree (`forced_comparisons`): left out of that stratum's fit and score.
        labels: per pair, 1 = known match, 0 = known non-match, -1 = unknown (steward decisions):
            a labelled pair's class is fixed instead of guessed, so m, u and the prior learn from
            what a person decided (semi-supervised EM).
    """
    strata = np.zeros(len(levels), np.int64) if strata is None else np.asarray(strata, np.int64)
    n_strata = max(len(strata_labels), int(strata.max(initial=0)) + 1)
    known = np.full(len(levels), -1, np.int8) if labels is None else np.asarray(labels, np.int8)
    first, _, counts = pattern_index(np.column_stack([levels, known + 1]), strata)
    fixed = known[first].astype(np.float64)
    mask = np.zeros((n_strata, len(comparisons)), dtype=bool)
    if ignored is not None:
        given = np.asarray(ignored, dtype=bool)
        mask[: given.shape[0]] = given[:n_strata]
    fit = _Fit(levels[first], strata[first], counts, n_strata, mask)
    m = [np.tile(_initial_m(len(c.levels)), (n_strata, 1)) for c in comparisons]
    u_now = [np.tile(np.asarray(ui, dtype=np.float64), (n_strata, 1)) for ui in u]
    prior, converged, iteration = np.full(n_strata, 0.3), False, 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007
        guessed = fit.posterior(m, u_now, prior)
        matched = counts * np.where(fixed >= 0, fixed, guessed)
        new_m = [fit.shared_table(k, len(c.levels), matched) for k, c in enumerate(comparisons)]
        u_now = [
            fit.level_table(k, len(c.levels), counts - matched, u[k])
            for k, c in enumerate(comparisons)
        ]
        new_prior = fit.prior(matched)
        change = max(
            [float(np.abs(new_prior - prior).max())]
            + [float(np.abs(a - b).max()) for a, b in zip(new_m, m, strict=True)]
        )
        m, prior = new_m, new_prior
        if change < tolerance:
            converged = True
            break
    if not converged:
        logger.info("EM stopped after %d iterations without converging", iteration)
    labels = tuple(strata_labels) + tuple(str(i) for i in range(len(strata_labels), n_strata))
    return MatchModel(
        tuple(comparisons), labels, tuple(m), tuple(u_now), prior, iteration, converged, mask
    )


def score_levels(
    levels: np.ndarray, model: MatchModel, strata: np.ndarray | None = None
) -> np.ndarray:
    """Total log2 match weight (prior included) of every pair."""
    strata = np.zeros(len(levels), np.int64) if strata is None else np.asarray(strata, np.int64)
    total = model.prior_weights()[strata]
    for k, weights in enumerate(model.level_weights()):
        total = total + weights[strata, levels[:, k]]
    return total


def weight_to_probability(weight: np.ndarray) -> np.ndarray:
    """Match probability from a total log2 weight (prior included)."""
    return 1.0 / (1.0 + np.exp2(-np.clip(weight, -1000, 1000)))
