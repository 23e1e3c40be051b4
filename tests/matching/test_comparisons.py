"""Comparison levels, one table row per (kind, left value, right value) -> level label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crmhub.matching.comparisons import compare_pairs, compile_comparisons
from crmhub.matching.normalize import normalize_frame
from crmhub.matching.settings import ComparisonSpec

CASES = [
    # kind, column, left, right, level
    ("name", "last_name", "Smith", "SMITH", "exact"),
    ("name", "last_name", "Smith", None, "null"),
    ("name", "last_name", None, None, "null"),
    ("name", "last_name", "Jonathan", "Jonathon", "jaro_winkler>=0.92"),
    ("name", "last_name", "Smith", "Smyth", "jaro_winkler>=0.85"),
    ("name", "last_name", "Martha", "Marhta", "jaro_winkler>=0.92"),
    ("name", "last_name", "Jones", "Johnson", "jaro_winkler>=0.7"),
    ("name", "last_name", "Smith", "Garcia", "else"),
    ("name", "first_name", "Bill", "William", "nickname"),
    ("name", "first_name", "Peggy", "Margaret", "nickname"),
    ("name", "first_name", "José", "Jose", "exact"),
    ("email", "email", "A.B@x.com", "a.b@x.com", "exact"),
    ("email", "email", "a.b@x.com", "a.b@y.org", "username"),
    ("email", "email", "jon.smith@x.com", "john.smith@x.com", "jaro_winkler>=0.88"),
    ("email", "email", "a.b@x.com", "zz@q.org", "else"),
    ("email", "email", "not-an-email", "a.b@x.com", "null"),
    ("phone", "phone", "(212) 456-7890", "+1 212 456 7890", "exact"),
    ("phone", "phone", "(212) 456-7890", "(212) 456-7891", "one_digit_off"),
    ("phone", "phone", "(212) 456-7890", "(312) 456-7890", "one_digit_off"),
    ("phone", "phone", "(212) 456-7890", "(646) 456-7890", "last_7_digits"),
    ("phone", "phone", "(212) 456-7890", "(646) 321-0987", "else"),
    ("date", "birth_date", "1980-03-04", "04/03/1980", "exact"),
    ("date", "birth_date", "1980-03-04", "1980-04-03", "typo_or_day_month_swapped"),
    ("date", "birth_date", "1980-03-04", "1980-03-05", "typo_or_day_month_swapped"),
    ("date", "birth_date", "1980-03-04", "1980-11-20", "same_year"),
    ("date", "birth_date", "1980-03-04", "1975-03-04", "else"),
    ("date", "birth_date", "1980-02-30", "1980-03-01", "null"),
    ("postcode", "postal_code", "sw1a 1aa", "SW1A1AA", "exact"),
    ("postcode", "postal_code", "SW1A 1AA", "SW1A 2BB", "district"),
    ("postcode", "postal_code", "10001", "90210", "else"),
    ("address", "street", "12 Main St.", "12 main street", "exact"),
    ("address", "street", "12 Main Street", "12 Mian Street", "same_number_jaro_winkler>=0.88"),
    ("address", "street", "12 Main Street", "21 Main Street", "jaro_winkler>=0.88"),
    ("address", "street", "12 Main Street", "7 Elm Road", "else"),
    ("exact", "tax_id", "12-3456789", "123456789", "exact"),
    ("exact", "tax_id", "12-3456789", "12-3456788", "else"),
    ("identifier", "tax_id", "6398424", "6398424", "exact"),
    ("identifier", "tax_id", "6398424", "6388424", "one_edit"),
    ("identifier", "tax_id", "6398424", "639842", "one_edit"),
    ("identifier", "tax_id", "6398424", "6938244", "else"),
    ("identifier", "tax_id", None, "6398424", "null"),
]


@pytest.mark.parametrize(("kind", "column", "left", "right", "level"), CASES)
def test_level(kind: str, column: str, left: str | None, right: str | None, level: str) -> None:
    records = normalize_frame(pd.DataFrame({column: [left, right]}, dtype=object))
    (comparison,) = compile_comparisons([ComparisonSpec(kind=kind, column=column)])
    levels = compare_pairs(records, np.array([0]), np.array([1]), [comparison])
    assert comparison.levels[levels[0, 0]] == level


def test_swapped_first_and_last_name() -> None:
    records = normalize_frame(
        pd.DataFrame(
            {"first_name": ["John", "Smith", "John"], "last_name": ["Smith", "John", "Smith"]}
        )
    )
    comparisons = compile_comparisons(
        [
            ComparisonSpec(kind="name", column="first_name", swap_with="last_name"),
            ComparisonSpec(kind="name", column="last_name", swap_with="first_name"),
        ]
    )
    levels = compare_pairs(records, np.array([0, 0]), np.array([1, 2]), comparisons)
    labels = [[c.levels[lv] for c, lv in zip(comparisons, row, strict=True)] for row in levels]
    assert labels == [["swapped", "swapped"], ["exact", "exact"]]


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        (("Michael", "Hansen"), ("Hansen", "Mikey"), "swapped"),  # swapped and a nickname
        (("Paul", "Jackson"), ("Jackson", "Peaul"), "swapped"),  # swapped and a typo
        (("Paul", "Jackson"), ("Jackson", "Mary"), "else"),
        (("Paul", "Jackson"), ("Paula", "Jackson"), "jaro_winkler>=0.92"),
    ],
)
def test_swapped_names_allow_nicknames_and_typos(
    left: tuple[str, str], right: tuple[str, str], level: str
) -> None:
    records = normalize_frame(
        pd.DataFrame([left, right], columns=["first_name", "last_name"], dtype=object)
    )
    comparisons = compile_comparisons(
        [ComparisonSpec(kind="name", column="first_name", swap_with="last_name")]
    )
    levels = compare_pairs(records, np.array([0]), np.array([1]), comparisons)
    assert comparisons[0].levels[levels[0, 0]] == level


def test_levels_are_ordered_null_first_else_last() -> None:
    for comparison in compile_comparisons(
        [
            ComparisonSpec(kind=k, column=c)
            for k, c in [
                ("name", "first_name"),
                ("email", "email"),
                ("phone", "phone"),
                ("date", "birth_date"),
                ("postcode", "postal_code"),
                ("address", "street"),
                ("exact", "tax_id"),
            ]
        ]
    ):
        assert comparison.levels[0] == "null"
        assert comparison.levels[-1] == "else"
        assert len(set(comparison.levels)) == len(comparison.levels)


def test_custom_thresholds_make_their_own_levels() -> None:
    (comparison,) = compile_comparisons(
        [ComparisonSpec(kind="name", column="city", thresholds=(0.95, 0.8))]
    )
    assert comparison.levels == ("null", "exact", "jaro_winkler>=0.95", "jaro_winkler>=0.8", "else")


def test_many_pairs_at_once_match_one_by_one() -> None:
    """The vectorised path gives each pair the level it gets alone."""
    kinds = {
        "name": "last_name",
        "email": "email",
        "phone": "phone",
        "date": "birth_date",
        "postcode": "postal_code",
        "address": "street",
    }
    for kind, column in kinds.items():
        rows = [(left, right) for k, c, left, right, _ in CASES if k == kind and c == column]
        values = [v for pair in rows for v in pair]
        records = normalize_frame(pd.DataFrame({column: values}, dtype=object))
        (comparison,) = compile_comparisons([ComparisonSpec(kind=kind, column=column)])
        left = np.arange(0, len(values), 2)
        together = compare_pairs(records, left, left + 1, [comparison])[:, 0]
        alone = [
            compare_pairs(records, np.array([i]), np.array([i + 1]), [comparison])[0, 0]
            for i in left
        ]
        assert together.tolist() == alone


CITY_LEVELS = [
    {"exact": True},
    {"metric": "jaro_winkler", "threshold": 0.9},
    {"metric": "levenshtein", "threshold": 3, "label": "close_spelling"},
    {"same": "first3"},
    {"metric": "token_set_ratio", "threshold": 0.9},
]


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("Springfield", "SPRINGFIELD", "exact"),
        ("Springfield", "Springfeld", "jaro_winkler>=0.9"),
        ("Hove", "Hive", "close_spelling"),
        ("Springfield", "Spruce Hill", "same_first3"),
        ("Saint Louis Park", "Park Saint Louis", "token_set_ratio>=0.9"),
        ("Springfield", "Boston", "else"),
        (None, "Boston", "null"),
    ],
)
def test_custom_comparison_declared_level_by_level(
    left: str | None, right: str | None, level: str
) -> None:
    spec = ComparisonSpec.model_validate(
        {"kind": "custom", "column": "city", "levels": CITY_LEVELS}
    )
    (comparison,) = compile_comparisons([spec])
    assert comparison.levels == (
        "null",
        "exact",
        "jaro_winkler>=0.9",
        "close_spelling",
        "same_first3",
        "token_set_ratio>=0.9",
        "else",
    )
    records = normalize_frame(pd.DataFrame({"city": [left, right]}, dtype=object))
    levels = compare_pairs(records, np.array([0]), np.array([1]), [comparison])
    assert comparison.levels[levels[0, 0]] == level


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "custom", "column": "city"}, "needs levels"),
        ({"kind": "name", "column": "city", "levels": [{"exact": True}]}, "kind: custom"),
        ({"kind": "custom", "column": "city", "levels": [{}]}, "exactly one of"),
        ({"kind": "custom", "column": "city", "levels": [{"metric": "soundex"}]}, "unknown metric"),
        (
            {"kind": "custom", "column": "city", "levels": [{"metric": "jaro", "threshold": 2}]},
            r"\(0, 1\]",
        ),
        (
            {
                "kind": "custom",
                "column": "city",
                "levels": [{"metric": "levenshtein", "threshold": 1.5}],
            },
            "whole number",
        ),
        ({"kind": "custom", "column": "city", "levels": [{"same": "reverse"}]}, "transform"),
        (
            {"kind": "custom", "column": "city", "levels": [{"exact": True}, {"exact": True}]},
            "unique",
        ),
    ],
)
def test_custom_comparison_mistakes_are_named(spec: dict[str, object], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        ComparisonSpec.model_validate(spec)


def test_custom_comparison_survives_a_saved_model() -> None:
    import dataclasses
    import json

    from crmhub.matching.comparisons import comparison_kind, comparison_of_kind

    spec = ComparisonSpec.model_validate(
        {"kind": "custom", "column": "city", "levels": CITY_LEVELS}
    )
    (comparison,) = compile_comparisons([spec])
    saved = json.loads(json.dumps(dataclasses.asdict(comparison)))
    assert comparison_of_kind(comparison_kind(comparison), saved) == comparison
