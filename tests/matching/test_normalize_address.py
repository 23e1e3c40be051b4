"""Street lines and postcodes: tables of tricky inputs and the one spelling they must reach."""

from __future__ import annotations

import pandas as pd
import pytest

from crmhub.matching.normalize import normalize_frame, normalize_postcode, normalize_street

STREETS = [
    # one unit, five spellings
    ("12 Main St Apt 4", "12 main street unit 4"),
    ("12 Main Street #4", "12 main street unit 4"),
    ("12 Main St. # 4", "12 main street unit 4"),
    ("Apt 4, 12 Main St", "12 main street unit 4"),
    ("12 Main St., Unit 4", "12 main street unit 4"),
    ("12 Main St Suite 4", "12 main street unit 4"),
    ("12 Main St Ste 4", "12 main street unit 4"),
    ("12 MAIN ST APARTMENT 4", "12 main street unit 4"),
    ("Flat 4, 12 Main St", "12 main street unit 4"),
    ("Apt. #4, 12 Main St", "12 main street unit 4"),
    ("12 Main St Apt 4B", "12 main street unit 4b"),
    # "Flat" and "Ste" without a number are street words, not units
    ("4107 Harrison Flat", "4107 harrison flat"),
    ("5 Rue Ste Catherine", "5 rue ste catherine"),
    # ordinals as words or numbers
    ("12 First St", "12 1st street"),
    ("12 1st St", "12 1st street"),
    ("12 Twenty-First Street", "12 21st street"),
    ("12 21st St", "12 21st street"),
    ("Third Avenue", "3rd avenue"),
    ("12 Fortieth St", "12 40th street"),
    # Saint vs Street
    ("12 St Marys Rd", "12 saint marys road"),
    ("12 Saint Mary's Road", "12 saint marys road"),
    ("St. Louis Ave", "saint louis avenue"),
    ("12 Main St N", "12 main street north"),
    # other spellings
    ("P.O. Box 12", "po box 12"),
    ("12  Main\tStreet ", "12 main street"),
    ("12 Hauptstraße", "12 hauptstrasse"),
    # a unit between other parts: usaddress puts number, street, unit, rest in order
    ("Flat 2, Baker House, 12 Main St", "12 main street unit 2 baker house"),
    ("#", None),
    ("Apt", None),
    ("---", None),
]


@pytest.mark.parametrize(("raw", "expected"), STREETS)
def test_normalize_street_tricky(raw: str, expected: str | None) -> None:
    assert normalize_street(pd.Series([raw], dtype=object)).tolist() == [expected]


POSTCODES = [
    ("sw1a1aa", "SW1A1AA"),
    ("SW1A 1AA", "SW1A1AA"),
    ("sw1a  1aa ", "SW1A1AA"),
    ("k1a0b1", "K1A0B1"),
    ("K1A 0B1", "K1A0B1"),
    ("K1A-0B1", "K1A0B1"),
    ("02134 1234", "02134"),
    ("D-10115", "10115"),
    ("F-75008", "75008"),
    ("1010", "1010"),  # Vienna: four digits are a real postcode on their own
    (2134, "2134"),  # a number from a spreadsheet: no ".0", no guessing the country
    (2134.0, "2134"),
    ("  ", None),
]


@pytest.mark.parametrize(("raw", "expected"), POSTCODES)
def test_normalize_postcode_tricky(raw: object, expected: str | None) -> None:
    assert normalize_postcode(pd.Series([raw], dtype=object)).tolist() == [expected]


@pytest.mark.parametrize(
    ("postcode", "country", "expected"),
    [
        ("2134", "US", "02134"),
        (2134, "United States", "02134"),
        ("501", "USA", "00501"),
        ("2134", "DE", "2134"),
        ("2134", None, "2134"),
        ("02134", "US", "02134"),
        ("SW1A 1AA", "US", "SW1A1AA"),
    ],
)
def test_us_zip_gets_its_leading_zeros_back(
    postcode: object, country: str | None, expected: str
) -> None:
    records = pd.DataFrame({"postal_code": [postcode], "country": [country]}, dtype=object)
    assert normalize_frame(records)["postal_code"].tolist() == [expected]
