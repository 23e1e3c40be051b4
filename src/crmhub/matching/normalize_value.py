"""One value at a time: the normalisers for a single query (a phone typed into a lookup box).

The column normalisers (`normalize`) are built for millions of values: each call pays a fixed
cost of a few milliseconds for its chain of polars operations, which is nothing per million
values and everything for one. A customer lookup normalises one value and must answer in about
a millisecond, so these functions do the same work in plain Python. They must give exactly the
column normalisers' result, or a lookup would miss what the build stored: the tests compare
both on generated and tricky values.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pandas as pd
import phonenumbers

from crmhub.matching.normalize import _EMAIL, GMAIL_DOMAINS, NICKNAMES, PLUS_TAG_DOMAINS
from crmhub.matching.normalize_core import APOSTROPHES, LETTER_FOLD, NON_WORD_RUNS
from crmhub.matching.normalize_names import _NAME_AFFIXES
from crmhub.matching.normalize_phone import _NOT_PLAIN

_EMAIL_RE = re.compile(_EMAIL)
_NOT_PLAIN_RE = re.compile(_NOT_PLAIN)
_NOISE_RE = re.compile(r"[^\d+]")
_APOSTROPHES_RE = re.compile(APOSTROPHES)
_NON_WORD_RE = re.compile(NON_WORD_RUNS)
_AFFIXES_RE = re.compile(_NAME_AFFIXES)
_FOLD = str.maketrans(LETTER_FOLD)


@lru_cache(maxsize=4096)
def phone_value(text: str, default_region: str = "US") -> str | None:
    """`normalize_phone` of one number: its digits read by phonenumbers. A text phonenumbers
    would read differently from "its digits in order" (an extension, a vanity number, non-ASCII
    digits) goes through the column normaliser itself, as rare as it is slow."""
    if _NOT_PLAIN_RE.search(text):
        from crmhub.matching.normalize import normalize_phone

        found = normalize_phone(pd.Series([text], dtype=object), default_region=default_region)
        return found.iloc[0] if isinstance(found.iloc[0], str) else None
    try:
        number = phonenumbers.parse(_NOISE_RE.sub("", text), default_region.upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=4096)
def email_value(text: str) -> str | None:
    """`normalize_email` of one address."""
    address = text.strip().lower()
    if address.startswith("mailto:"):
        address = address.removeprefix("mailto:").strip()
    if not _EMAIL_RE.search(address):
        return None
    user, domain = address.split("@", 1)
    domain = "gmail.com" if domain == "googlemail.com" else domain
    if "+" in address and domain in PLUS_TAG_DOMAINS:
        user = user.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        user = user.replace(".", "")
    return f"{user}@{domain}" if user else None


@lru_cache(maxsize=4096)
def name_value(text: str) -> str | None:
    """`normalize_name` of one name."""
    folded = text.lower()
    if not folded.isascii():
        folded = unicodedata.normalize("NFKD", folded.translate(_FOLD))
        folded = "".join(c for c in folded if unicodedata.category(c) != "Mn").lower()
    words = _NON_WORD_RE.sub(" ", _APOSTROPHES_RE.sub("", folded)).strip()
    out = _AFFIXES_RE.sub("", words).strip()
    return out or None


def formal_first_name(name: str) -> str:
    """`canonical_first_name` of one normalised first name."""
    return NICKNAMES.get(name, name)
