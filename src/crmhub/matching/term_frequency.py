"""Term-frequency adjustment: an equal rare value says more than an equal common one.

Two records that both say "Quarrington" are far likelier to be one person than two that both
say "Smith", yet a comparison's ``exact`` level has one weight for every value. Splink's answer,
used here too, adjusts the weight of an exact agreement by how common the agreed value is:
``log2(reference / tf(value))``, where ``tf(value)`` is the share of records (with a value)
that hold it.

The reference is the geometric mean of ``tf`` over the stratum's own exact agreements, so the
adjustments of a stratum average to zero in log space and the EM-learnt weight stays the
stratum's average: the adjustment only spreads it by rarity. That works in a stratum whose
blocking rule forces the field to agree too (where the level itself weighs 0): inside
"first name + last name" a rare name is still a better lead than a common one.

Adjustments are clipped (`MAX_BONUS`, `MAX_PENALTY`): a value seen once in a small file is not
infinitely telling, and a typo makes many values look unique.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crmhub.matching.comparisons import Comparison
from crmhub.matching.record_values import RecordValues

MAX_BONUS = 3.0
"""Most bits an exact agreement on a rare value can add (2^3 = 8 times the odds): less than
it may take away, because a wrong merge costs more than a missed one."""

MAX_PENALTY = 6.0
"""Most bits an exact agreement on a very common value can take away."""


def term_frequencies(values: RecordValues, column: str) -> np.ndarray:
    """Share of the records with a value in `column` that hold each distinct value (by code)."""
    codes, uniques = values.factor(column)
    present = codes[codes >= 0]
    counts = np.bincount(present, minlength=len(uniques)).astype(np.float64)
    return counts / max(len(present), 1)


def tf_adjustments(
    values: RecordValues,
    left: np.ndarray,
    right: np.ndarray,
    levels: np.ndarray,
    strata: np.ndarray,
    comparisons: Sequence[Comparison],
) -> np.ndarray:
    """(pairs x comparisons) bits added to each pair's weight; 0 where no adjustment applies.

    Applies to comparisons with ``term_frequency`` set, on pairs at their ``exact`` level.
    """
    out = np.zeros(levels.shape, dtype=np.float32)
    strata = np.asarray(strata, dtype=np.int64)
    n_strata = int(strata.max(initial=-1)) + 1
    for k, comparison in enumerate(comparisons):
        if not comparison.term_frequency or "exact" not in comparison.levels:
            continue
        exact = np.flatnonzero(levels[:, k] == comparison.levels.index("exact"))
        if len(exact) == 0:
            continue
        tf = term_frequencies(values, comparison.column)
        log_tf = np.log2(tf[values.codes(comparison.column)[left[exact]]])
        stratum = strata[exact]
        total = np.bincount(stratum, weights=log_tf, minlength=n_strata)
        count = np.bincount(stratum, minlength=n_strata)
        reference = total / np.maximum(count, 1)
        out[exact, k] = np.clip(reference[stratum] - log_tf, -MAX_PENALTY, MAX_BONUS)
    return out
