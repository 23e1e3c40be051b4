"""Street lines and postcodes in one spelling, so that equal addresses compare equal.

Street lines are cleaned by a fixed chain of polars string operations: fold, unit designators
(Apt, Apartment, Suite, Flat, #) written as "unit", abbreviations expanded in one Aho-Corasick
pass, ordinal words as numbers ("first" -> "1st"), and a unit written first moved to the end.
Only lines that chain cannot put into "<number> <street> unit <id>" order (a unit between other
parts, say "flat 2 baker house 12 main street") are handed to ``usaddress``, whose
per-line parsing is far too slow for the common case.
"""

from __future__ import annotations

import pandas as pd
import polars as pl

from crmhub.matching.normalize_core import (
    APOSTROPHES,
    NON_WORD_RUNS,
    blank_to_null,
    fold,
    fold_letters,
    on_rows,
    per_unique,
    replace_words,
)

# fmt: off
STREET_ABBREVIATIONS: dict[str, str] = {
    "st": "street", "str": "street", "rd": "road", "ave": "avenue", "av": "avenue",
    "blvd": "boulevard", "dr": "drive", "ln": "lane", "ct": "court", "pl": "place", "sq": "square",
    "hwy": "highway", "pkwy": "parkway", "ter": "terrace", "cres": "crescent", "cir": "circle",
    "trl": "trail", "pk": "park", "mt": "mount", "apt": "unit", "fl": "floor",
    "n": "north", "s": "south", "e": "east", "w": "west", "ne": "northeast", "nw": "northwest",
    "se": "southeast", "sw": "southwest",
}
# fmt: on
"""Street-address abbreviations expanded to one spelling so "12 Main St." == "12 main street".

Unit designators all become "unit": "Apt 4", "Suite 4", "Flat 4" and "#4" are the same unit.
"Ste" and "Flat" only count as units before a number: "Boyd Flat" is a street, "Rue Ste
Catherine" a saint.
"""

UNIT_WORDS: dict[str, str] = {
    "apartment": "unit",
    "appt": "unit",
    "suite": "unit",
}
"""Spelled-out unit designators."""

# fmt: off
_ORDINALS = (
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
    "eighteenth", "nineteenth",
)
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_TENTHS = ("twentieth", "thirtieth", "fortieth", "fiftieth", "sixtieth", "seventieth",
           "eightieth", "ninetieth")
# fmt: on


def _ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def _ordinal_words() -> dict[str, str]:
    """ "first" .. "ninety ninth" -> "1st" .. "99th" (a hyphen is already a space here)."""
    table = {word: _ordinal(i) for i, word in enumerate(_ORDINALS, start=1)}
    for t, (tens, tenth) in enumerate(zip(_TENS, _TENTHS, strict=True), start=2):
        table[tenth] = _ordinal(10 * t)
        for i, word in enumerate(_ORDINALS[:9], start=1):
            table[f"{tens} {word}"] = _ordinal(10 * t + i)
    return table


_STREET_WORDS = {**STREET_ABBREVIATIONS, **UNIT_WORDS, **_ordinal_words(), "p o box": "po box"}
_DESIGNATORS = "apt|apartment|appt|unit|suite|ste|flat|n|s|e|w|north|south|east|west"
_FAST_SHAPE = r"^\d\w*(?: (?:[^\d\s]\S*|\d+(?:st|nd|rd|th)))+ unit \w+$"
"""House number, street words (or ordinals such as "1st"), then the unit at the end."""


def normalize_street(values: pd.Series) -> pd.Series:
    """Street line: folded, punctuation -> space, abbreviations and unit designators unified.

    "12 Main St Apt 4", "12 Main Street #4", "Apt 4, 12 Main St" and "12 Main St., Unit 4" all
    become "12 main street unit 4"; "First St" == "1st St"; "St Marys Rd" -> "saint marys road".
    """
    return per_unique(values, _clean_streets)


def _clean_streets(uniques: pl.Series) -> pl.Series:
    out = _street_chain(uniques)
    odd = out.str.contains("unit", literal=True).fill_null(False)
    odd = odd & out.str.contains(r"\bunit\b") & ~out.str.contains(_FAST_SHAPE)
    if odd.any():
        out = _parse_odd_lines(out, odd)
    return blank_to_null(out)


def _street_chain(lines: pl.Series) -> pl.Series:
    """The vectorised part: fold, "#" -> unit, Saint, word table, a leading unit moved last.

    The rarer rewrites only run on the lines that a literal search says may need them.
    """
    out = fold_letters(lines).str.replace_all(APOSTROPHES, "")
    out = on_rows(out, out.str.contains("#", literal=True), _hash_to_unit)
    out = out.str.replace_all(NON_WORD_RUNS, " ").str.strip_chars()
    out = on_rows(out, out.str.contains(r"\bst "), _saint)
    out = on_rows(out, out.str.contains(r"\b(?:ste|flat) \d"), _numbered_unit)
    out = replace_words(out, _STREET_WORDS)
    return on_rows(out, out.str.contains("unit", literal=True), _unit_last)


