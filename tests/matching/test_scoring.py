"""Fellegi-Sunter scoring: EM recovers known parameters and learns sensible ones from data."""

from __future__ import annotations

import numpy as np
import pytest

from crmhub.demo_data import generate_customers
from crmhub.matching.comparisons import NameComparison
from crmhub.matching.engine import match_records
from crmhub.matching.scoring import fit_model, score_levels, weight_to_probability

TRUE_M = np.array([0.0, 0.80, 0.15, 0.05])  # levels: null, exact, fuzzy, else
TRUE_U = np.array([0.0, 0.05, 0.15, 0.80])


def simulate(n: int, prior: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Level patterns of three conditionally independent comparisons, 10% nulls each."""
    rng = np.random.default_rng(seed)
    is_match = rng.random(n) < prior
    levels = np.zeros((n, 3), dtype=np.int8)
    for k in range(3):
        drawn_m = rng.choice(4, n, p=TRUE_M)
        drawn_u = rng.choice(4, n, p=TRUE_U)
        levels[:, k] = np.where(is_match, drawn_m, drawn_u)
        levels[rng.random(n) < 0.1, k] = 0
    return levels, is_match


def test_em_recovers_known_m_and_prior() -> None:
    levels, is_match = simulate(30_000, 0.3, seed=1)
    comparisons = [NameComparison(column=c, thresholds=(0.9,)) for c in ("a", "b", "c")]
    # u starts where random pairs put it: near the truth, off by sampling noise (EM shrinks
    # towards it in proportion to a rule's pairs, so a wildly wrong start is not recovered)
    start_u = [np.array([1.0, 0.08, 0.18, 0.74])] * 3
    model = fit_model(levels, comparisons, start_u)
    assert model.converged
    assert model.prior[0] == pytest.approx(is_match.mean(), abs=0.02)
    for k in range(3):
        assert model.m[k][0, 1:] == pytest.approx(TRUE_M[1:], abs=0.03)
        assert model.u[k][0, 1:] == pytest.approx(TRUE_U[1:], abs=0.03)
    probability = weight_to_probability(score_levels(levels, model))
    accuracy = ((probability >= 0.5) == is_match).mean()
    assert accuracy > 0.9


def test_null_levels_weigh_nothing() -> None:
    levels, _ = simulate(5_000, 0.3, seed=2)
    comparisons = [NameComparison(column=c, thresholds=(0.9,)) for c in ("a", "b", "c")]
    model = fit_model(levels, comparisons, [np.array([1.0, 0.2, 0.3, 0.5])] * 3)
    assert all(w[:, 0].tolist() == [0.0] for w in model.level_weights())
    all_null = np.zeros((1, 3), dtype=np.int8)
    assert score_levels(all_null, model)[0] == pytest.approx(model.prior_weights()[0])


def test_probability_is_monotonic_in_weight() -> None:
    weights = np.array([-50.0, -3.0, 0.0, 3.0, 50.0])
    probability = weight_to_probability(weights)
    assert probability[2] == pytest.approx(0.5)
    assert np.all(np.diff(probability) > 0)
    assert probability[0] < 1e-10 and probability[-1] > 1 - 1e-10


@pytest.fixture(scope="module")
def learnt() -> object:
    data = generate_customers(4_000, seed=11)
    records = data.drop(columns=["source_id"]).assign(record_id=np.arange(len(data)))
    return match_records(records).model


def test_em_on_generated_customers_is_sensible(learnt: object) -> None:
    model = learnt
    assert model.converged
    table = model.describe()
    email = table[table.rule == "email"].set_index(["comparison", "level"])
    assert (
        model.prior[model.strata.index("email")] > 0.9
    )  # equal e-mail: nearly always the same person
    assert email.loc[("email", "exact"), "m"] > 0.9
    assert email.loc[("birth_date", "exact"), "weight"] > 2
    assert email.loc[("first_name", "else"), "weight"] < -3
    # relatives found through the address rule share the address: a different first name is
    # strong evidence against there; near-namesakes in one postcode differ in birth date
    household = table[table.rule == "street+postal_code"].set_index(["comparison", "level"])
    assert household.loc[("first_name", "else"), "weight"] < -3
    neighbours = table[table.rule == "first_name_prefix+last_name_prefix+postal_code"]
    neighbours = neighbours.set_index(["comparison", "level"])
    assert neighbours.loc[("birth_date", "else"), "weight"] < -3
    assert neighbours.loc[("birth_date", "exact"), "weight"] > 3


def test_exact_agreement_never_counts_against_and_disagreement_never_for() -> None:
    from crmhub.matching.scoring import MatchModel

    comparison = NameComparison(column="a", thresholds=(0.9,))
    backwards_m = np.array([[1.0, 0.05, 0.15, 0.80]])  # EM on a lopsided block can learn this
    backwards_u = np.array([[1.0, 0.80, 0.15, 0.05]])
    model = MatchModel(
        (comparison,), ("rule",), (backwards_m,), (backwards_u,), np.array([0.5]), 1, True
    )
    weights = model.level_weights()[0][0]
    assert weights[1] == 0.0  # exact: clamped up to neutral
    assert weights[-1] == 0.0  # else: clamped down to neutral
    assert weights[2] == pytest.approx(0.0)  # a middle level keeps what was learnt


def test_identifier_rules_keep_their_weight_in_their_own_stratum() -> None:
    from crmhub.matching.comparisons import compile_comparisons
    from crmhub.matching.scoring import forced_comparisons
    from crmhub.matching.settings import ComparisonSpec

    comparisons = compile_comparisons(
        [
            ComparisonSpec(kind="exact", column="tax_id"),
            ComparisonSpec(kind="name", column="last_name"),
        ]
    )
    forced = forced_comparisons([["tax_id"], ["last_name", "tax_id"]], comparisons)
    # an id found equal by blocking still says "same person"; a blocked-on name says little
    assert forced.tolist() == [[False, False], [False, True]]
