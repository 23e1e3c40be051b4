"""Dates in any of the usual shapes -> ISO ``YYYY-MM-DD``, vectorised.

Every distinct text is matched against a few regexes that pull out year, month and day
("readings"); the calendar check is plain integer arithmetic in numpy, and the first reading
that is a real date between 1800 and 2100 wins. An impossible date (30 February, month 13) is
``None`` rather than a guess.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl

from crmhub.matching.normalize_core import per_unique

# fmt: off
DATE_FORMATS_DAYFIRST: tuple[str, ...] = (
    "%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%m/%d/%Y",
)
# fmt: on
"""The numeric shapes read, in order; ``%m/%d/%Y`` only catches US dates whose day > 12.

Also read: text months ("4 March 1980", "March 4, 1980", "04-Mar-80"), two-digit years, a
time part after ISO or numeric dates, and a leading weekday.
"""

# fmt: off
MONTHS: dict[str, int] = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
    "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9,
    "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12,
    "december": 12,
    # German, French and Spanish month names that differ from the English ones
    "januar": 1, "februar": 2, "marz": 3, "mrz": 3, "mai": 5, "juni": 6, "juli": 7, "okt": 10,
    "oktober": 10, "dez": 12, "dezember": 12, "janvier": 1, "fevrier": 2, "mars": 3, "avril": 4,
    "juin": 6, "juillet": 7, "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11,
    "decembre": 12, "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6,
    "julio": 7, "agosto": 8, "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11,
    "diciembre": 12,
}
# fmt: on
"""Month names and abbreviations (accents already folded) -> month number."""

MIN_YEAR, MAX_YEAR = 1800, 2100
"""Years outside this range are data-entry junk (0001-01-01, 9999-12-31), not birth dates."""

_TIME = r"(?:[t\s]\d.*)?"
_NUMERIC_SEP = r"\s*[-/.]\s*"
_ISO = rf"^(?<y>\d{{4}}){_NUMERIC_SEP}(?<m>\d{{1,2}}){_NUMERIC_SEP}(?<d>\d{{1,2}}){_TIME}$"
_COMPACT = r"^(?<a>\d{2})(?<b>\d{2})(?<c>\d{4})$"
_NUMERIC = (
    rf"^(?<a>\d{{1,2}}){_NUMERIC_SEP}(?<b>\d{{1,2}}){_NUMERIC_SEP}(?<y>\d{{4}}|\d{{2}}){_TIME}$"
)
_DAY_NAME = (
    r"^(?<d>\d{1,2})(?:st|nd|rd|th)?\.?[\s\-/.,]*(?<m>[a-z]+)\.?[\s\-/.,]*(?<y>\d{4}|\d{2})$"
)
_NAME_DAY = r"^(?<m>[a-z]+)\.?[\s\-/.,]*(?<d>\d{1,2})(?:st|nd|rd|th)?[\s\-/.,]*(?<y>\d{4}|\d{2})$"
_WEEKDAY = r"^(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+"


def normalize_date(values: pd.Series, *, dayfirst: bool = True) -> pd.Series:
    """Dates as ISO ``YYYY-MM-DD``; impossible or unparseable dates -> None.

    Reads ISO (with or without a time part), ``YYYYMMDD``, ``DD/MM/YYYY``, ``DD.MM.YYYY``,
    ``DD-MM-YYYY``, ``YYYY/MM/DD``, month names ("4 March 1980", "March 4, 1980",
    "04-Mar-1980") and Python date/datetime objects. Numeric day/month order follows
    `dayfirst`; when only the other order is a real date (day > 12) that one is taken, so
    "12/31/1980" is read as US even with ``dayfirst=True``. Two-digit years up to this year's
    two digits are 20xx, later ones 19xx (birth dates are in the past). Excel serial numbers are
    not read: "29280" is as likely to be junk as a date.
    """
    today = dt.date.today()
    return per_unique(values, lambda uniques: _parse(uniques, dayfirst, today.year))


def _parse(uniques: pl.Series, dayfirst: bool, this_year: int) -> pl.Series:
    text = uniques.str.strip_chars().str.to_lowercase().str.normalize("NFKD")
    text = text.str.replace_all(r"\p{Mn}+", "").str.replace(_WEEKDAY, "")
    readings: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    iso = text.str.extract_groups(_ISO).struct.unnest()
    readings.append((_ints(iso["y"]), _ints(iso["m"]), _ints(iso["d"])))

    compact = text.str.extract_groups(_COMPACT).struct.unnest()
    a, b, c = _ints(compact["a"]), _ints(compact["b"]), _ints(compact["c"])
    readings.append((100 * a + b, c // 100, c % 100))  # YYYYMMDD
    day_month = (a, b) if dayfirst else (b, a)
    readings.append((c, day_month[1], day_month[0]))  # DDMMYYYY / MMDDYYYY

    numeric = text.str.extract_groups(_NUMERIC).struct.unnest()
    a, b = _ints(numeric["a"]), _ints(numeric["b"])
    year = _full_year(numeric["y"], this_year)
    first, second = ((a, b), (b, a)) if dayfirst else ((b, a), (a, b))
    readings.append((year, first[1], first[0]))
    readings.append((year, second[1], second[0]))

    for pattern in (_DAY_NAME, _NAME_DAY):
        named = text.str.extract_groups(pattern).struct.unnest()
        month = named["m"].replace_strict(MONTHS, default=None, return_dtype=pl.Int64)
        month_array = month.fill_null(-1).to_numpy()
        readings.append((_full_year(named["y"], this_year), month_array, _ints(named["d"])))

    days = np.zeros(len(uniques), dtype=np.int64)  # since 1970-01-01
    found = np.zeros(len(uniques), dtype=bool)
    for y, m, d in readings:
        valid = _is_date(y, m, d) & ~found
        if valid.any():
            days[valid] = _days(y[valid], m[valid], d[valid])
            found |= valid
    iso_text = days.astype("datetime64[D]").astype(str).astype(object)
    iso_text[~found] = None
    return pl.Series(iso_text.tolist(), dtype=pl.String)


def _ints(column: pl.Series) -> np.ndarray:
    """Digits -> int64, no match -> -1 (never a valid year, month or day)."""
    return column.cast(pl.Int64, strict=False).fill_null(-1).to_numpy()


def _full_year(column: pl.Series, this_year: int) -> np.ndarray:
    """Four-digit years as they are; two-digit ones pivot on this year (25 -> 2025, 80 -> 1980)."""
    year = _ints(column)
    two_digits = (column.str.len_bytes() == 2).fill_null(False).to_numpy()
    century = np.where(
        year <= this_year % 100, this_year // 100 * 100, this_year // 100 * 100 - 100
    )
    return np.where(two_digits & (year >= 0), century + year, year)


def _is_date(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    last_day = month_days[np.clip(month, 0, 12)] + ((month == 2) & leap)
    in_range = (year >= MIN_YEAR) & (year <= MAX_YEAR) & (month >= 1) & (month <= 12)
    return in_range & (day >= 1) & (day <= last_day)


def _days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of valid (year, month, day) triples."""
    months = (year - 1970) * 12 + (month - 1)
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + day - 1
