"""Phone numbers -> E.164, with a native fast path and ``phonenumbers`` for the rest.

Fast path (polars, no Python per value): keep digits and "+", drop an extension, and match the
default region's national number patterns from the ``phonenumbers`` metadata in one regex,
optionally behind the country code or national prefix. Numbers of other countries written with
"+<code>" (or the exit code, "011 44 ...") get the same treatment with their own country's
patterns. What is left (another region sharing a country code, vanity letters, prefixes that
``phonenumbers`` rewrites) goes to `phonenumbers.parse` + `is_valid_number`, except plain digit
strings that fit no number shape of any region with that country code: those are invalid at
once, which keeps typo-ridden columns fast too. For numbers written with digits and punctuation
only, the answers are the library's (tests compare them on thousands of random numbers in
several regions); a letter typed among the digits is dropped by the fast path, where the
library would reject the number.
"""

from __future__ import annotations

import re
from functools import cache

import pandas as pd
import phonenumbers
import polars as pl

from crmhub.matching.normalize_core import on_rows, per_unique, where

# fmt: off
_PHONE_TYPES = (
    "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "voip", "personal_number",
    "pager", "uan", "voicemail",
)
# fmt: on
_EXTENSION = r"(?i)(?:ext\.?|extension|x|#)\s*\d+\s*$"


def normalize_phone(values: pd.Series, *, default_region: str = "US") -> pd.Series:
    """Phone numbers in E.164 (``+12125550123``); invalid or unparseable -> None.

    National numbers are read in `default_region` (an ISO country code of the source's
    customers); numbers with a country code ("+44 ...", "0044 ...") anywhere. Extensions are
    dropped: they do not identify a person.
    """
    region = default_region.upper()
    return per_unique(values, lambda uniques: _phones_e164(uniques, region))


def _phones_e164(uniques: pl.Series, region: str) -> pl.Series:
    keys = on_rows(uniques, uniques.str.contains(r"[xX#]"), _drop_extension)
    keys = keys.str.replace_all(r"[^\d+]", "")
    rule = _region_rule(region)
    if rule is not None:
        pattern, general, country_code, prefix = rule
        national = keys.str.extract(_fast_phone_regex(pattern, country_code, prefix), 1)
        # phonenumbers also wants the region's general shape; where that fails it reads the
        # digits differently (a leading country code without "+"), so those take the slow path
        ok = national.str.contains(f"^(?:{general})$")
        rewrite = _prefix_rewrite(region)
        if rewrite is not None:  # phonenumbers rewrites these digits (AR "15" mobiles): ask it
            ok = ok & keys.str.extract(rewrite, 1).fill_null("").eq("")
        national = where(national, ok)
        fast = f"+{country_code}" + national
    else:
        fast = pl.Series([None] * len(keys), dtype=pl.String)
    # three letters make a vanity number ("1-800-FLOWERS"), whatever the digit count
    todo = fast.is_null() & (
        (keys.str.len_bytes() >= 5) | uniques.str.contains(r"[A-Za-z].*[A-Za-z].*[A-Za-z]")
    )
    rows = todo.arg_true()
    texts, keys = uniques.gather(rows), keys.gather(rows)
    # numbers of other countries written with "+<code>" (or the exit code): same fast path
    foreign, invalid = _international(texts, keys, region)
    done = foreign.is_not_null()
    if done.any():
        fast = fast.scatter(rows.filter(done), foreign.filter(done))
    if done.any() or invalid.any():
        keep = ~(done | invalid)
        rows, texts, keys = rows.filter(keep), texts.filter(keep), keys.filter(keep)
    shortcut = _hopeless_rule(region)
    if shortcut is not None:
        hopeless, exit_code, plus_code = shortcut
        slow = ~(
            ~texts.str.contains(_NOT_PLAIN)
            & ~keys.str.starts_with(exit_code)
            & (~keys.str.starts_with("+") | keys.str.starts_with(plus_code))
            & ~keys.str.contains(hopeless)
        )
        rows, texts = rows.filter(slow), texts.filter(slow)
    if len(rows) == 0:
        return fast
    found = [_parse_phone_slow(text, region) for text in texts.to_list()]
    return fast.scatter(rows, pl.Series(found, dtype=pl.String))


