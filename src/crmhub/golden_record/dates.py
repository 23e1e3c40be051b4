"""Recognise date values in bulk, so a record with an unreadable date is quarantined early.

Sources write dates every way people do; staging keeps the text as given but refuses text that
is no date at all (e.g. "soon"), which would otherwise poison survivorship's "most recent".
The checks are polars expressions over a whole column, never a strptime loop per value.
"""

from __future__ import annotations

import polars as pl

DATE_FIELDS: tuple[str, ...] = ("birth_date", "last_purchase_at", "source_updated_at")
"""Canonical fields that must hold a date (or a date and time) when they hold anything."""

NULL_MARKERS: tuple[str, ...] = ("", "n/a", "na", "null", "none", "-")
"""Texts that mean "no value" (compared trimmed and lower-cased)."""

_ISO = (
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
    r"\s*(?:Z|z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?)?$"
)
_FORMATS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"^\d{8}$", ("%Y%m%d",)),
    (r"^\d{1,2}/\d{1,2}/\d{4}$", ("%d/%m/%Y", "%m/%d/%Y")),
    (r"^\d{1,2}\.\d{1,2}\.\d{4}$", ("%d.%m.%Y",)),
    (r"^\d{1,2} [A-Za-z]{3,9}\.? \d{4}$", ("%d %b %Y", "%d %B %Y")),
)
"""(shape, strptime formats) besides ISO 8601; a value is a date when one format parses it."""


def find_invalid_dates(values: pl.Series) -> pl.Series:
    """A boolean mask: True where a value is neither empty (or a null marker) nor a date.

    Accepted: ISO 8601 dates and date-times (with optional fraction and offset), YYYYMMDD,
    DD/MM/YYYY or MM/DD/YYYY (either reading), DD.MM.YYYY and "12 Mar 1985". The calendar is
    checked too, so "2023-02-30" is refused.
    """
    text = values.cast(pl.String).str.strip_chars()
    frame = pl.DataFrame({"t": text})
    checked = frame.select(
        empty=pl.col("t").is_null() | pl.col("t").str.to_lowercase().is_in(NULL_MARKERS),
        iso=pl.col("t").str.contains(_ISO)
        & pl.col("t").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).is_not_null(),
    )
    unknown = ~(checked["empty"] | checked["iso"])
    if not unknown.any():
        return unknown
    rest = text.filter(unknown)
    recognised = _recognise_other(rest)
    result = unknown.to_numpy().copy()
    result[result] = ~recognised.to_numpy()
    return pl.Series(values.name, result)


def _recognise_other(text: pl.Series) -> pl.Series:
    """Which of `text` (not ISO, not empty) one of the other formats reads."""
    column = pl.col("t")
    found = pl.lit(False)
    for shape, formats in _FORMATS:
        parsed = pl.lit(False)
        for fmt in formats:
            parsed = parsed | column.str.to_date(fmt, strict=False).is_not_null()
        found = found | (column.str.contains(shape) & parsed)
    return pl.DataFrame({"t": text}).select(found.alias("ok"))["ok"].fill_null(False)
