"""Company names without legal-form noise: "Acme, Inc." == "ACME Inc" == "acme".

The legal forms come from the ``cleanco`` package (Inc, LLC, Ltd, GmbH, S.A., SARL, PLC, Pty Ltd,
BV, NV, Co, Corp, ... for many countries). Its own ``basename`` works one name at a time in
Python; here its terms become one anchored regex that strips any run of them from the end of
every name in a single native pass.
"""

from __future__ import annotations

import re
from functools import cache

import pandas as pd
import polars as pl

from crmhub.matching.normalize_core import APOSTROPHES, blank_to_null, fold, per_unique


def normalize_company(values: pd.Series) -> pd.Series:
    """Company name: folded, "&" -> "and", a leading "The" and trailing legal forms removed.

    Dots and apostrophes vanish ("S.A." -> "sa", "McDonald's" -> "mcdonalds"), other
    punctuation becomes a space ("Jones-Vasquez" -> "jones vasquez"). A name that is nothing
    but a legal form keeps it ("The Company" -> "company") instead of becoming empty.
    """
    return per_unique(values, _clean_companies)


def _clean_companies(uniques: pl.Series) -> pl.Series:
    out = _company_words(uniques)
    # both patterns need a word before what they strip, so a name never becomes empty
    out = out.str.replace(r"^the (.)", "${1}").str.replace(_legal_form_regex(), "${1}")
    return blank_to_null(out)


def _company_words(texts: pl.Series) -> pl.Series:
    out = fold(texts).str.replace_all(APOSTROPHES, "").str.replace_all(".", "", literal=True)
    out = out.str.replace_all("&", " and ", literal=True)
    return out.str.replace_all(r"[\W_]+", " ").str.strip_chars()


@cache
def _legal_form_regex() -> str:
    """ "^(.+?)(?: <form>)+$" over every cleanco term, spelled the way names are cleaned."""
    from cleanco import prepare_default_terms

    raw = {" ".join(parts) for _, parts in prepare_default_terms()}
    terms = _company_words(pl.Series(sorted(raw), dtype=pl.String)).drop_nulls().unique()
    # longest first, so "pty ltd" is taken whole before "ltd" alone
    ordered = sorted((t for t in terms.to_list() if t), key=lambda t: (-len(t), t))
    alternatives = "|".join(re.escape(term) for term in ordered)
    return rf"^(.+?)(?: (?:{alternatives}))+$"
