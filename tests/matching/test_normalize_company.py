"""Company names: legal forms, a leading "The", "&" and punctuation."""

from __future__ import annotations

import pandas as pd
import pytest

from crmhub.matching.normalize import normalize_company, normalize_frame

COMPANIES = [
    ("Acme, Inc.", "acme"),
    ("ACME Inc", "acme"),
    ("acme", "acme"),
    ("Acme Incorporated", "acme"),
    ("Acme LLC", "acme"),
    ("Acme L.L.C.", "acme"),
    ("Acme Ltd.", "acme"),
    ("Acme Limited", "acme"),
    ("Acme GmbH", "acme"),
    ("Acme AG", "acme"),
    ("Acme S.A.", "acme"),
    ("Acme SARL", "acme"),
    ("Acme PLC", "acme"),
    ("Acme Pty Ltd", "acme"),
    ("Acme B.V.", "acme"),
    ("Acme NV", "acme"),
    ("Acme Co.", "acme"),
    ("Acme Corp.", "acme"),
    ("Acme Corporation", "acme"),
    ("The Acme Corporation", "acme"),
    ("Acme Holdings Co., Ltd.", "acme holdings"),  # a run of forms goes at once
    ("Müller GmbH & Co. KG", "muller"),
    ("Société Générale S.A.", "societe generale"),
    ("Smith & Sons Ltd", "smith and sons"),
    ("Smith and Sons", "smith and sons"),
    ("McDonald's Corp", "mcdonalds"),
    ("Jones-Vasquez", "jones vasquez"),
    ("Vincent, Reese and Haas", "vincent reese and haas"),
    ("The Hut", "hut"),
    ("Theodore Inc", "theodore"),  # "The" only as a word
    ("Incorporated Television", "incorporated television"),  # forms only at the end
    ("The Company", "company"),  # nothing but a form: keep it rather than lose the name
    ("Inc.", "inc"),
    ("  ", None),
    (None, None),
]


@pytest.mark.parametrize(("raw", "expected"), COMPANIES)
def test_normalize_company(raw: str | None, expected: str | None) -> None:
    assert normalize_company(pd.Series([raw], dtype=object)).tolist() == [expected]


def test_normalize_frame_uses_the_company_normaliser() -> None:
    records = pd.DataFrame({"company": ["Acme, Inc.", "ACME Inc", "acme"]})
    assert normalize_frame(records)["company"].tolist() == ["acme", "acme", "acme"]
