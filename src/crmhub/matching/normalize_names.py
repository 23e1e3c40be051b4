"""Person names: cleaning, "LAST, First" order, and nicknames for blocking and comparison.

Two nickname tools serve two different needs. Blocking needs ONE value per name, so
`canonical_first_name` uses the small hand-made `NICKNAMES` table (bill -> william). Comparison
can afford ambiguity, so `nickname_groups` uses the maintained ``nicknames`` package, where one
nickname may belong to several formal names (bill -> william, willis, robert), and two first
names "share a formal name" when their id sets intersect.
"""

from __future__ import annotations

import zlib
from functools import cache

import numpy as np
import pandas as pd
import polars as pl

from crmhub.matching.normalize_core import (
    blank_to_null,
    factorize,
    per_unique,
    to_polars,
    words,
)

_TITLES = ("mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "rev", "mme", "mlle")
_SUFFIXES = ("jr", "sr", "ii", "iii", "iv", "phd", "md", "esq")
_NAME_AFFIXES = rf"^(?:(?:{'|'.join(_TITLES)})\s+)+|(?:\s+(?:{'|'.join(_SUFFIXES)}))+$"

# fmt: off
NICKNAMES: dict[str, str] = {
    "bill": "william", "billy": "william", "will": "william", "willy": "william",
    "liam": "william", "bob": "robert", "bobby": "robert", "rob": "robert", "robbie": "robert",
    "jim": "james", "jimmy": "james", "jamie": "james", "mike": "michael", "mikey": "michael",
    "dave": "david", "davy": "david", "dan": "daniel", "danny": "daniel", "tom": "thomas",
    "tommy": "thomas", "joe": "joseph", "joey": "joseph", "chris": "christopher",
    "matt": "matthew", "tony": "anthony", "steve": "steven", "rick": "richard", "rich": "richard",
    "dick": "richard", "ed": "edward", "eddie": "edward", "ted": "edward", "liz": "elizabeth",
    "beth": "elizabeth", "betty": "elizabeth", "lizzie": "elizabeth", "kate": "katherine",
    "katie": "katherine", "kathy": "katherine", "jen": "jennifer", "jenny": "jennifer",
    "sue": "susan", "susie": "susan", "maggie": "margaret", "peggy": "margaret",
    "patty": "patricia", "trish": "patricia", "alex": "alexander", "sam": "samuel",
    "ben": "benjamin", "nick": "nicholas", "andy": "andrew", "drew": "andrew", "greg": "gregory",
    "larry": "lawrence", "jon": "jonathan", "josh": "joshua", "ken": "kenneth", "kenny": "kenneth",
    "ron": "ronald", "don": "donald", "charlie": "charles", "chuck": "charles", "hank": "henry",
    "harry": "henry", "jack": "john", "johnny": "john", "abby": "abigail", "debbie": "deborah",
    "vicky": "victoria", "becky": "rebecca", "mandy": "amanda", "cindy": "cynthia",
    "pam": "pamela", "tina": "christina", "jeff": "jeffrey", "tim": "timothy", "pete": "peter",
    "ray": "raymond", "fred": "frederick",
}
# fmt: on
"""Common English nickname -> formal first name; deliberately small and unambiguous-ish."""


def normalize_name(values: pd.Series) -> pd.Series:
    """Person name: folded, apostrophes dropped, other punctuation -> space, titles removed.

    "  O'Brien ", "o’brien" -> "obrien"; "Jean-Luc" -> "jean luc"; "Dr. José Núñez Jr." ->
    "jose nunez"; initials keep one letter each: "J.R." -> "j r"; "", "--" -> None.
    """
    return per_unique(values, _clean_names)


def _clean_names(uniques: pl.Series) -> pl.Series:
    out = words(uniques).str.replace_all(_NAME_AFFIXES, "").str.strip_chars()
    return blank_to_null(out)


def normalize_name_columns(first: pd.Series, last: pd.Series) -> tuple[pd.Series, pd.Series]:
    """`normalize_name` of both name columns, with "LAST, First" rows split first.

    Which rows need `split_last_first` is decided per distinct value (is the normalised name
    empty, does the raw text hold a comma), so the check costs next to nothing; only those
    rows are split and normalised again.
    """
    first_codes, first_names, first_empty, first_comma = _name_table(first)
    last_codes, last_names, last_empty, last_comma = _name_table(last)
    swap = (first_empty[first_codes] & last_comma[last_codes]) | (
        last_empty[last_codes] & first_comma[first_codes]
    )
    first_out, last_out = first_names[first_codes], last_names[last_codes]
    rows = np.flatnonzero(swap)
    if len(rows):
        new_first, new_last = split_last_first(first.iloc[rows], last.iloc[rows])
        first_out[rows] = normalize_name(new_first).to_numpy()
        last_out[rows] = normalize_name(new_last).to_numpy()
    return (
        pd.Series(first_out, index=first.index, dtype=object),
        pd.Series(last_out, index=last.index, dtype=object),
    )


def _name_table(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Codes, normalised names, "is empty" and "has a comma", the last three per distinct value
    with one extra entry at the end for missing values (code -1)."""
    codes, uniques = factorize(to_polars(values))
    cleaned = _clean_names(uniques)
    names = np.empty(len(uniques) + 1, dtype=object)
    names[:-1] = cleaned.to_list()
    names[-1] = None
    empty = np.append(cleaned.is_null().to_numpy(), True)
    comma = np.append(uniques.str.contains(",", literal=True).to_numpy(), False)
    return codes, names, empty, comma


def split_last_first(first: pd.Series, last: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Undo "LAST, First" written into one name field, row by row.

    A row whose first name is empty and whose last name reads "Smith, John" (or the other way
    round: the whole "Smith, John" in the first-name field and no last name) becomes first
    "John", last "Smith". A comma before a mere suffix ("Smith, Jr.") is not a name order and is
    left alone. "Empty" means nothing is left after `normalize_name` ("", "--"). Other rows are
    returned untouched.
    """
    first_text, last_text = to_polars(first), to_polars(last)
    first_empty = _clean_names(first_text.fill_null("")).is_null()
    last_empty = _clean_names(last_text.fill_null("")).is_null()
    from_last = first_empty & last_text.str.contains(",", literal=True).fill_null(False)
    from_first = last_empty & first_text.str.contains(",", literal=True).fill_null(False)
    rows = np.flatnonzero((from_last | from_first).to_numpy())
    if len(rows) == 0:
        return first, last
    source = pl.select(
        pl.when(pl.lit(from_last.gather(rows)))
        .then(pl.lit(last_text.gather(rows)))
        .otherwise(pl.lit(first_text.gather(rows)))
    ).to_series()
    surname = source.str.extract(r"^([^,]*),", 1).str.strip_chars()
    given = source.str.extract(r"^[^,]*,(.*)$", 1).str.strip_chars()
    given_clean = _clean_names(given.fill_null(""))
    surname_clean = _clean_names(surname.fill_null(""))
    real = (
        given_clean.is_not_null()
        & surname_clean.is_not_null()
        & ~given_clean.is_in(list(_SUFFIXES)).fill_null(False)
    ).to_numpy()
    rows = rows[real]
    new_first = first.to_numpy(dtype=object, na_value=None).copy()
    new_last = last.to_numpy(dtype=object, na_value=None).copy()
    new_first[rows] = given.filter(pl.Series(real)).to_list()
    new_last[rows] = surname.filter(pl.Series(real)).to_list()
    return (
        pd.Series(new_first, index=first.index, dtype=object),
        pd.Series(new_last, index=last.index, dtype=object),
    )


def canonical_first_name(normalized: pd.Series) -> pd.Series:
    """Map nicknames of an already normalised first name to the formal name (bill -> william).

    One formal name per nickname (`NICKNAMES`), so the result can serve as a blocking key.
    """
    return per_unique(normalized, lambda uniques: uniques.replace(NICKNAMES))


# --- nickname groups for comparisons ---------------------------------------------------------

_UNKNOWN_ID_SPACE = 2**31 - 1


@cache
def _nickname_table() -> tuple[dict[str, tuple[int, ...]], int]:
    """Every name the ``nicknames`` package knows -> sorted ids of itself and its formal names.

    Built once per process from the package's data; the ids are positions in the sorted list
    of all names, so they do not depend on the input.
    """
    from nicknames import NickNamer

    lookup = {
        _package_name(nick): {_package_name(formal) for formal in formals}
        for nick, formals in NickNamer().canonical_lookup.items()
    }
    names = sorted(set(lookup) | {formal for formals in lookup.values() for formal in formals})
    ids = {name: i for i, name in enumerate(names)}
    groups = {
        name: tuple(sorted({ids[name]} | {ids[formal] for formal in lookup.get(name, ())}))
        for name in names
    }
    return groups, len(names)


def _package_name(name: str) -> str:
    return " ".join(name.lower().replace("-", " ").split())


def _group_of(name: str) -> tuple[int, ...]:
    groups, known = _nickname_table()
    found = groups.get(name)
    if found is not None:
        return found
    # a name the package does not know still shares a group with itself, in every call
    own = known + zlib.crc32(name.encode()) % (_UNKNOWN_ID_SPACE - known)
    head = name.split(" ", 1)[0]
    if head != name and head in groups:
        return (own, *groups[head])
    return (own,)


def nickname_groups(values: np.ndarray) -> np.ndarray:
    """Formal-name ids of each first name, for a "share a formal name" comparison level.

    Args:
        values: normalised first names (output of `normalize_name`), ``None`` for missing.

    Returns:
        An ``(n, K)`` int32 array, padded with -1: row ``r`` holds the ids of the name itself
        and of every formal name the ``nicknames`` package lists for it ("bill" -> bill,
        william, will, willis, robert). Two names share a formal name exactly when their rows
        have a common id (Bill~William, Peggy~Margaret, Bob~Robert, Liz~Elizabeth; not
        John~Mary). For a multi-word name the groups of its first word are added ("bill j" ~
        "william"). Missing values get an all -1 row. ``K`` is the widest row of this call (at
        least 1), so two calls may return different widths.

    Intended use: call it once per column on the distinct values (or on all values), gather
    the rows of the left and right records of the candidate pairs, and test the overlap with
    `groups_overlap`, all in numpy. Ids of names the package knows are fixed positions in its
    data; a name it does not know gets an id from a 31-bit hash of the name, so separate calls
    agree as well (two unknown names collide with a probability of about 1e-9).
    """
    array = np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(array, use_na_sentinel=True)
    rows = [_group_of(name) if isinstance(name, str) else () for name in uniques]
    width = max((len(row) for row in rows), default=0) or 1
    table = np.full((len(rows) + 1, width), -1, dtype=np.int32)
    for i, row in enumerate(rows):
        table[i, : len(row)] = row
    return table[codes]


def groups_overlap(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise: do ``left[r]`` and ``right[r]`` (rows of `nickname_groups`) share an id?

    Vectorised over rows. Rows are grouped by how many ids each side has (most names have one
    to three), and each group compares only its real ids, all of them at once with numpy
    broadcasting, so the cost follows the ids present rather than the padded width.
    """
    if len(left) != len(right):
        raise ValueError("left and right must have the same number of rows")
    hit = np.zeros(len(left), dtype=bool)
    left_width = (left >= 0).sum(axis=1)
    right_width = (right >= 0).sum(axis=1)
    shape = left_width * (right.shape[1] + 1) + right_width
    order = np.argsort(shape, kind="stable")
    kinds, starts = np.unique(shape[order], return_index=True)
    for kind, start, stop in zip(kinds, starts, [*starts[1:], len(order)], strict=True):
        a, b = divmod(int(kind), right.shape[1] + 1)
        if a == 0 or b == 0:
            continue
        rows = order[start:stop]
        ids_left, ids_right = left[rows, :a], right[rows, :b]
        hit[rows] = (ids_left[:, :, None] == ids_right[:, None, :]).any(axis=(1, 2))
    return hit
