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

from crmhub.matching.normalize import canonical_first_name
from crmhub.matching.settings import rule_label

logger = logging.getLogger(__name__)

_PREFIX_CHARS = 3


def derive_keys(normalized: pd.DataFrame) -> pd.DataFrame:
    """Add the derived blocking keys (`settings.DERIVED_KEYS`) to a normalised frame."""
    out = normalized.copy()
    first = canonical_first_name(normalized["first_name"])
    last = normalized["last_name"]
    out["first_name_canon"] = first
    out["first_name_prefix"] = first.str[:_PREFIX_CHARS]
    out["last_name_prefix"] = last.str[:_PREFIX_CHARS]
    out["birth_year"] = normalized["birth_date"].str[:4]
    out["email_user"] = normalized["email"].str.split("@").str[0]
    out["phone_last7"] = normalized["phone"].str[-7:]
    out["name_sorted"] = _sorted_pair(first, last)
    return out


def _sorted_pair(first: pd.Series, last: pd.Series) -> pd.Series:
    """ "a b" with the two names in alphabetical order: equal for swapped first/last names."""
    both = (first.notna() & last.notna()).to_numpy()
    f, s = first.to_numpy(dtype=object)[both], last.to_numpy(dtype=object)[both]
    out = np.full(len(first), None, dtype=object)
    if both.any():
        out[both] = np.where(f <= s, f + " " + s, s + " " + f)
    return pd.Series(out, index=first.index, dtype=object)


def block_codes(keys: pd.DataFrame, rule: Sequence[str]) -> np.ndarray:
    """One int64 block code per record for an AND rule; -1 where any key is missing."""
    combined = np.zeros(len(keys), dtype=np.int64)
    missing = np.zeros(len(keys), dtype=bool)
    for key in rule:
        codes, uniques = pd.factorize(keys[key], use_na_sentinel=True)
        missing |= codes < 0
        combined = combined * (len(uniques) + 1) + codes
        combined, _ = pd.factorize(combined)
    combined = combined.astype(np.int64)
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
    codes: np.ndarray, max_block_size: int | None = None, label: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of positions sharing a block code (>= 0); oversized blocks left out, warned."""
    positions = np.flatnonzero(codes >= 0)
    order = positions[np.argsort(codes[positions], kind="stable")]
    sorted_codes = codes[order]
    starts = (
        np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if len(order) else order
    )
    sizes = np.diff(np.r_[starts, len(order)])
    if max_block_size is not None and (sizes > max_block_size).any():
        big = sizes > max_block_size
        logger.warning(
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
    keys: pd.DataFrame, rules: Sequence[Sequence[str]], max_block_size: int | None = None
) -> CandidatePairs:
    """Candidate pairs of the OR of `rules`; each pair once, under the first rule that finds it."""
    n = len(keys)
    seen = np.empty(0, dtype=np.int64)
    lefts, rights, rule_ids = [], [], []
    for index, rule in enumerate(rules):
        left, right = pairs_in_blocks(block_codes(keys, rule), max_block_size, rule_label(rule))
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


def count_pairs(keys: pd.DataFrame, rules: Sequence[Sequence[str]]) -> pd.DataFrame:
    """Per rule: pairs it would produce alone, new pairs after earlier rules, largest block.

    Cheap enough to run before a match (no pairs are materialised for the "alone" count), so an
    exploding rule is seen before it costs anything.
    """
    rows = []
    for rule in rules:
        codes = block_codes(keys, rule)
        sizes = np.bincount(codes[codes >= 0]) if (codes >= 0).any() else np.zeros(1, np.int64)
        rows.append(
            {
                "rule": rule_label(rule),
                "pairs": int((sizes * (sizes - 1) // 2).sum()),
                "largest_block": int(sizes.max()),
            }
        )
    out = pd.DataFrame(rows, columns=["rule", "pairs", "largest_block"])
    if len(out) and out["pairs"].sum() < 50_000_000:
        found = generate_pairs(keys, rules)
        out["new_pairs"] = np.bincount(found.rule, minlength=len(rules))
    return out


def largest_blocks(keys: pd.DataFrame, rule: Sequence[str], n: int = 10) -> pd.DataFrame:
    """The `n` biggest blocks of one rule with their key values: where a rule explodes."""
    codes = block_codes(keys, rule)
    frame = keys.loc[codes >= 0, list(rule)]
    sizes = frame.groupby(list(rule), dropna=True).size().rename("records")
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
    rules: Sequence[Sequence[str]],
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
    counts = count_pairs(keys, rules)
    capped = []
    for rule in rules:
        codes = block_codes(keys, rule)
        sizes = np.bincount(codes[codes >= 0]) if (codes >= 0).any() else np.zeros(0, np.int64)
        capped.append(int((sizes > max_block_size).sum()) if max_block_size else 0)
    counts["capped_blocks"] = capped
    largest = {rule_label(rule): largest_blocks(keys, rule, top) for rule in rules}
    return BlockingReport(len(normalized), counts, largest, max_block_size)