_NOT_PLAIN = r"[xX#]|[A-Za-z].*[A-Za-z].*[A-Za-z]|[^\x00-\x7f]"
"""What makes ``phonenumbers`` read digits differently from "all digits in order": an
extension marker, a vanity number (three letters) or non-ASCII digits."""


def _drop_extension(texts: pl.Series) -> pl.Series:
    return texts.str.replace(_EXTENSION, "")


def _international(texts: pl.Series, keys: pl.Series, region: str) -> tuple[pl.Series, pl.Series]:
    """E.164 of "+<code>..." (or "<exit code><code>...") numbers, and which ones are invalid.

    Each country code is checked against its main region's number shapes, the region
    ``phonenumbers`` itself reads such numbers with, so the answer is the one it would give;
    numbers that fit no shape of any region with that code are invalid for it too. Codes whose
    main region rewrites digits when it strips a prefix, and texts with letters (which it may
    read as a vanity number or reject), are left undecided (null, not invalid).
    """
    out = pl.Series([None] * len(keys), dtype=pl.String)
    invalid = pl.Series([False] * len(keys), dtype=pl.Boolean)
    exit_code = _exit_code(region)
    if exit_code:
        keys = on_rows(keys, keys.str.starts_with(exit_code), lambda k: _replace_exit(k, exit_code))
    codes = _country_codes(keys)
    plain = codes.is_not_null() & ~texts.str.contains(r"[A-Za-z#]|[^\x00-\x7f]")
    for code in codes.filter(plain).unique().to_list():
        rule = _country_rule(int(code))
        if rule is None:
            continue
        pattern, general, prefix, others, anywhere = rule
        rows = (plain & (codes == code)).arg_true()
        sub = keys.gather(rows)
        national = sub.str.extract(_fast_phone_regex(pattern, int(code), prefix), 1)
        ok = national.str.contains(f"^(?:{general})$")
        rest = sub.str.slice(1 + len(code))
        for other in others:  # phonenumbers might strip these: let it decide
            ok = ok & ~rest.str.starts_with(other)
        out = out.scatter(rows, f"+{code}" + where(national, ok))
        invalid = invalid.scatter(rows, ~rest.str.contains(anywhere))
    return out, invalid


def _replace_exit(keys: pl.Series, exit_code: str) -> pl.Series:
    return "+" + keys.str.slice(len(exit_code))


def _country_codes(keys: pl.Series) -> pl.Series:
    """The country code of "+..." keys (codes are prefix-free, so at most one fits)."""
    frame = pl.DataFrame({"key": keys})
    found = pl.lit(None, dtype=pl.String)
    for length in (3, 2, 1):
        head = pl.col("key").str.slice(1, length)
        fits = pl.col("key").str.starts_with("+") & head.is_in(_COUNTRY_CODES)
        found = pl.when(fits).then(head).otherwise(found)
    return frame.select(found.alias("code")).to_series()


