"""Normalisers: turn raw identity values into comparable canonical forms, a whole column at a time.

Every function takes and returns a pandas Series (same index) of ``object`` dtype whose missing
values are ``None``. Work is done once per *distinct* value, because customer columns repeat a
lot (cities, postcodes, first names), and the per-value work is a chain of native polars string
operations; Python only touches the rare values a library has to judge (a foreign phone number,
an address line in an unusual order). Values that cannot be normalised (an invalid phone number,
an impossible date, an empty name) become ``None``: a missing value carries no evidence, a wrong
one carries false evidence.

The column-specific normalisers live in ``normalize_*`` modules and are re-exported here, so
callers only ever import from this module.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pandas as pd
import polars as pl

from crmhub.matching.normalize_address import (
    STREET_ABBREVIATIONS,
    normalize_postcode,
    normalize_street,
    pad_us_zip,
)
from crmhub.matching.normalize_company import normalize_company
from crmhub.matching.normalize_core import (
    APOSTROPHES,
    blank_to_null,
    fold,
    on_rows,
    per_unique,
    where,
)
from crmhub.matching.normalize_dates import DATE_FORMATS_DAYFIRST, normalize_date
from crmhub.matching.normalize_names import (
    NICKNAMES,
    canonical_first_name,
    groups_overlap,
    nickname_groups,
    normalize_name,
    normalize_name_columns,
    split_last_first,
)
from crmhub.matching.normalize_phone import normalize_phone

__all__ = [
    "DATE_FORMATS_DAYFIRST",
    "NICKNAMES",
    "STREET_ABBREVIATIONS",
    "canonical_first_name",
    "fold_text",
    "groups_overlap",
    "nickname_groups",
    "normalize_company",
    "normalize_date",
    "normalize_email",
    "normalize_frame",
    "normalize_identifier",
    "normalize_name",
    "normalize_name_columns",
    "normalize_phone",
    "normalize_postcode",
    "normalize_street",
    "normalize_text",
    "split_last_first",
]

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

GMAIL_DOMAINS: frozenset[str] = frozenset({"gmail.com", "googlemail.com"})
"""Gmail ignores dots in the user part and everything after a "+"; googlemail.com is gmail.com."""

PLUS_TAG_DOMAINS: frozenset[str] = frozenset(
    {
        *GMAIL_DOMAINS,
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "fastmail.com",
        "fastmail.fm",
        "protonmail.com",
        "protonmail.ch",
        "proton.me",
        "pm.me",
    }
)
"""Providers that deliver "user+tag@" to "user@", so the tag says nothing about the person.

