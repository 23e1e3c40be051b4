"""Blocking: pairs per rule, each pair once, derived keys, and runaway blocks."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from crmhub.matching.blocking import (
    block_codes,
    count_pairs,
    derive_keys,
    generate_pairs,
    largest_blocks,
    pairs_in_blocks,
)
from crmhub.matching.normalize import normalize_frame


def keys_of(rows: list[dict[str, str | None]]) -> pd.DataFrame:
    return derive_keys(normalize_frame(pd.DataFrame(rows)))


ROWS = [
    {"first_name": "Bill", "last_name": "Smith", "email": "b@x.com", "postal_code": "10001"},
    {"first_name": "William", "last_name": "Smith", "email": "B@X.com", "postal_code": "10001"},
    {"first_name": "Will", "last_name": "Smith", "email": None, "postal_code": "10001"},
    {"first_name": "Ann", "last_name": "Jones", "email": "b@x.com", "postal_code": "90210"},
    {"first_name": "Smith", "last_name": "Ann", "email": None, "postal_code": None},
]


def as_set(left: np.ndarray, right: np.ndarray) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in zip(left, right, strict=True)}


def test_derived_keys() -> None:
    keys = keys_of(ROWS)
    assert keys["first_name_canon"].tolist()[:3] == ["william", "william", "william"]
    assert keys["last_name_prefix"].tolist()[:2] == ["smi", "smi"]
    assert keys["email_user"].tolist()[0] == "b"
    assert keys["name_sorted"].tolist()[3:] == ["ann jones", "ann smith"]
    swapped = keys_of(
        [{"first_name": "Smith", "last_name": "Ann"}, {"first_name": "Ann", "last_name": "Smith"}]
    )
    assert swapped["name_sorted"].nunique() == 1


def test_one_rule_pairs_every_record_in_a_block() -> None:
    keys = keys_of(ROWS)
    found = generate_pairs(keys, [["email"]])
    assert as_set(found.left, found.right) == {(0, 1), (0, 3), (1, 3)}
    assert set(found.rule) == {0}


def test_and_rule_needs_every_key_and_skips_missing() -> None:
    keys = keys_of(ROWS)
    found = generate_pairs(keys, [["last_name_prefix", "postal_code"]])
    assert as_set(found.left, found.right) == {(0, 1), (0, 2), (1, 2)}
    codes = block_codes(keys, ["last_name_prefix", "postal_code"])
    assert codes[4] == -1  # no postcode: in no block


def test_pair_found_by_an_earlier_rule_is_not_repeated() -> None:
    keys = keys_of(ROWS)
    rules = [["email"], ["first_name_canon", "last_name"], ["postal_code"]]
    found = generate_pairs(keys, rules)
    pairs = list(zip(found.left.tolist(), found.right.tolist(), strict=True))
    assert len(pairs) == len(set(pairs))
    assert all(a < b for a, b in pairs)
    by_rule = {
        (a, b): found.rule_labels[r]
        for a, b, r in zip(found.left, found.right, found.rule, strict=True)
    }
    assert by_rule[(0, 1)] == "email"
    assert by_rule[(0, 2)] == "first_name_canon+last_name"
    assert by_rule[(1, 2)] == "first_name_canon+last_name"
    assert (2, 3) not in by_rule


def test_triangle_enumeration_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    codes = rng.integers(-1, 40, 600)
    left, right = pairs_in_blocks(codes)
    expected = {
        (i, j)
        for i in range(600)
        for j in range(i + 1, 600)
        if codes[i] >= 0 and codes[i] == codes[j]
    }
    assert as_set(left, right) == expected
    assert len(left) == len(expected)


def test_runaway_block_is_left_out_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    rows = [{"phone": "212 456 7890", "email": f"p{i}@x.com"} for i in range(50)]
    rows += [
        {"phone": "212 456 7891", "email": "a@x.com"},
        {"phone": "212 456 7891", "email": None},
    ]
    keys = keys_of(rows)
    with caplog.at_level(logging.WARNING, logger="crmhub.matching.blocking"):
        found = generate_pairs(keys, [["phone"]], max_block_size=10)
    assert as_set(found.left, found.right) == {(50, 51)}
    assert (
        "phone" in caplog.text
        and "max_block_size=10" in caplog.text
        and "50 records" in caplog.text
    )


def test_no_rules_or_no_records_give_no_pairs() -> None:
    assert len(generate_pairs(keys_of(ROWS), [])) == 0
    empty = derive_keys(normalize_frame(pd.DataFrame({"email": pd.Series([], dtype=object)})))
    assert len(generate_pairs(empty, [["email"]])) == 0


def test_count_pairs_and_largest_blocks() -> None:
    keys = keys_of(ROWS)
    counts = count_pairs(keys, [["email"], ["postal_code"]])
    assert counts["pairs"].tolist() == [3, 3]
    assert counts["new_pairs"].tolist() == [3, 2]
    assert counts["largest_block"].tolist() == [3, 3]
    top = largest_blocks(keys, ["postal_code"], n=1)
    assert top.iloc[0].to_dict() == {"postal_code": "10001", "records": 3}


def test_blocking_report_counts_pairs_and_shows_the_biggest_blocks() -> None:
    from crmhub.matching.blocking import blocking_report
    from crmhub.matching.normalize import normalize_frame

    records = pd.DataFrame(
        {
            "first_name": ["Ann", "Ann", "Ann", "Bo", "Bo"],
            "last_name": ["Lee", "Lee", "Lee", "Ng", "Ng"],
            "postal_code": ["10115", "10115", "10115", "10115", "20095"],
            "city": ["Berlin"] * 5,
        }
    )
    from crmhub.matching.settings import BlockingRule

    rules = [
        ["first_name_canon", "last_name"],
        ["postal_code"],
        BlockingRule(keys=("city", "postal_code"), max_block_size=4),
    ]
    report = blocking_report(normalize_frame(records), rules, max_block_size=3, top=1)
    rows = report.rules.set_index("rule")
    assert rows.loc["first_name_canon+last_name", "pairs"] == 3 + 1
    assert rows.loc["postal_code", "largest_block"] == 4
    assert rows.loc["postal_code", "capped_blocks"] == 1  # four records share 10115 > 3
    assert rows.loc["postal_code", "pairs"] == rows.loc["postal_code", "new_pairs"] == 0
    own_cap = rows.loc["city+postal_code"]  # the same block under the rule's own cap
    assert (own_cap["pairs"], own_cap["new_pairs"], own_cap["capped_blocks"]) == (6, 6 - 3, 0)
    biggest = report.largest["first_name_canon+last_name"]
    assert biggest.iloc[0].to_dict() == {
        "first_name_canon": "ann",
        "last_name": "lee",
        "records": 3,
    }


def test_record_codes_find_the_same_pairs_as_key_text() -> None:
    """Blocking on per-value codes (the engine's path) equals blocking on derived key text."""
    from crmhub.demo_data import generate_customers
    from crmhub.matching.record_values import RecordValues
    from crmhub.matching.settings import BLOCKING_KEYS, MatchingSettings

    normalized = normalize_frame(generate_customers(4000, seed=5).reset_index(drop=True))
    rules = [*MatchingSettings().blocking, *([key] for key in BLOCKING_KEYS)]
    by_text = generate_pairs(derive_keys(normalized), rules, max_block_size=50)
    by_code = generate_pairs(RecordValues(normalized), rules, max_block_size=50)
    assert len(by_code) > 1000
    assert as_set(by_code.left, by_code.right) == as_set(by_text.left, by_text.right)
    assert np.array_equal(by_code.rule, by_text.rule)
