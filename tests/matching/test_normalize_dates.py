"""Dates in many shapes -> ISO, and impossible or implausible dates -> None."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from crmhub.matching.normalize import normalize_date

_THIS_YEAR = dt.date.today().year % 100

DATES = [
    ("1980-02-29T10:30:00Z", "1980-02-29"),
    ("1980-02-29T10:30:00+02:00", "1980-02-29"),
    ("1980-2-9", "1980-02-09"),
    ("1980.02.29", "1980-02-29"),
    ("  19800229 ", "1980-02-29"),
    ("29021980", "1980-02-29"),  # DDMMYYYY: as YYYYMMDD the year would be 2902
    ("9/3/1980", "1980-03-09"),
    ("09 / 03 / 1980", "1980-03-09"),
    ("29/02/1980 00:00", "1980-02-29"),
    ("13/12/1980", "1980-12-13"),
    ("12/13/1980", "1980-12-13"),  # day > 12: only the US reading is a date
    ("4 March 1980", "1980-03-04"),
    ("4th March 1980", "1980-03-04"),
    ("4 MAR 1980", "1980-03-04"),
    ("March 4, 1980", "1980-03-04"),
    ("Mar. 4th, 1980", "1980-03-04"),
    ("Sept 30 1980", "1980-09-30"),
    ("04-Mar-1980", "1980-03-04"),
    ("04-Mar-80", "1980-03-04"),
    ("Tuesday, 4 March 1980", "1980-03-04"),
    ("4. März 1980", "1980-03-04"),
    ("4 février 1980", "1980-02-04"),
    ("1 Mai 1980", "1980-05-01"),
    ("03/04/80", "1980-04-03"),
    (f"03/04/{_THIS_YEAR:02d}", f"20{_THIS_YEAR:02d}-04-03"),  # up to this year: 20xx
    (f"03/04/{(_THIS_YEAR + 1) % 100:02d}", f"19{(_THIS_YEAR + 1) % 100:02d}-04-03"),
    # impossible or implausible
    ("2023-02-30", None),
    ("30 February 1980", None),
    ("1980-13-01", None),
    ("13/13/1980", None),
    ("31/04/1980", None),
    ("00/01/1980", None),
    ("1799-12-31", None),
    ("2101-01-01", None),
    ("1800-01-01", "1800-01-01"),
    ("2100-12-31", "2100-12-31"),
    ("4 Foo 1980", None),
    ("1980", None),
    ("29280", None),  # an Excel serial number or junk: not guessed
    ("1980-02-29x", None),
    # objects
    (dt.date(1980, 2, 29), "1980-02-29"),
    (pd.Timestamp("1980-02-29 10:00", tz="UTC"), "1980-02-29"),
    (np.datetime64("1980-02-29"), "1980-02-29"),
    (19800229, "1980-02-29"),  # a number from a spreadsheet
    (pd.NaT, None),
    (np.nan, None),
]


@pytest.mark.parametrize(("raw", "expected"), DATES)
def test_normalize_date_tricky(raw: object, expected: str | None) -> None:
    assert normalize_date(pd.Series([raw], dtype=object)).tolist() == [expected]


@pytest.mark.parametrize(
    ("raw", "dayfirst", "expected"),
    [
        ("03/04/1980", True, "1980-04-03"),
        ("03/04/1980", False, "1980-03-04"),
        ("03.04.1980", False, "1980-03-04"),
        ("13/04/1980", False, "1980-04-13"),  # month 13 impossible: day first after all
        ("02291980", False, "1980-02-29"),  # MMDDYYYY
        ("4 March 1980", False, "1980-03-04"),  # month names are never ambiguous
    ],
)
def test_normalize_date_order(raw: str, dayfirst: bool, expected: str) -> None:
    out = normalize_date(pd.Series([raw], dtype=object), dayfirst=dayfirst)
    assert out.tolist() == [expected]


def test_normalize_date_string_dtype_column() -> None:
    values = pd.Series(["1980-02-29", None, "29.02.1980"], dtype="string")
    assert normalize_date(values).tolist() == ["1980-02-29", None, "1980-02-29"]
