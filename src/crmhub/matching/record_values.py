"""Records encoded once: every column (and every derivation of it) as integer codes.

Blocking and every comparison level ask the same questions of a column -- are these two values
equal, are their e-mail users equal, their first three letters, their years -- for up to
millions of records. Each question is answered here once per *distinct* value: a column is
factorised into ``codes`` (one int per record, -1 when missing) and ``uniques`` (each distinct
value once); a derivation (`TRANSFORMS`) runs on the uniques only, is factorised again, and is
spread back to the records through the codes with one integer gather. Equal derived values get
equal codes, so "same e-mail user" is an integer comparison per pair, and a fuzzy score is needed
once per distinct *pair of values* (`PairValues.score`), never once per pair of records.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import polars as pl
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein, Indel, Jaro, JaroWinkler, Levenshtein

from crmhub.matching.normalize import NICKNAMES, nickname_groups

TRANSFORMS: dict[str, Callable[[pl.Series], pl.Series]] = {
    "email_user": lambda v: v.str.split("@").list.first(),
    "last7": lambda v: v.str.slice(-7),
    "first3": lambda v: v.str.slice(0, 3),
    "year": lambda v: v.str.slice(0, 4),
    "day_month_swapped": lambda v: pl.select(
        pl.concat_str([v.str.slice(0, 4), v.str.slice(7, 3), v.str.slice(4, 3)])
    ).to_series(),
    "house_number": lambda v: v.str.extract(r"(\d+)", 1),
    "nickname": lambda v: v.replace(NICKNAMES),
    "canonical": lambda v: v.replace(NICKNAMES),  # = normalize.canonical_first_name
    "canonical_first3": lambda v: v.replace(NICKNAMES).str.slice(0, 3),
}
"""Value-level derivations some levels and blocking keys compare on, by name. Each takes and
returns a polars String Series of distinct values (multi-threaded native string work; missing
is null)."""

_SCORERS: dict[str, tuple[Callable[..., float], float]] = {
    "jaro_winkler": (JaroWinkler.normalized_similarity, 1.0),
    "jaro": (Jaro.normalized_similarity, 1.0),
    "ratio": (Indel.normalized_similarity, 1.0),
    "partial_ratio": (fuzz.partial_ratio, 100.0),
    "token_sort_ratio": (fuzz.token_sort_ratio, 100.0),
    "token_set_ratio": (fuzz.token_set_ratio, 100.0),
    "levenshtein": (Levenshtein.distance, 1.0),
    "damerau_levenshtein": (DamerauLevenshtein.distance, 1.0),
}
"""Metric name -> (rapidfuzz scorer, divisor that brings a similarity to 0..1)."""


class RecordValues:
    """Normalised records, each column and derivation factorised on first use and kept.

    Shared by blocking, the random u sample and the candidate pairs, so each derivation runs
    once per distinct value of a run.
    """

    def __init__(self, normalized: pd.DataFrame) -> None:
        self.frame = normalized
        self._factors: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._nicknames: dict[str, np.ndarray] = {}
        self._content_hash: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame)

    def factor(self, column: str, transform: str = "") -> tuple[np.ndarray, np.ndarray]:
        """(codes, uniques) of `column` after the named `TRANSFORMS` entry.

        ``codes`` is int64 per record, -1 when missing; ``uniques[codes[i]]`` is record i's
        value. A derivation that yields nothing (no digits for ``house_number``) is missing.
        """
        key = (column, transform)
        if key not in self._factors:
            self._factors[key] = self._encode(column, transform)
        return self._factors[key]

    def _encode(self, column: str, transform: str) -> tuple[np.ndarray, np.ndarray]:
        if not transform:
            raw = self.frame[column].to_numpy(dtype=object)
            codes, uniques = pd.factorize(raw, use_na_sentinel=True)
            return codes.astype(np.int64), np.asarray(uniques, dtype=object)
        base_codes, base_uniques = self.factor(column)
        derived = TRANSFORMS[transform](pl.Series(base_uniques, dtype=pl.String))
        derived = pl.select(pl.when(derived.str.len_bytes() > 0).then(derived)).to_series()
        inner, uniques = pd.factorize(derived.to_numpy(), use_na_sentinel=True)
        lookup = np.append(inner.astype(np.int64), -1)  # code -1 (missing) -> -1
        return lookup[base_codes], np.asarray(uniques, dtype=object)

    def content_hash(self) -> np.ndarray:
        """uint64 per record from its values alone, never from its position: what makes random
        samples and ties independent of the order the records came in (a re-run on the same
        data in another order gives the same clusters, hence the same golden ids)."""
        if self._content_hash is None:
            out = np.zeros(len(self), dtype=np.uint64)
            for column in self.frame.columns:
                codes, uniques = self.factor(column)
                hashed = pd.util.hash_array(np.asarray(uniques, dtype=object), categorize=False)
                table = np.append(hashed, np.uint64(0))
                out = out * np.uint64(1_000_003) + table[codes]
            self._content_hash = out
        return self._content_hash

    def nickname_rows(self, column: str) -> np.ndarray:
        """`normalize.nickname_groups` of each distinct value of `column` (rows by code)."""
        if column not in self._nicknames:
            self._nicknames[column] = nickname_groups(self.factor(column)[1])
        return self._nicknames[column]

    def codes(self, column: str, transform: str = "") -> np.ndarray:
        """int64 code per record: equal codes for equal values, -1 when missing."""
        return self.factor(column, transform)[0]

    def values(self, column: str, transform: str = "") -> np.ndarray:
        """Object array of every record's value (None when missing)."""
        codes, uniques = self.factor(column, transform)
        return np.append(uniques, None)[codes]

    def values_at(self, positions: np.ndarray, column: str, transform: str = "") -> np.ndarray:
        """Object array of the values of the records at `positions` (None when missing)."""
        codes, uniques = self.factor(column, transform)
        return np.append(uniques, None)[codes[positions]]


