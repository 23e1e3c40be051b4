"""Normalisers, value by value: tables of tricky inputs and what they must become."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from crmhub.canonical import IDENTITY_FIELDS
from crmhub.matching.normalize import (
    canonical_first_name,
    normalize_date,
    normalize_email,
    normalize_frame,
    normalize_identifier,
    normalize_name,
    normalize_phone,
    normalize_postcode,
    normalize_street,
)

NAMES = [
    ("  O'Brien ", "obrien"),
    ("o’brien", "obrien"),
    ("JOSÉ", "jose"),
    ("Zoë  Saldaña", "zoe saldana"),
    ("Jean-Luc", "jean luc"),
    ("Dr. José Núñez Jr.", "jose nunez"),
    ("Mr Smith", "smith"),
    ("Straße", "strasse"),
    ("Søren Ærø", "soren aero"),
    ("Łukasz", "lukasz"),
    ("van der Berg", "van der berg"),
    ("\tAnne\n Marie ", "anne marie"),
    ("", None),
    ("--", None),
    ("   ", None),
    (None, None),
    (np.nan, None),
    (12, "12"),
]


@pytest.mark.parametrize(("raw", "expected"), NAMES)
def test_normalize_name(raw: object, expected: str | None) -> None:
    assert normalize_name(pd.Series([raw], dtype=object)).tolist() == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("bill", "william"),
        ("Bob", "Bob"),
        ("william", "william"),
        ("peggy", "margaret"),
        ("zachary", "zachary"),
        (None, None),
    ],
)
def test_canonical_first_name(raw: str | None, expected: str | None) -> None:
    assert canonical_first_name(pd.Series([raw], dtype=object)).tolist() == [expected]


EMAILS = [
    (" Foo.Bar@Example.COM ", "foo.bar@example.com"),
    ("MAILTO:a@b.co", "a@b.co"),
    ("a@b", None),
    ("no-at-sign.com", None),
    ("two@@ats.com", None),
    ("a b@c.com", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("raw", "expected"), EMAILS)
def test_normalize_email(raw: str | None, expected: str | None) -> None:
    assert normalize_email(pd.Series([raw], dtype=object)).tolist() == [expected]


PHONES_US = [
    ("(212) 456-7890", "+12124567890"),
    ("212.456.7890", "+12124567890"),
    ("2124567890", "+12124567890"),
    ("1-212-456-7890", "+12124567890"),
    ("+1 212 456 7890", "+12124567890"),
    ("+1 (212) 456-7890 ext. 12", "+12124567890"),
    ("212-456-7890 x99", "+12124567890"),
    ("+1 416 967 1111", "+14169671111"),  # Toronto: valid NANP, not US: slow path
    ("+44 20 7946 0958", "+442079460958"),  # foreign with country code
    ("020 7946 0958", None),  # a UK national number means nothing in the US
    ("123-456-7890", None),  # area codes never start with 1
    ("456-7890", None),  # no area code
    ("12345", None),
    ("phone", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("raw", "expected"), PHONES_US)
def test_normalize_phone_us(raw: str | None, expected: str | None) -> None:
    assert normalize_phone(pd.Series([raw], dtype=object), default_region="US").tolist() == [
        expected
    ]


PHONES_GB = [
    ("020 7946 0958", "+442079460958"),
    ("+44 (0)20 7946 0958", "+442079460958"),
    ("07911 123456", "+447911123456"),
    ("0044 7911 123456", "+447911123456"),
    ("(212) 456-7890", None),
    ("+1 212 456 7890", "+12124567890"),
]


@pytest.mark.parametrize(("raw", "expected"), PHONES_GB)
def test_normalize_phone_gb(raw: str, expected: str | None) -> None:
    assert normalize_phone(pd.Series([raw], dtype=object), default_region="GB").tolist() == [
        expected
    ]


def test_phone_fast_path_agrees_with_phonenumbers() -> None:
    """The regex fast path must give what phonenumbers.parse + is_valid_number would."""
    import phonenumbers

    rng = np.random.default_rng(0)
    raw = [
        f"({a}) {e}-{n:04d}"
        for a, e, n in zip(
            rng.integers(200, 999, 400),
            rng.integers(100, 999, 400),
            rng.integers(0, 9999, 400),
            strict=True,
        )
    ]
    expected = []
    for text in raw:
        number = phonenumbers.parse(text, "US")
        valid = phonenumbers.is_valid_number(number)
        expected.append(
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            if valid
            else None
        )
    assert normalize_phone(pd.Series(raw), default_region="US").tolist() == expected


DATES = [
    ("1980-02-29", "1980-02-29"),
    ("19800229", "1980-02-29"),
    ("29/02/1980", "1980-02-29"),
    ("29.02.1980", "1980-02-29"),
    ("29-02-1980", "1980-02-29"),
    ("1980/02/29", "1980-02-29"),
    ("1980-01-02T10:30:00", "1980-01-02"),
    ("1980-01-02 00:00:00", "1980-01-02"),
    ("03/04/1980", "1980-04-03"),  # day first by default
    ("12/31/1980", "1980-12-31"),  # cannot be day first: read as US
    ("1981-02-29", None),  # not a leap year
    ("31/04/2000", None),  # April has 30 days
    ("2000-13-01", None),
    ("00000000", None),
    ("0001-01-01", None),  # out of range: junk
    ("yesterday", None),
    ("", None),
    (None, None),
    (dt.date(2001, 5, 6), "2001-05-06"),
    (dt.datetime(2001, 5, 6, 23, 59), "2001-05-06"),
    (pd.Timestamp("2001-05-06"), "2001-05-06"),
]


@pytest.mark.parametrize(("raw", "expected"), DATES)
def test_normalize_date(raw: object, expected: str | None) -> None:
    assert normalize_date(pd.Series([raw], dtype=object)).tolist() == [expected]


def test_normalize_date_month_first() -> None:
    values = pd.Series(["03/04/1980", "31/12/1980"], dtype=object)
    assert normalize_date(values, dayfirst=False).tolist() == ["1980-03-04", "1980-12-31"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" sw1a 1aa", "SW1A1AA"),
        ("SW1A-1AA", "SW1A1AA"),
        ("02134", "02134"),
        ("02134-1234", "02134"),
        ("021341234", "02134"),
        ("75008", "75008"),
        ("", None),
        (None, None),
    ],
)
def test_normalize_postcode(raw: str | None, expected: str | None) -> None:
    assert normalize_postcode(pd.Series([raw], dtype=object)).tolist() == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12 Main St.", "12 main street"),
        ("12 MAIN STREET", "12 main street"),
        ("4 N. Oak Ave", "4 north oak avenue"),
        ("77 Sunset Blvd, Apt 5", "77 sunset boulevard unit 5"),  # all unit words -> "unit"
        ("1 Rue de l'Église", "1 rue de leglise"),
        ("9 Elm Rd", "9 elm road"),
        ("", None),
        (None, None),
    ],
)
def test_normalize_street(raw: str | None, expected: str | None) -> None:
    assert normalize_street(pd.Series([raw], dtype=object)).tolist() == [expected]


def test_normalize_identifier() -> None:
    values = pd.Series(["12-3456789", "gb 123 456 789", "", None], dtype=object)
    assert normalize_identifier(values).tolist() == ["123456789", "GB123456789", None, None]


def test_normalize_frame_has_every_identity_field_and_keeps_the_index() -> None:
    records = pd.DataFrame(
        {"first_name": ["Ann", None], "phone": ["212 456 7890", "x"]}, index=[10, 20]
    )
    out = normalize_frame(records)
    assert list(out.columns) == list(IDENTITY_FIELDS)
    assert list(out.index) == [10, 20]
    assert out["first_name"].tolist() == ["ann", None]
    assert out["phone"].tolist() == ["+12124567890", None]
    assert out["email"].tolist() == [None, None]


def test_repeated_values_are_normalised_consistently() -> None:
    values = pd.Series(["(212) 456-7890", None, "(212) 456-7890", "212.456.7890"] * 1000)
    out = normalize_phone(values)
    assert out.isna().sum() == 1000
    assert set(out.dropna()) == {"+12124567890"}


PROVIDER_EMAILS = [
    ("John.Smith+shop@GMAIL.com", "johnsmith@gmail.com"),
    ("j.o.h.n.smith@gmail.com", "johnsmith@gmail.com"),
    ("John.Smith@googlemail.com", "johnsmith@gmail.com"),
    ("john.smith+a+b@gmail.com", "johnsmith@gmail.com"),
    ("john.smith+tag@outlook.com", "john.smith@outlook.com"),  # dots count at Microsoft
    ("john.smith+tag@hotmail.com", "john.smith@hotmail.com"),
    ("john.smith+tag@live.com", "john.smith@live.com"),
    ("john.smith+tag@icloud.com", "john.smith@icloud.com"),
    ("john+tag@me.com", "john@me.com"),
    ("john+tag@mac.com", "john@mac.com"),
    ("john+tag@fastmail.com", "john@fastmail.com"),
    ("john+tag@protonmail.com", "john@protonmail.com"),
    ("john+tag@proton.me", "john@proton.me"),
    ("john.smith-shop@yahoo.com", "john.smith-shop@yahoo.com"),  # yahoo left alone
    ("john.smith+tag@yahoo.com", "john.smith+tag@yahoo.com"),
    ("john.smith+tag@acme.com", "john.smith+tag@acme.com"),  # company servers: keep all
    ("john.smith@gmail.com.au", "john.smith@gmail.com.au"),  # not gmail.com
    ("+tag@gmail.com", None),  # nothing left of the user
    ("...@gmail.com", None),
    (" mailto:John@Example.com ", "john@example.com"),
    ("john@@gmail.com", None),
]


@pytest.mark.parametrize(("raw", "expected"), PROVIDER_EMAILS)
def test_normalize_email_providers(raw: str, expected: str | None) -> None:
    assert normalize_email(pd.Series([raw], dtype=object)).tolist() == [expected]


PHONES_TRICKY_US = [
    ("416-967-1111", "+14169671111"),  # Canada in national form: slow path, still valid
    ("011 44 20 7946 0958", "+442079460958"),  # US exit code
    ("1-800-FLOWERS", "+18003569377"),  # vanity letters
    ("212 456 7890 ext 12 (office)", None),  # text after the extension: phonenumbers gives up
    ("2124567890.0", None),  # float text is not a number the user typed
    (2124567890, "+12124567890"),  # spreadsheet integer
    (2124567890.0, "+12124567890"),  # spreadsheet float
    ("+1 212 456 789", None),  # one digit short
    ("1-21-245-6789", None),
    ("(212) 456-78901", None),  # one digit too many
    ("+1 (212) 456-7890 #12", "+12124567890"),
    ("+", None),
]


@pytest.mark.parametrize(("raw", "expected"), PHONES_TRICKY_US)
def test_normalize_phone_tricky(raw: object, expected: str | None) -> None:
    out = normalize_phone(pd.Series([raw], dtype=object), default_region="US")
    assert out.tolist() == [expected]


@pytest.mark.parametrize("region", ["US", "CA", "GB", "DE"])
def test_phone_shortcuts_agree_with_phonenumbers(region: str) -> None:
    """Whatever path a plain number takes, the answer is phonenumbers' answer."""
    import phonenumbers

    rng = np.random.default_rng(1)
    prefixes = ["", "+1 ", "1-", "1 1 ", "+44 ", "0", "011 ", "00 ", "+49 ", "(", "+"]
    prefixes += [
        "+33 ",
        "+7 ",
        "+61 ",
        "00 44 ",
        "011 49 ",
        "+1 416",
        "+44 (0)",
        "+54 9 ",
        "+52 1 ",
    ]
    raw = []
    for i, row in enumerate(rng.integers(0, 10, size=(4000, 13))):
        digits = "".join(map(str, row[: 7 + i % 7]))
        raw.append(prefixes[i % len(prefixes)] + digits)
    expected = []
    for text in raw:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            expected.append(None)
            continue
        valid = phonenumbers.is_valid_number(number)
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        expected.append(e164 if valid else None)
    assert normalize_phone(pd.Series(raw), default_region=region).tolist() == expected
