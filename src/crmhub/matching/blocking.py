"""Blocking: candidate pairs from an OR of rules, each rule an AND of equal keys.

Comparing every record with every other grows with n²; blocking only pairs records that agree
exactly on some cheap key, so recall depends on the rules being diverse (email OR phone OR name
+ postcode ...). Pairs are built with numpy per rule: records are sorted by their block code and
each block's upper triangle is enumerated with index arithmetic, never a Python loop per pair.
A pair found by an earlier rule is attributed to that rule and not produced again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crmhub.matching.record_values import RecordValues
from crmhub.matching.settings import BlockingRule, rule_cap, rule_keys, rule_label

logger = logging.getLogger(__name__)


AnyRule = Sequence[str] | BlockingRule
"""A blocking rule as a list of keys or as a `BlockingRule` with its own cap."""


DERIVED_KEY_SOURCES: dict[str, tuple[str, str]] = {
    "first_name_canon": ("first_name", "canonical"),
    "first_name_prefix": ("first_name", "canonical_first3"),
    "last_name_prefix": ("last_name", "first3"),
    "birth_year": ("birth_date", "year"),
    "email_user": ("email", "email_user"),
    "phone_last7": ("phone", "last7"),
}
"""(column, `record_values.TRANSFORMS` entry) of each derived key; the same derivations
`derive_keys` writes out as text, computed once per distinct value instead."""


def derive_keys(normalized: pd.DataFrame) -> pd.DataFrame:
    """Add the derived blocking keys (`settings.DERIVED_KEYS`) to a normalised frame, as text.

    The same derivations (`DERIVED_KEY_SOURCES`) the engine blocks on as codes; this form is for
    reports that show key values (`crmhub blocking`).
    """
    out = normalized.copy()
    values = RecordValues(normalized)
    for key, (column, transform) in DERIVED_KEY_SOURCES.items():
        out[key] = pd.Series(values.values(column, transform), index=normalized.index)
    out["name_sorted"] = _sorted_pair(out["first_name_canon"], out["last_name"])
    return out


def _sorted_pair(first: pd.Series, last: pd.Series) -> pd.Series:
    """ "a b" with the two names in alphabetical order: equal for swapped first/last names."""
    both = (first.notna() & last.notna()).to_numpy()
    f, s = first.to_numpy(dtype=object)[both], last.to_numpy(dtype=object)[both]
    out = np.full(len(first), None, dtype=object)
    if both.any():
        out[both] = np.where(f <= s, f + " " + s, s + " " + f)
    return pd.Series(out, index=first.index, dtype=object)


def key_codes(values: RecordValues, key: str) -> np.ndarray:
    """int64 code per record of one blocking key (identity field or derived key), -1 = missing."""
    if key == "name_sorted":
        return _sorted_pair_codes(values)
    column, transform = DERIVED_KEY_SOURCES.get(key, (key, ""))
    return values.codes(column, transform)


def _sorted_pair_codes(values: RecordValues) -> np.ndarray:
    """Code of the unordered pair {canonical first name, last name}: equal when swapped."""
    first_codes, first = values.factor("first_name", "canonical")
    last_codes, last = values.factor("last_name")
    shared, vocabulary = pd.factorize(np.concatenate([first, last]))
    a = np.append(shared[: len(first)], -1)[first_codes].astype(np.int64)
    b = np.append(shared[len(first) :], -1)[last_codes].astype(np.int64)
    width = np.int64(len(vocabulary) + 1)
    return np.where((a >= 0) & (b >= 0), np.minimum(a, b) * width + np.maximum(a, b), -1)


def block_codes(keys: pd.DataFrame | RecordValues, rule: AnyRule) -> np.ndarray:
    """One int64 block code per record for an AND rule; -1 where any key is missing.

    `keys` is either `derive_keys` output (text columns) or the run's `RecordValues`, whose
    per-value codes make this a few integer operations per key.
    """
    keys_of_rule = rule_keys(rule)
    combined = np.zeros(len(keys), dtype=np.int64)
    missing = np.zeros(len(keys), dtype=bool)
    span = 1
    for key in keys_of_rule:
        if isinstance(keys, RecordValues):
            codes = key_codes(keys, key)
            width = int(codes.max(initial=-1)) + 2
        else:
            codes, uniques = pd.factorize(keys[key], use_na_sentinel=True)
            width = len(uniques) + 1
        missing |= codes < 0
        if span * width >= 2**62:  # compact before int64 overflows
            combined = pd.factorize(combined)[0].astype(np.int64)
            span = int(combined.max(initial=0)) + 1
        # a missing code (-1) leaves residue width-1, which no present value has: no collisions
        combined = combined * width + codes
        span *= width
    if len(keys_of_rule) > 1 or not isinstance(keys, RecordValues):
        combined = pd.factorize(combined)[0].astype(np.int64)
    else:
        combined = combined.copy()
    combined[missing] = -1
    return combined


@dataclass(frozen=True)
class CandidatePairs:
    """Candidate pairs as record positions (``left < right``) with the index of the finding rule."""

    left: np.ndarray
    right: np.ndarray
    rule: np.ndarray
    rule_labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.left)


def pairs_in_blocks(
    codes: np.ndarray,
    max_block_size: int | None = None,
    label: str = "",
    *,
    cap_level: int = logging.WARNING,
) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of positions sharing a block code (>= 0); oversized blocks left out and logged
    at `cap_level` (a warning for the global cap: a junk value; info for a rule's own cap,
    which is there on purpose)."""
    present = codes >= 0
    if present.any() and int(codes.max()) < 4 * len(codes):  # compact codes: skip singletons
        present &= np.bincount(codes[present])[np.maximum(codes, 0)] > 1
    positions = np.flatnonzero(present)
    order = positions[np.argsort(codes[positions], kind="stable")]
    sorted_codes = codes[order]
    starts = (
        np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if len(order) else order
    )
    sizes = np.diff(np.r_[starts, len(order)])
    if max_block_size is not None and (sizes > max_block_size).any():
        big = sizes > max_block_size
        logger.log(
            cap_level,
            "blocking rule %s: %d block(s) larger than max_block_size=%d (largest %d records) "
            "left out of this rule",
            label,
            int(big.sum()),
            max_block_size,
            int(sizes.max()),
        )
        order, sizes = order[np.repeat(~big, sizes)], sizes[~big]
        starts = np.cumsum(sizes) - sizes
    return _triangle_pairs(order, starts, sizes)