def _hash_to_unit(lines: pl.Series) -> pl.Series:
    return lines.str.replace_all(r"#\s*", " unit ")


def _saint(lines: pl.Series) -> pl.Series:
    """ "St" right after the house number (or first) and before a name is "Saint"."""
    out = lines.str.replace(r"^(\d+[a-z]? |)st ([a-z]{2,})", "${1}saint ${2}")
    return out.str.replace(rf"^(\d+[a-z]? |)saint ({_DESIGNATORS})\b", "${1}st ${2}")


def _numbered_unit(lines: pl.Series) -> pl.Series:
    """ "Ste" and "Flat" are units only before a number ("Boyd Flat" is a street)."""
    return lines.str.replace_all(r"\b(?:ste|flat) (\d)", "unit ${1}")


def _unit_last(lines: pl.Series) -> pl.Series:
    """ "unit unit 4" (from "Apt #4") -> "unit 4"; "unit 4 12 main street" -> "... unit 4"."""
    out = lines.str.replace_all(r"\bunit(?: unit)+\b", "unit")
    out = out.str.replace(r"^unit (\w+) (\d.*)$", "${2} unit ${1}")
    return out.str.replace(r"^unit$", "")  # a designator alone is no address


def _parse_odd_lines(cleaned: pl.Series, odd: pl.Series) -> pl.Series:
    """Reorder lines with a unit in an unusual place with ``usaddress`` (slow: few lines only).

    The result reads number, street, unit, then anything else (a building name), so "unit 2
    baker house 12 main street" -> "12 main street unit 2 baker house". Lines ``usaddress``
    cannot label, or without a house number and street, stay as they are.
    """
    import usaddress

    lines = cleaned.filter(odd).to_list()
    fixed: list[str] = []
    for line in lines:
        try:
            tagged = usaddress.parse(line)
        except Exception:  # usaddress raises on lines it cannot label consistently
            fixed.append(line)
            continue
        parts: dict[str, list[str]] = {"number": [], "street": [], "unit": [], "other": []}
        for token, label in tagged:
            parts[_ADDRESS_PART.get(label, "other")].append(token)
        usable = parts["number"] and parts["street"]
        fixed.append(
            " ".join(parts["number"] + parts["street"] + parts["unit"] + parts["other"])
            if usable
            else line
        )
    return cleaned.scatter(odd.arg_true(), pl.Series(fixed, dtype=pl.String))


_ADDRESS_PART = {
    "AddressNumber": "number",
    "AddressNumberPrefix": "number",
    "AddressNumberSuffix": "number",
    "StreetNamePreDirectional": "street",
    "StreetNamePreModifier": "street",
    "StreetNamePreType": "street",
    "StreetName": "street",
    "StreetNamePostType": "street",
    "StreetNamePostDirectional": "street",
    "StreetNamePostModifier": "street",
    "OccupancyType": "unit",
    "OccupancyIdentifier": "unit",
}
"""usaddress labels -> the part of the line they belong to; other labels come last."""


# --- postcodes -------------------------------------------------------------------------------


def normalize_postcode(values: pd.Series) -> pd.Series:
    """Upper-case postcode without spaces or punctuation: " sw1a 1aa" -> "SW1A1AA".

    A US ZIP+4 ("02134-1234", "021341234") keeps its five-digit ZIP, which is what most
    systems store; no other country uses nine-digit postcodes. A country letter prefix in
    front of digits ("D-10115", "F-75008") is dropped. UK and Canadian codes ("k1a 0b1") keep
    their letters and lose the space.
    """
    return per_unique(values, _clean_postcodes)


def _clean_postcodes(uniques: pl.Series) -> pl.Series:
    out = fold(uniques).str.to_uppercase().str.replace(r"^[A-Z]{1,3}-(\d{4,5})$", "${1}")
    out = out.str.replace_all(r"[^0-9A-Z]", "")
    return blank_to_null(out.str.replace(r"^(\d{5})\d{4}$", "${1}"))


def pad_us_zip(postcode: pd.Series, country: pd.Series) -> pd.Series:
    """Restore the leading zeros a spreadsheet stripped from US ZIPs ("2134" -> "02134").

    Only where the (normalised) country says US: elsewhere four-digit postcodes are real.
    """
    distinct = postcode.dropna().unique()
    short = [code for code in distinct if len(code) in (3, 4) and code.isdigit()]
    if not short:
        return postcode
    rows = postcode.isin(short) & country.isin(_US_NAMES)
    out = postcode.copy()
    out[rows] = postcode[rows].str.zfill(5)
    return out


_US_NAMES = ("us", "usa", "united states", "united states of america", "u s", "u s a")
