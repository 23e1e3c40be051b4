"""Column machinery shared by the normalisers: pandas in, polars inside, pandas out.

Customer columns repeat a lot (cities, postcodes, first names, birth dates), so every normaliser
works on the *distinct* values of a column only and spreads the results back with one numpy
take. The distinct values are found by hashing in polars (native, no Python per value) and the
per-value work is a chain of polars string expressions, which run in Rust. Results come back as
an ``object`` Series whose missing values are ``None``, and rows with equal input share one
Python string, which keeps a million-row frame small.
"""

from __future__ import annotations

import datetime as dt
import numbers
from collections.abc import Callable

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

APOSTROPHES = r"['’‘`´]"
"""Apostrophe look-alikes; dropped rather than turned into a space ("O’Brien" -> "obrien")."""

# fmt: off
LETTER_FOLD: dict[str, str] = {
    "ß": "ss", "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ł": "l", "Ł": "l",
    "đ": "d", "Đ": "d", "þ": "th", "Þ": "th", "ı": "i",
}
# fmt: on
"""Letters that Unicode decomposition leaves alone but people write without the accent."""


def to_polars(values: pd.Series) -> pl.Series:
    """`values` as a polars String Series; missing (None, NaN, NA, NaT) -> null.

    Non-string cells are written as text the way a person would type them: whole floats without
    ".0" (spreadsheets store phones and ZIPs as numbers), dates in ISO form.
    """
    if isinstance(values.dtype, pd.StringDtype | pd.ArrowDtype):
        text = _arrow_text(values)
        if text is not None:
            return text
    array = values.to_numpy() if values.dtype == object else values.to_numpy(dtype=object)
    try:
        arrow = pa.array(array, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arrow = pa.array([_as_text(value) for value in array], type=pa.string())
    series = pl.from_arrow(arrow)
    assert isinstance(series, pl.Series)
    return series


def _arrow_text(values: pd.Series) -> pl.Series | None:
    """Arrow-backed text (what pandas reads from CSV) converts without touching Python."""
    try:
        arrow = pa.array(values.array)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return None
    kind = arrow.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None
    series = pl.from_arrow(arrow)
    return series.cast(pl.String) if isinstance(series, pl.Series) else None


def _as_text(value: object) -> str | None:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if number != number:  # NaN
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(value)
    return str(value)


def factorize(series: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """Integer codes (-1 for null) and the distinct non-null values they point into.

    Rows are grouped by a 64-bit hash (native and fast) and the grouping is checked with a
    second, independent 64-bit hash of every row against its group's representative; only if
    that ever disagreed (a collision, in practice never) the exact but slower pandas
    factorisation is used instead.
    """
    n = len(series)
    codes, _ = pd.factorize(series.hash(seed=0).to_numpy())
    groups = int(codes.max()) + 1 if n else 0
    representative = np.empty(groups, dtype=np.int64)
    representative[codes] = np.arange(n, dtype=np.int64)
    check = series.hash(seed=0x5EED).to_numpy()
    if not np.array_equal(check[representative][codes], check):
        exact_codes, exact_uniques = pd.factorize(np.asarray(series.to_list(), dtype=object))
        return exact_codes, pl.Series(exact_uniques.tolist(), dtype=pl.String)
    uniques = series.gather(representative)
    null_group = uniques.is_null().to_numpy()
    if null_group.any():
        # renumber so that the null group disappears and its rows get -1
        keep = ~null_group
        renumber = np.where(keep, np.cumsum(keep) - 1, -1)
        codes = renumber[codes]
        uniques = uniques.filter(pl.Series(keep))
    return codes, uniques


def per_unique(values: pd.Series, func: Callable[[pl.Series], pl.Series]) -> pd.Series:
    """Apply `func` to the distinct non-missing values of `values` and spread the results back.

    `func` receives a polars String Series without nulls and returns a same-length String
    Series (null = "no value").
    """
    return spread(values, lambda uniques: func(uniques).to_list())


def spread(values: pd.Series, func: Callable[[pl.Series], list[object]]) -> pd.Series:
    """Like `per_unique`, for functions that return a Python list per distinct value."""
    codes, uniques = factorize(to_polars(values))
    table = np.empty(len(uniques) + 1, dtype=object)
    if len(uniques):
        table[:-1] = func(uniques)
    table[-1] = None
    return pd.Series(table[codes], index=values.index, dtype=object)


def fold(series: pl.Series) -> pl.Series:
    """Lower-case, accents stripped (NFKD), special letters folded, whitespace collapsed."""
    return fold_letters(series).str.replace_all(r"\s{2,}|[^\S ]", " ").str.strip_chars()


def fold_letters(series: pl.Series) -> pl.Series:
    """Lower-case with accents stripped; whitespace is left as it is.

    Decomposition only runs on the values that contain a non-ASCII character, which in most
    customer data is a small minority.
    """
    lower = series.str.to_lowercase()
    return on_rows(lower, lower.str.contains(r"[^\x00-\x7f]"), _strip_accents)


def _strip_accents(series: pl.Series) -> pl.Series:
    out = series.str.replace_many(list(LETTER_FOLD), list(LETTER_FOLD.values()))
    out = out.str.normalize("NFKD").str.replace_all(r"\p{Mn}+", "")
    return out.str.to_lowercase()


def words(series: pl.Series) -> pl.Series:
    """Folded text with apostrophes dropped and every other non-word character -> one space."""
    out = fold_letters(series).str.replace_all(APOSTROPHES, "")
    return out.str.replace_all(NON_WORD_RUNS, " ").str.strip_chars()


NON_WORD_RUNS = r"[\W_]{2,}|[^\w ]|_"
"""Runs of non-word characters other than a lone space (those need no replacing, and most
separators in names and addresses are lone spaces, so most values are left untouched)."""


def on_rows(
    series: pl.Series, rows: pl.Series, func: Callable[[pl.Series], pl.Series]
) -> pl.Series:
    """`func` applied only to the values where `rows` is true (a cheap pre-filter)."""
    index = rows.fill_null(False).arg_true()
    if len(index) == 0:
        return series
    return series.clone().scatter(index, func(series.gather(index)))


def blank_to_null(series: pl.Series) -> pl.Series:
    """An empty string after cleaning means "no value"."""
    return where(series, series.str.len_bytes() > 0)


def where(series: pl.Series, keep: pl.Series) -> pl.Series:
    """`series` where `keep` is true, null elsewhere (a null in `keep` counts as false)."""
    frame = pl.DataFrame({"value": series, "keep": keep})
    return frame.select(pl.when(pl.col("keep")).then(pl.col("value"))).to_series()


def replace_words(series: pl.Series, mapping: dict[str, str]) -> pl.Series:
    """Replace whole space-separated words (or word sequences) of `series` via `mapping`.

    Aho-Corasick over the text padded with a space at each end, looking for " key ". Two words
    to replace side by side share the space between them, so the first pass can miss the
    second; a second pass catches those (values must not be keys themselves). Keys are single
    words or single-space separated word sequences, values non-empty; the longest leftmost
    key wins.
    """
    ordered = sorted(mapping.items(), key=lambda item: -len(item[0]))
    keys = [f" {key} " for key, _ in ordered]
    replaced = [f" {value} " for _, value in ordered]
    padded = pl.select(pl.concat_str(pl.lit(" "), pl.lit(series), pl.lit(" "))).to_series()
    out = padded.str.replace_many(keys, replaced, leftmost=True)
    out = out.str.replace_many(keys, replaced, leftmost=True)
    return out.str.strip_chars()
