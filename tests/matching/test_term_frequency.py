"""Term-frequency adjustment: rare exact agreements gain weight, common ones lose it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crmhub.matching.comparisons import compile_comparisons
from crmhub.matching.normalize import normalize_frame
from crmhub.matching.record_values import RecordValues
from crmhub.matching.settings import ComparisonSpec, MatchingSettings
from crmhub.matching.term_frequency import MAX_BONUS, term_frequencies, tf_adjustments


def surnames() -> RecordValues:
    names = ["Smith"] * 50 + ["Quarrington"] * 2 + ["Jones"] * 8 + [None] * 5 + ["Smyth"]
    return RecordValues(normalize_frame(pd.DataFrame({"last_name": names})))


def test_frequencies_count_only_records_with_a_value() -> None:
    values = surnames()
    tf = term_frequencies(values, "last_name")
    _, uniques = values.factor("last_name")
    assert tf.sum() == pytest.approx(1.0)
    assert tf[list(uniques).index("smith")] == pytest.approx(50 / 61)
    assert tf[list(uniques).index("quarrington")] == pytest.approx(2 / 61)


def test_rare_agreement_gains_common_loses_and_the_stratum_averages_out() -> None:
    values = surnames()
    (comparison,) = compile_comparisons([ComparisonSpec(kind="name", column="last_name")])
    assert comparison.term_frequency  # on by default for first and last names
    # pairs: smith/smith, quarrington/quarrington, jones/jones, smith/smyth (not exact)
    left, right = np.array([0, 50, 52, 0]), np.array([1, 51, 53, 65])
    exact, fuzzy = comparison.levels.index("exact"), comparison.levels.index("jaro_winkler>=0.85")
    levels = np.array([[exact], [exact], [exact], [fuzzy]], dtype=np.int8)
    bits = tf_adjustments(values, left, right, levels, np.zeros(4, np.int64), [comparison])[:, 0]
    smith, quarrington, jones, not_exact = bits
    assert quarrington > jones > 0 > smith
    assert quarrington <= MAX_BONUS
    assert not_exact == 0.0
    assert bits[:3].sum() == pytest.approx(
        np.log2([50 / 61, 2 / 61, 8 / 61]).mean() * 3 - np.log2([50 / 61, 2 / 61, 8 / 61]).sum(),
        abs=1e-4,
    )


def test_switched_off_and_on_for_any_column() -> None:
    settings = MatchingSettings(
        comparisons=[
            ComparisonSpec(kind="name", column="last_name", term_frequency=False),
            ComparisonSpec(kind="postcode", column="postal_code", term_frequency=True),
        ]
    )
    last, postcode = compile_comparisons(settings.comparisons)
    assert not last.term_frequency and postcode.term_frequency