class PairValues:
    """The two sides of a set of pairs (positions into `records`), with cached fuzzy scores."""

    def __init__(self, records: RecordValues, left: np.ndarray, right: np.ndarray) -> None:
        self.records = records
        self.left = left
        self.right = right
        self._scores: dict[tuple[str, str], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.left)

    def codes(self, column: str, transform: str = "") -> tuple[np.ndarray, np.ndarray]:
        """(left, right) value codes of every pair."""
        codes = self.records.codes(column, transform)
        return codes[self.left], codes[self.right]

    def values(
        self, todo: np.ndarray, column: str, transform: str = "", other: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(left, right) values of the pairs at `todo`; the right side from column `other`."""
        left = self.records.values_at(self.left[todo], column, transform)
        right = self.records.values_at(self.right[todo], other or column, transform)
        return left, right

    def score(self, todo: np.ndarray, column: str, metric: str) -> np.ndarray:
        """`metric` of the pairs at `todo` (both values present), computed once per distinct
        pair of values and kept for later levels of the same comparison."""
        key = (column, metric)
        if key not in self._scores:
            self._scores[key] = np.full(len(self), np.nan)
        scores = self._scores[key]
        missing = todo[np.isnan(scores[todo])]
        if len(missing):
            scores[missing] = self._distinct_scores(missing, column, metric)
        return scores[todo]

    def _distinct_scores(self, at: np.ndarray, column: str, metric: str) -> np.ndarray:
        """Score each distinct (value, value) pair once; both metrics are symmetric."""
        codes, uniques = self.records.factor(column)
        a, b = codes[self.left[at]], codes[self.right[at]]
        low, high = np.minimum(a, b), np.maximum(a, b)
        width = np.int64(len(uniques) + 1)
        distinct, inverse = np.unique(low * width + high, return_inverse=True)
        left, right = uniques[distinct // width], uniques[distinct % width]
        scorer, scale = _SCORERS[metric]
        found = process.cpdist(left, right, scorer=scorer, workers=-1)
        return (np.asarray(found, dtype=np.float64) / scale)[inverse.reshape(-1)]