Yahoo is missing on purpose: its disposable addresses use "-" and a separate base name, which
cannot be undone from the address alone. At other domains the user part is kept exactly (a dot
or "+" can be significant on a company mail server).
"""


def fold_text(values: pd.Series) -> pd.Series:
    """Lower-case, strip accents (NFKD), fold special letters and collapse whitespace."""
    return per_unique(values, fold)


def normalize_email(values: pd.Series) -> pd.Series:
    """Trimmed, lower-cased address; "mailto:" dropped; anything without user@domain.tld -> None.

    For the big providers that ignore them, "+tags" (and, at Gmail, dots) are removed from the
    user part, so "John.Smith+shop@googlemail.com" == "johnsmith@gmail.com".
    """
    return per_unique(values, _clean_emails)


def _clean_emails(uniques: pl.Series) -> pl.Series:
    text = uniques.str.strip_chars().str.to_lowercase()
    text = on_rows(text, text.str.starts_with("mailto:"), _drop_mailto)
    text = where(text, text.str.contains(_EMAIL))
    # only addresses with a "+" or at Gmail can change; most need no more work
    maybe = text.str.contains("+", literal=True)
    for domain in GMAIL_DOMAINS:
        maybe = maybe | text.str.ends_with(f"@{domain}")
    return blank_to_null(on_rows(text, maybe, _provider_rules))


def _provider_rules(addresses: pl.Series) -> pl.Series:
    """Drop what the provider ignores: a "+tag", and at Gmail the dots; an empty user -> ""."""
    parts = addresses.str.split_exact("@", 1).struct.unnest()
    frame = pl.DataFrame({"user": parts["field_0"], "domain": parts["field_1"]})
    domain = pl.col("domain").replace({"googlemail.com": "gmail.com"})
    user = pl.col("user")
    user = (
        pl.when(domain.is_in(list(PLUS_TAG_DOMAINS)))
        .then(user.str.split_exact("+", 1).struct.field("field_0"))
        .otherwise(user)
    )
    user = (
        pl.when(domain.is_in(list(GMAIL_DOMAINS)))
        .then(user.str.replace_all(".", "", literal=True))
        .otherwise(user)
    )
    address = pl.when(user.str.len_bytes() > 0).then(pl.concat_str(user, pl.lit("@"), domain))
    return frame.select(address.fill_null("")).to_series()


def _drop_mailto(texts: pl.Series) -> pl.Series:
    return texts.str.strip_prefix("mailto:").str.strip_chars()


def normalize_text(values: pd.Series) -> pd.Series:
    """Generic free text (city, country): folded and punctuation-light, "&" kept."""
    return per_unique(values, _clean_text)


def _clean_text(uniques: pl.Series) -> pl.Series:
    out = fold(uniques).str.replace_all(APOSTROPHES, "")
    return blank_to_null(out.str.replace_all(r"[^\w&]+|_", " ").str.strip_chars())


def normalize_identifier(values: pd.Series) -> pd.Series:
    """Tax ids and similar codes: upper-case letters and digits only ("12-3 45" -> "12345")."""

    def clean(uniques: pl.Series) -> pl.Series:
        return blank_to_null(uniques.str.to_uppercase().str.replace_all(r"[^0-9A-Z]", ""))

    return per_unique(values, clean)


# --- whole records ---------------------------------------------------------------------------

_COLUMN_NORMALIZERS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "first_name": normalize_name,
    "last_name": normalize_name,
    "email": normalize_email,
    "street": normalize_street,
    "city": normalize_text,
    "postal_code": normalize_postcode,
    "country": normalize_text,
    "company": normalize_company,
    "tax_id": normalize_identifier,
}


def normalize_frame(
    records: pd.DataFrame, *, default_region: str = "US", dayfirst: bool = True
) -> pd.DataFrame:
    """Normalise every canonical identity field of `records`; absent columns become all-None.

    The result has the same index as `records` and exactly the columns of
    `crmhub.canonical.IDENTITY_FIELDS`, so later steps never need to ask which fields exist.
    Fields are also repaired across columns: "Smith, John" in a single name field is split
    into first and last name, and US ZIPs that lost their leading zero get it back.

    Columns are normalised side by side on a few threads: the heavy part of each is native
    polars work, which runs without the interpreter lock.
    """
    from crmhub.canonical import IDENTITY_FIELDS

    empty = pd.Series([None] * len(records), index=records.index, dtype=object)
    present = [column for column in IDENTITY_FIELDS if column in records.columns]

    def raw(column: str) -> pd.Series:
        return records[column] if column in records.columns else empty

    jobs: dict[str, Callable[[], object]] = {}
    if "first_name" in present or "last_name" in present:
        jobs["names"] = lambda: normalize_name_columns(raw("first_name"), raw("last_name"))
    for column in present:
        if column == "phone":
            jobs[column] = partial(normalize_phone, raw(column), default_region=default_region)
        elif column == "birth_date":
            jobs[column] = partial(normalize_date, raw(column), dayfirst=dayfirst)
        elif column in _COLUMN_NORMALIZERS and column not in ("first_name", "last_name"):
            jobs[column] = partial(_COLUMN_NORMALIZERS[column], raw(column))
    results = _run_jobs(jobs)

    out: dict[str, pd.Series] = {column: empty for column in IDENTITY_FIELDS}
    if "names" in results:
        out["first_name"], out["last_name"] = results.pop("names")  # type: ignore[misc]
    out.update(results)  # type: ignore[arg-type]
    if "postal_code" in present and "country" in present:
        out["postal_code"] = pad_us_zip(out["postal_code"], out["country"])
    # the columns are fresh arrays: no need for pandas to copy them into one block
    return pd.DataFrame({column: out[column] for column in IDENTITY_FIELDS}, copy=False)


_WORKERS = max(1, min(4, os.cpu_count() or 1))
"""Threads for `normalize_frame`; more than the cores only adds contention."""


def _run_jobs(jobs: dict[str, Callable[[], object]]) -> dict[str, object]:
    """Run `jobs` on `_WORKERS` threads, biggest first so that none is left running alone."""
    if _WORKERS == 1 or len(jobs) < 2:
        return {name: job() for name, job in jobs.items()}
    order = sorted(jobs, key=lambda name: _JOB_WEIGHT.get(name, 1))[::-1]
    with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="normalize") as pool:
        futures = {name: pool.submit(jobs[name]) for name in order}
        return {name: futures[name].result() for name in jobs}


_JOB_WEIGHT = {"street": 8, "phone": 7, "email": 6, "birth_date": 3, "names": 3}
"""Rough relative cost per column at a million rows (measured on demo data)."""
