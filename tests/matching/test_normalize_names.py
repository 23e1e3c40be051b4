"""Names: "LAST, First" order, initials, titles, and nickname groups for comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crmhub.matching.normalize import (
    groups_overlap,
    nickname_groups,
    normalize_frame,
    normalize_name,
    split_last_first,
)

NAMES = [
    ("J.", "j"),
    ("J.R.", "j r"),
    ("j. r. r.", "j r r"),
    ("Mrs. Jane Doe-Smith PhD", "jane doe smith"),
    ("Sir Elton John", "elton john"),
    ("Prof. Dr. Ana Lima", "ana lima"),
    ("John Smith Esq.", "john smith"),
    ("Henry VIII", "henry viii"),  # only ii/iii/iv are suffixes
    ("Ms", "ms"),  # a bare title is all there is: keep it
    ("Dr", "dr"),
    ("Jr", "jr"),
    ("D'Angelo", "dangelo"),
    ("Renée  O’Connor", "renee oconnor"),
    ("Anne_Marie", "anne marie"),
    ("ŁUKASZ ŻÓŁW", "lukasz zolw"),
    ("Ｊｏｈｎ", "john"),  # full-width letters
]


@pytest.mark.parametrize(("raw", "expected"), NAMES)
def test_normalize_name_tricky(raw: str, expected: str | None) -> None:
    assert normalize_name(pd.Series([raw], dtype=object)).tolist() == [expected]


# (first_name, last_name) in -> (first_name, last_name) after normalize_frame
NAME_ORDER = [
    ((None, "Smith, John"), ("john", "smith")),
    (("", "SMITH, John"), ("john", "smith")),
    (("  ", "Smith,John"), ("john", "smith")),
    (("Smith, John", None), ("john", "smith")),
    (("Smith, John", ""), ("john", "smith")),
    (("O'Brien, Mary-Kate", None), ("mary kate", "obrien")),
    ((None, "Smith, Jr."), (None, "smith")),  # a suffix after the comma is not a first name
    ((None, "Smith, III"), (None, "smith")),
    ((None, "Smith,"), (None, "smith")),
    ((None, ", John"), (None, "john")),
    (("Ann", "Smith, John"), ("ann", "smith john")),  # first name present: leave alone
    (("Smith, John", "Doe"), ("smith john", "doe")),
    ((None, "Smith"), (None, "smith")),
]


@pytest.mark.parametrize(("raw", "expected"), NAME_ORDER)
def test_last_comma_first_is_split(
    raw: tuple[str | None, str | None], expected: tuple[str | None, str | None]
) -> None:
    records = pd.DataFrame({"first_name": [raw[0]], "last_name": [raw[1]]}, dtype=object)
    out = normalize_frame(records)
    assert (out["first_name"].iloc[0], out["last_name"].iloc[0]) == expected


def test_split_last_first_without_first_name_column() -> None:
    records = pd.DataFrame({"last_name": ["Smith, John", "Doe"]}, index=[5, 7])
    out = normalize_frame(records)
    assert out["first_name"].tolist() == ["john", None]
    assert out["last_name"].tolist() == ["smith", "doe"]
    assert list(out.index) == [5, 7]


def test_split_last_first_leaves_inputs_alone() -> None:
    first = pd.Series([None, "Ann"], dtype=object)
    last = pd.Series(["Smith, John", "Lee"], dtype=object)
    new_first, new_last = split_last_first(first, last)
    assert new_first.tolist() == ["John", "Ann"]
    assert new_last.tolist() == ["Smith", "Lee"]
    assert first.tolist() == [None, "Ann"]
    assert last.tolist() == ["Smith, John", "Lee"]


SHARE = [
    ("bill", "william", True),
    ("william", "bill", True),
    ("peggy", "margaret", True),
    ("bob", "robert", True),
    ("liz", "elizabeth", True),
    ("bill", "robert", True),  # ambiguous by design: the package lists bill for both
    ("bill j", "william", True),  # the first word of a multi-word name counts
    ("zachary", "zachary", True),  # unknown to the package, still equal to itself
    ("john", "mary", False),
    ("robert", "albert", False),
    ("michael", "mitchell", False),
    ("zachary", "zacharias", False),
    ("bill", None, False),
    (None, None, False),
]


@pytest.mark.parametrize(("left", "right", "expected"), SHARE)
def test_nickname_groups_share_a_formal_name(
    left: str | None, right: str | None, expected: bool
) -> None:
    groups = nickname_groups(np.array([left, right], dtype=object))
    assert groups_overlap(groups[[0]], groups[[1]]).tolist() == [expected]


def test_nickname_groups_shape_and_padding() -> None:
    groups = nickname_groups(np.array(["bill", None, "zachary", "bill"], dtype=object))
    assert groups.dtype == np.int32
    assert groups.ndim == 2
    assert groups.shape[0] == 4
    assert (groups[1] == -1).all()
    assert (groups[2, 1:] == -1).all() and groups[2, 0] >= 0
    assert (groups[0] == groups[3]).all()
    assert (groups[0] >= 0).sum() >= 3  # bill, william, robert, ...


def test_nickname_groups_agree_across_calls() -> None:
    """Ids do not depend on the call, so left and right sides may be built separately."""
    left = nickname_groups(np.array(["bill", "zachary", "peggy"], dtype=object))
    right = nickname_groups(np.array(["william", "zachary", "john"], dtype=object))
    assert groups_overlap(left, right).tolist() == [True, True, False]


def test_nickname_groups_vectorised_over_pairs() -> None:
    names = np.array(["bill", "william", "john", "mary", "liz", "elizabeth"], dtype=object)
    groups = nickname_groups(names)
    left, right = np.array([0, 2, 4, 0, 3]), np.array([1, 3, 5, 2, 3])
    assert groups_overlap(groups[left], groups[right]).tolist() == [
        True,
        False,
        True,
        False,
        True,
    ]


def test_groups_overlap_needs_equal_lengths() -> None:
    groups = nickname_groups(np.array(["bill", "william"], dtype=object))
    with pytest.raises(ValueError, match="same number of rows"):
        groups_overlap(groups, groups[:1])
