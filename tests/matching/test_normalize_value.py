"""The one-value normalisers give exactly what the column normalisers give."""

from __future__ import annotations

import pandas as pd
import pytest

from crmhub.demo_data import generate_customers
from crmhub.matching.normalize import (
    canonical_first_name,
    normalize_email,
    normalize_name,
    normalize_phone,
)
from crmhub.matching.normalize_value import email_value, formal_first_name, name_value, phone_value

TRICKY_NAMES = [
    "  O'Brien ",
    "o’brien",
    "JOSÉ",
    "Zoë  Saldaña",
    "Jean-Luc",
    "Dr. José Núñez Jr.",
    "Mr Smith",
    "Straße",
    "Søren Ærø",
    "Łukasz",
    "van der Berg",
    "\tAnne\n Marie ",
    "",
    "--",
    "J.R.R.",
    "Mary-Kate O'Neil III",
    "Çağlar",
    "Nguyễn Thị",
    "ﬁona",
]
TRICKY_EMAILS = [
    " John.Smith+shop@GoogleMail.com ",
    "mailto:a.b@x.com",
    "a.b+c@outlook.com",
    "a.b@x.com",
    "+tag@gmail.com",
    "not-an-email",
    "a@b",
    "x+y@example.org",
    "A.B+C@ICLOUD.COM",
]
TRICKY_PHONES = [
    "(212) 555-0123",
    "+44 20 7946 0958",
    "212-555-0123 ext. 45",
    "555",
    "+1 212 555 0123",
]


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    return generate_customers(20_000, seed=31)


def test_names_match_the_column_normaliser(people: pd.DataFrame) -> None:
    values = (
        pd.concat(
            [people["first_name"], people["last_name"], pd.Series(TRICKY_NAMES)], ignore_index=True
        )
        .dropna()
        .astype(str)
        .drop_duplicates()
    )
    column = normalize_name(values.astype(object)).tolist()
    assert [name_value(v) for v in values] == column
    formal = canonical_first_name(pd.Series([c for c in column if c], dtype=object)).tolist()
    assert [formal_first_name(c) for c in column if c] == formal


def test_emails_match_the_column_normaliser(people: pd.DataFrame) -> None:
    values = pd.concat([people["email"], pd.Series(TRICKY_EMAILS)], ignore_index=True)
    values = values.dropna().astype(str).drop_duplicates()
    assert [email_value(v) for v in values] == normalize_email(values.astype(object)).tolist()


def test_phones_match_the_column_normaliser(people: pd.DataFrame) -> None:
    values = pd.concat([people["phone"], pd.Series(TRICKY_PHONES)], ignore_index=True)
    values = values.dropna().astype(str).drop_duplicates()
    expected = normalize_phone(values.astype(object), default_region="US").tolist()
    assert [phone_value(v, "US") for v in values] == expected