_COUNTRY_CODES = sorted(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@cache
def _prefix_rewrite(region: str) -> str | None:
    """For regions whose national prefix pattern captures digits to rewrite: that pattern,
    anchored, so keys it captures something from can be left to ``phonenumbers``."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.national_prefix_transform_rule is None:
        return None
    return f"^(?:{meta.national_prefix_for_parsing})"


@cache
def _exit_code(region: str) -> str:
    """The region's international exit code ("011", "00") when it is a fixed string."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    code = (meta.international_prefix or "") if meta is not None else ""
    return code if code.isdigit() else ""


@cache
def _country_rule(country_code: int) -> tuple[str, str, str, tuple[str, ...], str] | None:
    """How to read "+<code>..." numbers without ``phonenumbers``.

    Returns the main region's number shapes, general shape and national prefix, the other digit
    strings ``phonenumbers`` may strip after the code (GB: "180020"), and a regex of every
    shape of every region with this code behind any of those prefixes (no match: invalid).
    None where a fast answer could differ from ``phonenumbers``: prefix patterns that rewrite
    digits, or a main region that only claims numbers by their leading digits.
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if not regions or regions[0] == "001":
        return None
    meta = phonenumbers.PhoneMetadata.metadata_for_region(regions[0])
    rule = _region_rule(regions[0])
    if meta is None or rule is None or meta.leading_digits is not None:
        return None
    if meta.national_prefix_transform_rule is not None:
        return None
    prefix = meta.national_prefix or ""
    strippable = [part for part in (meta.national_prefix_for_parsing or prefix).split("|") if part]
    if not all(part.isdigit() for part in strippable):
        return None
    shapes = [r[0] for other in regions if (r := _region_rule(other)) is not None]
    prefixes = f"(?:{'|'.join(strippable)})*" if strippable else ""
    anywhere = rf"^{prefixes}(?:{'|'.join(f'(?:{shape})' for shape in shapes)})$"
    pattern, general, _, _ = rule
    others = tuple(part for part in strippable if part != prefix)
    return pattern, general, prefix, others, anywhere


@cache
def _hopeless_rule(region: str) -> tuple[str, str, str] | None:
    """What a plain national or "+<own code>" number must look like to be valid anywhere.

    Returns a regex of every valid number shape of every region sharing `region`'s country
    code (optionally behind the code or the national prefix), the international exit code
    ("011") and "+<code>". Plain numbers (see `_NOT_PLAIN`) that fail it are invalid for
    ``phonenumbers`` too, so they skip it. None (no shortcut) where parsing strips
    more than one fixed national prefix (carrier codes and the like) or the exit code is a
    pattern rather than a fixed string.
    """
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta is None:
        return None
    prefix = meta.national_prefix or ""
    exit_code = meta.international_prefix or ""
    if meta.national_prefix_for_parsing not in (None, prefix) or not exit_code.isdigit():
        return None
    shapes = [
        rule[0]
        for other in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(meta.country_code, ())
        if (rule := _region_rule(other)) is not None
    ]
    if not shapes:
        return None
    national = f"(?:{re.escape(prefix)})*" if prefix else ""
    union = "|".join(f"(?:{shape})" for shape in shapes)
    code = meta.country_code
    # generous on purpose: "1 1 212 ..." is read as code + prefix + number, with or without "+"
    return rf"^\+?(?:{code})?{national}(?:{union})$", exit_code, f"+{code}"


@cache
def _fast_phone_regex(pattern: str, country_code: int, prefix: str) -> str:
    """National number of "[+<cc>][prefix]<nsn>" when nsn is valid in the region.

    ``phonenumbers`` also drops a national prefix written after the country code ("+44 (0)20",
    "+1 1 212"), so the prefix may follow the code.
    """
    national = f"(?:{re.escape(prefix)})?" if prefix else ""
    return rf"^(?:\+{country_code})?{national}({pattern})$"


@cache
def _region_rule(region: str) -> tuple[str, str, int, str] | None:
    """A single regex of every valid national number shape of `region`, the region's general
    number shape, its country code and national prefix."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.general_desc is None:
        return None
    parts = [
        desc.national_number_pattern
        for desc in (getattr(meta, name) for name in _PHONE_TYPES)
        if desc is not None and desc.national_number_pattern
    ]
    general = meta.general_desc.national_number_pattern
    if not parts or not general:
        return None
    shapes = "|".join(f"(?:{p})" for p in parts)
    return shapes, general, meta.country_code, meta.national_prefix or ""


@cache
def _parse_phone_slow(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
