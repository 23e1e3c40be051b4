"""Normalisers: turn raw identity values into comparable canonical forms, a whole column at a time.

Every function takes and returns a pandas Series (same index) of ``object`` dtype whose missing
values are ``None``. Work is done once per *distinct* value (`_per_unique`), because customer
columns repeat a lot (cities, postcodes, first names), and the per-value work is either a
vectorised pandas string operation or a cached library call. Values that cannot be normalised
(an invalid phone number, an impossible date, an empty name) become ``None``: a missing value
carries no evidence, a wrong one carries false evidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

import numpy as np
import pandas as pd
import phonenumbers

_WHITESPACE = re.compile(r"\s+")
# fmt: off
_LETTER_FOLD = str.maketrans({
    "ß": "ss", "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ł": "l", "Ł": "l",
    "đ": "d", "Đ": "d", "þ": "th", "ı": "i",
})
# fmt: on
_APOSTROPHES = r"['’‘`´]"
_NAME_AFFIXES = re.compile(
    r"^(?:(?:mr|mrs|ms|miss|mx|dr|prof|sir)\s+)+|(?:\s+(?:jr|sr|ii|iii|iv))+$"
)

# fmt: off
NICKNAMES: dict[str, str] = {
    "bill": "william", "billy": "william", "will": "william", "willy": "william",
    "liam": "william", "bob": "robert", "bobby": "robert", "rob": "robert", "robbie": "robert",
    "jim": "james", "jimmy": "james", "jamie": "james", "mike": "michael", "mikey": "michael",
    "dave": "david", "davy": "david", "dan": "daniel", "danny": "daniel", "tom": "thomas",
    "tommy": "thomas", "joe": "joseph", "joey": "joseph", "chris": "christopher",
    "matt": "matthew", "tony": "anthony", "steve": "steven", "rick": "richard", "rich": "richard",
    "dick": "richard", "ed": "edward", "eddie": "edward", "ted": "edward", "liz": "elizabeth",
    "beth": "elizabeth", "betty": "elizabeth", "lizzie": "elizabeth", "kate": "katherine",
    "katie": "katherine", "kathy": "katherine", "jen": "jennifer", "jenny": "jennifer",
    "sue": "susan", "susie": "susan", "maggie": "margaret", "peggy": "margaret",
    "patty": "patricia", "trish": "patricia", "alex": "alexander", "sam": "samuel",
    "ben": "benjamin", "nick": "nicholas", "andy": "andrew", "drew": "andrew", "greg": "gregory",
    "larry": "lawrence", "jon": "jonathan", "josh": "joshua", "ken": "kenneth", "kenny": "kenneth",
    "ron": "ronald", "don": "donald", "charlie": "charles", "chuck": "charles", "hank": "henry",
    "harry": "henry", "jack": "john", "johnny": "john", "abby": "abigail", "debbie": "deborah",
    "vicky": "victoria", "becky": "rebecca", "mandy": "amanda", "cindy": "cynthia",
    "pam": "pamela", "tina": "christina", "jeff": "jeffrey", "tim": "timothy", "pete": "peter",
    "ray": "raymond", "fred": "frederick",
}
# fmt: on
"""Common English nickname -> formal first name; deliberately small and unambiguous-ish."""

# fmt: off
STREET_ABBREVIATIONS: dict[str, str] = {
    "st": "street", "str": "street", "rd": "road", "ave": "avenue", "av": "avenue",
    "blvd": "boulevard", "dr": "drive", "ln": "lane", "ct": "court", "pl": "place", "sq": "square",
    "hwy": "highway", "pkwy": "parkway", "ter": "terrace", "cres": "crescent", "cir": "circle",
    "trl": "trail", "pk": "park", "mt": "mount", "apt": "apartment", "ste": "suite", "fl": "floor",
    "n": "north", "s": "south", "e": "east", "w": "west", "ne": "northeast", "nw": "northwest",
    "se": "southeast", "sw": "southwest",
}
# fmt: on
"""Street-address abbreviations expanded to one spelling so "12 Main St." == "12 main street"."""

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# fmt: off
DATE_FORMATS_DAYFIRST: tuple[str, ...] = (
    "%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%m/%d/%Y",
)
# fmt: on
"""Tried in order; ``%m/%d/%Y`` last only catches US dates whose day cannot be a month."""

# fmt: off
_PHONE_TYPES = (
    "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "voip", "personal_number",
    "pager", "uan", "voicemail",
)
# fmt: on


def _per_unique(values: pd.Series, func: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Apply `func` to the distinct non-missing values only and spread the result back.

    `func` receives a Series of ``str`` and returns a same-length Series (missing -> NaN/None).
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if len(uniques) == 0:
        return pd.Series([None] * len(values), index=values.index, dtype=object)
    done = func(pd.Series(np.asarray(uniques, dtype=object)).astype(object).map(str))
    table = np.append(done.astype(object).to_numpy(), None)
    table[pd.isna(table)] = None
    return pd.Series(table[codes], index=values.index, dtype=object)


def _blank_to_none(values: pd.Series) -> pd.Series:
    """Empty strings after cleaning mean "no value"."""
    return values.where(values.str.len() > 0, None)


def fold_text(values: pd.Series) -> pd.Series:
    """Lower-case, strip accents (NFKD), fold special letters and collapse whitespace."""
    out = values.str.translate(_LETTER_FOLD).str.normalize("NFKD")
    out = out.str.replace(r"[\u0300-\u036f]", "", regex=True).str.casefold()
    return out.str.replace(_WHITESPACE, " ", regex=True).str.strip()


def normalize_name(values: pd.Series) -> pd.Series:
    """Person or company name: folded, apostrophes dropped, other punctuation -> space.

    "  O'Brien ", "o’brien" -> "obrien"; "Jean-Luc" -> "jean luc"; "Dr. José Núñez Jr." ->
    "jose nunez"; "", "--" -> None.
    """

    def clean(uniq: pd.Series) -> pd.Series:
        out = fold_text(uniq).str.replace(_APOSTROPHES, "", regex=True)
        out = out.str.replace(r"[^\w]+|_", " ", regex=True).str.strip()
        out = out.str.replace(_WHITESPACE, " ", regex=True).str.replace(
            _NAME_AFFIXES, "", regex=True
        )
        return _blank_to_none(out.str.strip())

    return _per_unique(values, clean)


def canonical_first_name(normalized: pd.Series) -> pd.Series:
    """Map nicknames of an already normalised first name to the formal name (bill -> william)."""
    out = normalized.map(lambda v: NICKNAMES.get(v, v) if isinstance(v, str) else None)
    return out.astype(object)


def normalize_email(values: pd.Series) -> pd.Series:
    """Trimmed, lower-cased address; "mailto:" dropped; anything without user@domain.tld -> None."""

    def clean(uniq: pd.Series) -> pd.Series:
        out = uniq.str.strip().str.lower().str.removeprefix("mailto:").str.strip()
        return out.where(out.str.match(_EMAIL), None)

    return _per_unique(values, clean)


def normalize_postcode(values: pd.Series) -> pd.Series:
    """Upper-case postcode without spaces or punctuation: " sw1a 1aa" -> "SW1A1AA".

    A US ZIP+4 ("02134-1234", "021341234") keeps its five-digit ZIP, which is what most
    systems store; no other country uses nine-digit postcodes.
    """

    def clean(uniq: pd.Series) -> pd.Series:
        out = fold_text(uniq).str.upper().str.replace(r"[^0-9A-Z]", "", regex=True)
        return _blank_to_none(out.str.replace(r"^(\d{5})\d{4}$", r"\1", regex=True))

    return _per_unique(values, clean)


def normalize_street(values: pd.Series) -> pd.Series:
    """Street line: folded, punctuation -> space, abbreviations expanded (St. -> street)."""

    def clean(uniq: pd.Series) -> pd.Series:
        out = fold_text(uniq).str.replace(_APOSTROPHES, "", regex=True)
        out = out.str.replace(r"[^\w]+|_", " ", regex=True).str.strip()
        expanded = [" ".join(STREET_ABBREVIATIONS.get(t, t) for t in v.split()) for v in out]
        return _blank_to_none(pd.Series(expanded, index=out.index, dtype=object))

    return _per_unique(values, clean)


def normalize_text(values: pd.Series) -> pd.Series:
    """Generic free text (city, company, country): folded and punctuation-light."""

    def clean(uniq: pd.Series) -> pd.Series:
        out = fold_text(uniq).str.replace(_APOSTROPHES, "", regex=True)
        out = out.str.replace(r"[^\w&]+|_", " ", regex=True).str.strip()
        return _blank_to_none(out.str.replace(_WHITESPACE, " ", regex=True))

    return _per_unique(values, clean)


def normalize_identifier(values: pd.Series) -> pd.Series:
    """Tax ids and similar codes: upper-case letters and digits only ("12-3 45" -> "12345")."""

    def clean(uniq: pd.Series) -> pd.Series:
        return _blank_to_none(uniq.str.upper().str.replace(r"[^0-9A-Z]", "", regex=True))

    return _per_unique(values, clean)


# --- dates -----------------------------------------------------------------------------------


def normalize_date(values: pd.Series, *, dayfirst: bool = True) -> pd.Series:
    """Dates as ISO ``YYYY-MM-DD``; impossible or unparseable dates -> None.

    Accepts ISO (optionally with a time part), ``YYYYMMDD``, ``DD/MM/YYYY``, ``DD.MM.YYYY``,
    ``DD-MM-YYYY``, ``YYYY/MM/DD`` and Python date/datetime objects. With ``dayfirst=False``
    ``MM/DD/YYYY`` is tried before ``DD/MM/YYYY``. Years outside 1800-2100 are treated as junk.
    """
    formats = list(DATE_FORMATS_DAYFIRST)
    if not dayfirst:
        formats.remove("%m/%d/%Y")
        formats.insert(2, "%m/%d/%Y")
    # date, datetime and Timestamp objects print as ISO text, which the first format reads
    return _per_unique(values, lambda uniq: _parse_dates(uniq, formats))


def _parse_dates(uniq: pd.Series, formats: list[str]) -> pd.Series:
    text = uniq.str.strip().str.replace(r"^(\d{4}-\d{2}-\d{2})[T ][\d:.+\-Z]*$", r"\1", regex=True)
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[s]")
    for fmt in formats:
        todo = parsed.isna()
        if not todo.any():
            break
        attempt = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        parsed[todo] = attempt.astype("datetime64[s]")
    ok = (parsed.notna() & parsed.dt.year.between(1800, 2100)).to_numpy()
    iso = parsed.to_numpy().astype("datetime64[D]").astype(str).astype(object)
    return pd.Series(np.where(ok, iso, None), index=uniq.index, dtype=object)


# --- phones ----------------------------------------------------------------------------------


def normalize_phone(values: pd.Series, *, default_region: str = "US") -> pd.Series:
    """Phone numbers in E.164 (``+12125550123``); invalid or unparseable -> None.

    Fast path: digits are extracted with vectorised regexes and numbers written in the default
    region's national form (or with its country code) are validated against that region's
    number patterns in one regex pass. Everything else (foreign numbers, odd prefixes) goes to
    `phonenumbers.parse` with a cache, so the slow path only sees the rare cases.
    """
    return _per_unique(values, lambda uniq: _phones_e164(uniq, default_region.upper()))


def _phones_e164(uniq: pd.Series, region: str) -> pd.Series:
    texts = uniq.tolist()
    # one regex pass keeps digits and "+" and drops an extension; plain lists beat .str here
    keys = [_PHONE_NOISE.sub("", text) for text in texts]
    pattern, country_code, prefix = _region_rule(region)
    prefix_cc = f"+{country_code}"
    out: list[str | None] = [None] * len(keys)
    if pattern is not None:
        match = _fast_phone_regex(pattern, country_code, prefix).match
        out = [((hit := match(key)) and prefix_cc + hit.group(1)) or None for key in keys]
    out = [
        found or (_parse_phone_slow(text, region) if len(key) >= 5 else None)
        for found, key, text in zip(out, keys, texts, strict=True)
    ]
    return pd.Series(out, index=uniq.index, dtype=object)


_PHONE_NOISE = re.compile(r"(?i)(?:ext\.?|extension|x|#)\s*\d+\s*$|[^\d+]")


@cache
def _fast_phone_regex(pattern: str, country_code: int, prefix: str) -> re.Pattern[str]:
    """National number of "+<cc><nsn>" or "[prefix]<nsn>" when nsn is valid in the region."""
    national = f"(?:{re.escape(prefix)})?" if prefix else ""
    return re.compile(rf"^(?:\+{country_code}|{national})({pattern})$")


@cache
def _region_rule(region: str) -> tuple[str | None, int, str]:
    """A single regex of every valid national number shape of `region`, its code and prefix."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta is None:
        return None, 0, ""
    parts = [
        desc.national_number_pattern
        for desc in (getattr(meta, name) for name in _PHONE_TYPES)
        if desc is not None and desc.national_number_pattern
    ]
    return "|".join(f"(?:{p})" for p in parts), meta.country_code, meta.national_prefix or ""