def _triangle_pairs(
    order: np.ndarray, starts: np.ndarray, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Enumerate (i, j), i before j, within each block given as a run of `order`."""
    block_of = np.repeat(np.arange(len(sizes)), sizes)
    offset = np.arange(len(block_of)) - np.repeat(starts, sizes)
    follow = (np.repeat(sizes, sizes) - 1 - offset).astype(np.int64)  # later members per element
    element = np.repeat(starts, sizes) + offset
    first = np.repeat(element, follow)
    run_start = np.repeat(np.cumsum(follow) - follow, follow)
    second = first + 1 + (np.arange(len(first)) - run_start)
    del block_of
    a, b = order[first], order[second]
    return np.minimum(a, b), np.maximum(a, b)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a plain sort: faster than np.unique's hashing on big int arrays)."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _contains(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Which `queries` occur in the sorted array `sorted_values`."""
    at = np.searchsorted(sorted_values, queries)
    found = at < len(sorted_values)
    found[found] = sorted_values[at[found]] == queries[found]
    return found


def generate_pairs(
    keys: pd.DataFrame | RecordValues,
    rules: Sequence[AnyRule],
    max_block_size: int | None = None,
) -> CandidatePairs:
    """Candidate pairs of the OR of `rules`; each pair once, under the first rule that finds it.

    A block larger than its rule's cap (`rule_cap`: its own, else `max_block_size`) is left out.
    """
    n = len(keys)
    seen = np.empty(0, dtype=np.int64)
    lefts, rights, rule_ids = [], [], []
    for index, rule in enumerate(rules):
        codes = block_codes(keys, rule)
        own_cap = isinstance(rule, BlockingRule) and rule.max_block_size is not None
        left, right = pairs_in_blocks(
            codes,
            rule_cap(rule, max_block_size),
            rule_label(rule),
            cap_level=logging.INFO if own_cap else logging.WARNING,
        )
        code = _sorted_unique(left.astype(np.int64) * n + right)
        code = code[~_contains(seen, code)]
        seen = np.sort(np.concatenate([seen, code]), kind="stable")
        lefts.append(code // n)
        rights.append(code % n)
        rule_ids.append(np.full(len(code), index, dtype=np.int16))
        logger.debug("blocking rule %s: %d new pairs", rule_label(rule), len(code))
    return CandidatePairs(
        left=np.concatenate(lefts) if lefts else np.empty(0, np.int64),
        right=np.concatenate(rights) if rights else np.empty(0, np.int64),
        rule=np.concatenate(rule_ids) if rule_ids else np.empty(0, np.int16),
        rule_labels=tuple(rule_label(r) for r in rules),
    )


def _block_sizes(keys: pd.DataFrame | RecordValues, rule: AnyRule) -> np.ndarray:
    codes = block_codes(keys, rule)
    return np.bincount(codes[codes >= 0]) if (codes >= 0).any() else np.zeros(1, np.int64)


def count_pairs(
    keys: pd.DataFrame | RecordValues,
    rules: Sequence[AnyRule],
    max_block_size: int | None = None,
) -> pd.DataFrame:
    """Per rule: pairs it would produce alone (within its cap), new pairs after earlier rules,
    largest block and how many blocks its cap leaves out.

    Cheap enough to run before a match (no pairs are materialised for the "alone" count), so an
    exploding rule is seen before it costs anything.
    """
    rows = []
    for rule in rules:
        sizes = _block_sizes(keys, rule)
        cap = rule_cap(rule, max_block_size)
        kept = sizes[sizes <= cap] if cap else sizes
        rows.append(
            {
                "rule": rule_label(rule),
                "pairs": int((kept * (kept - 1) // 2).sum()),
                "largest_block": int(sizes.max()),
                "capped_blocks": int(len(sizes) - len(kept)),
            }
        )
    out = pd.DataFrame(rows, columns=["rule", "pairs", "largest_block", "capped_blocks"])
    if len(out) and out["pairs"].sum() < 50_000_000:
        found = generate_pairs(keys, rules, max_block_size)
        out.insert(2, "new_pairs", np.bincount(found.rule, minlength=len(rules)))
    return out


def largest_blocks(keys: pd.DataFrame, rule: AnyRule, n: int = 10) -> pd.DataFrame:
    """The `n` biggest blocks of one rule with their key values: where a rule explodes."""
    columns = list(rule_keys(rule))
    codes = block_codes(keys, rule)
    frame = keys.loc[codes >= 0, columns]
    sizes = frame.groupby(columns, dropna=True).size().rename("records")
    return sizes.sort_values(ascending=False).head(n).reset_index()


@dataclass(frozen=True)
class BlockingReport:
    """What the blocking rules do to a set of records, before anything is compared."""

    records: int
    rules: pd.DataFrame
    """Per rule: pairs (alone), new_pairs (after earlier rules), largest_block, capped_blocks."""
    largest: dict[str, pd.DataFrame]
    """Per rule label: its biggest blocks with their key values."""
    max_block_size: int | None


def blocking_report(
    normalized: pd.DataFrame,
    rules: Sequence[AnyRule],
    max_block_size: int | None,
    *,
    top: int = 5,
) -> BlockingReport:
    """Candidate pairs per rule and the biggest blocks, for `crmhub blocking` to show.

    Args:
        normalized: records after `normalize.normalize_frame`.
        top: how many of each rule's biggest blocks to list.
    """
    keys = derive_keys(normalized)
    counts = count_pairs(keys, rules, max_block_size)
    largest = {rule_label(rule): largest_blocks(keys, rule, top) for rule in rules}
    return BlockingReport(len(normalized), counts, largest, max_block_size)
