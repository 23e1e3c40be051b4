"""The synthetic customer generator: deterministic, realistic enough, and with known truth."""

from __future__ import annotations

import pandas as pd

from crmhub.demo_data import COLUMNS, generate_customers
from crmhub.matching.normalize import normalize_date, normalize_email, normalize_phone


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    first, again = generate_customers(1_500, seed=4), generate_customers(1_500, seed=4)
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(generate_customers(1_500, seed=5))


def test_shape_and_truth() -> None:
    data = generate_customers(3_000, seed=1)
    assert len(data) == 3_000
    assert tuple(data.columns) == COLUMNS
    assert not data.duplicated(["source", "source_id"]).any()
    per_person = data["entity_id"].value_counts()
    assert (per_person > 1).sum() > 500  # plenty of known duplicates
    assert per_person.max() <= 4
    assert set(data["source"]) == {"crm", "accounting", "webshop", "support"}


def test_values_are_mostly_valid_and_formats_vary() -> None:
    data = generate_customers(3_000, seed=2)
    phones = data["phone"].dropna()
    assert normalize_phone(phones).notna().mean() > 0.95
    assert phones.str.startswith("+1").any() and phones.str.startswith("(").any()
    dates = data["birth_date"].dropna()
    assert normalize_date(dates).notna().mean() > 0.98
    assert dates.str.contains("/").any() and dates.str.fullmatch(r"\d{8}").any()
    emails = data["email"].dropna()
    assert normalize_email(emails).notna().mean() > 0.97
    assert (data["first_name"].str.isupper()).any() and (data["first_name"].str.islower()).any()


def test_hard_negatives_exist() -> None:
    data = generate_customers(5_000, seed=3)
    people = data.drop_duplicates("entity_id")
    relatives = people.dropna(subset=["street"]).duplicated(["last_name", "street"]).sum()
    assert relatives > 20  # relatives at one address
    namesakes = people.groupby(["first_name", "last_name"])["entity_id"].nunique()
    assert (namesakes > 1).sum() > 20


def test_zero_rows() -> None:
    empty = generate_customers(0)
    assert empty.empty and tuple(empty.columns) == COLUMNS