@cache
def _parse_phone_slow(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- whole records ---------------------------------------------------------------------------

_COLUMN_NORMALIZERS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "first_name": normalize_name,
    "last_name": normalize_name,
    "email": normalize_email,
    "street": normalize_street,
    "city": normalize_text,
    "postal_code": normalize_postcode,
    "country": normalize_text,
    "company": normalize_text,
    "tax_id": normalize_identifier,
}


def normalize_frame(
    records: pd.DataFrame, *, default_region: str = "US", dayfirst: bool = True
) -> pd.DataFrame:
    """Normalise every canonical identity field of `records`; absent columns become all-None.

    The result has the same index as `records` and exactly the columns of
    `crmhub.canonical.IDENTITY_FIELDS`, so later steps never need to ask which fields exist.
    """
    from crmhub.canonical import IDENTITY_FIELDS

    out: dict[str, pd.Series] = {}
    empty = pd.Series([None] * len(records), index=records.index, dtype=object)
    for column in IDENTITY_FIELDS:
        if column not in records.columns:
            out[column] = empty
        elif column == "phone":
            out[column] = normalize_phone(records[column], default_region=default_region)
        elif column == "birth_date":
            out[column] = normalize_date(records[column], dayfirst=dayfirst)
        else:
            out[column] = _COLUMN_NORMALIZERS[column](records[column])
    return pd.DataFrame(out, index=records.index)
