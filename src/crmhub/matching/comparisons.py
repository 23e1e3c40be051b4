"""Comparisons: per field, an ordered list of labelled agreement levels.

A comparison turns the two values of every candidate pair into one level index. Level 0 is
always ``null`` (a value is missing: no evidence either way) and the last level is ``else``
(values disagree); in between, the first level whose condition holds wins, strongest first.
Each class computes all pairs at once. Equality levels compare integer codes (each distinct
value, or derived value such as the e-mail user, is coded once; `record_values`), so they cost an
integer gather per pair; fuzzy levels run `rapidfuzz.process.cpdist` on the still-undecided
pairs only, once per distinct pair of values, and a score is reused by every threshold.

The YAML ``kind:`` of a `ComparisonSpec` maps 1:1 onto a class here (`compile_comparisons`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from crmhub.matching.normalize import groups_overlap
from crmhub.matching.record_values import PairValues, RecordValues
from crmhub.matching.settings import ComparisonSpec

__all__ = ["Comparison", "PairValues", "RecordValues", "compare_pairs", "compile_comparisons"]

Condition = Callable[[PairValues, np.ndarray], np.ndarray]
"""(pairs, positions of the still-undecided pairs) -> bool mask over those positions."""


def _same(column: str, transform: str = "") -> Condition:
    """Equal values (after a record-level transform); missing never equals anything."""

    def condition(pairs: PairValues, todo: np.ndarray) -> np.ndarray:
        codes = pairs.records.codes(column, transform)
        left, right = codes[pairs.left[todo]], codes[pairs.right[todo]]
        return (left == right) & (left >= 0)

    return condition


def _crossed(column: str, other: str, transform: str = "", other_transform: str = "") -> Condition:
    """Left `column` (transformed) equals right `other` (transformed), missing never equal."""

    def condition(pairs: PairValues, todo: np.ndarray) -> np.ndarray:
        left = pairs.records.values_at(pairs.left[todo], column, transform)
        right = pairs.records.values_at(pairs.right[todo], other, other_transform)
        return np.asarray(left == right, dtype=bool) & ~pd.isna(left)

    return condition


def _shared_formal_name(column: str) -> Condition:
    """The two first names share a formal name in the ``nicknames`` package's table (Bill and
    William, Peggy and Margaret), tested on integer ids per distinct name, never per pair."""

    def condition(pairs: PairValues, todo: np.ndarray) -> np.ndarray:
        codes, rows = pairs.records.codes(column), pairs.records.nickname_rows(column)
        return groups_overlap(rows[codes[pairs.left[todo]]], rows[codes[pairs.right[todo]]])

    return condition


def _crossed_alike(column: str, other: str, threshold: float) -> Condition:
    """Left `column` and right `other`, both with nicknames resolved, are equal or at least
    `threshold` alike by Jaro-Winkler ("Mikey" in the last-name field vs "Michael" first)."""

    def condition(pairs: PairValues, todo: np.ndarray) -> np.ndarray:
        left = pairs.records.values_at(pairs.left[todo], column, "canonical")
        right = pairs.records.values_at(pairs.right[todo], other, "canonical")
        present = ~(pd.isna(left) | pd.isna(right))
        out = np.zeros(len(todo), dtype=bool)
        if present.any():
            scores = process.cpdist(
                left[present], right[present], scorer=JaroWinkler.normalized_similarity, workers=-1
            )
            out[present] = np.asarray(scores) >= threshold
        return out

    return condition


def _similar(column: str, threshold: float, metric: str = "jaro_winkler") -> Condition:
    return lambda pairs, todo: pairs.score(todo, column, metric) >= threshold


def _within_edits(column: str, distance: float, metric: str = "levenshtein") -> Condition:
    return lambda pairs, todo: pairs.score(todo, column, metric) <= distance


def _either(first: Condition, second: Condition) -> Condition:
    return lambda pairs, todo: first(pairs, todo) | second(pairs, todo)


def _both(first: Condition, second: Condition) -> Condition:
    def condition(pairs: PairValues, todo: np.ndarray) -> np.ndarray:
        out = first(pairs, todo)
        out[out] = second(pairs, todo[out])
        return out

    return condition


_SWAP_SIMILARITY = 0.9
"""Jaro-Winkler at which a value counts as found in the other name field."""


@dataclass(frozen=True)
class Comparison:
    """Base: `column` compared through `conditions` (label, test), tried in order.

    Subclasses list their conditions; `compute` adds the ``null`` and ``else`` levels.
    """

    column: str
    name: str = ""
    term_frequency: bool = False
    """Adjust the ``exact`` level's weight by the value's frequency (`term_frequency`)."""

    def conditions(self) -> list[tuple[str, Condition]]:
        """The labelled tests between ``null`` and ``else``, strongest first."""
        return [("exact", _same(self.column))]

    @property
    def levels(self) -> tuple[str, ...]:
        """All level labels in index order; index 0 is ``null``, the last is ``else``."""
        return ("null", *(label for label, _ in self.conditions()), "else")

    @property
    def label(self) -> str:
        """Name used in evidence."""
        return self.name or self.column

    def compute(self, pairs: PairValues) -> np.ndarray:
        """Level index (int8) of every pair."""
        left, right = pairs.codes(self.column)
        tests = self.conditions()
        levels = np.full(len(left), len(tests) + 1, dtype=np.int8)
        undecided = (left >= 0) & (right >= 0)
        levels[~undecided] = 0
        for index, (_, test) in enumerate(tests, start=1):
            todo = np.flatnonzero(undecided)
            if len(todo) == 0:
                break
            hit = todo[test(pairs, todo)]
            levels[hit] = index
            undecided[hit] = False
        return levels


@dataclass(frozen=True)
class ExactComparison(Comparison):
    """null | exact | else. Example: tax ids "123456789" vs "123456789" -> exact."""


@dataclass(frozen=True)
class IdentifierComparison(Comparison):
    """null | exact | one edit | else, for ids typed by hand (tax, social security, account).

    Examples: "6398424" twice exact; "6398424"/"6388424" (a typo), "6398424"/"6394824" (two
    digits swapped) or "6398424"/"639842" (one lost) one edit; other ids else. A typo in an id
    is common, two different people one edit apart are rare, so the level keeps much of the
    exact level's weight.
    """

    def conditions(self) -> list[tuple[str, Condition]]:
        one_edit = _within_edits(self.column, 1, "damerau_levenshtein")
        return [("exact", _same(self.column)), ("one_edit", one_edit)]


@dataclass(frozen=True)
class NameComparison(Comparison):
    """null | exact | nickname | swapped | Jaro-Winkler>=t (each threshold) | else.

    Examples: "william"/"william" exact; "bill"/"william" nickname (first names only);
    first "smith" last "john" vs first "john" last "smith" swapped, and so are "Hansen, Mikey"
    vs "Michael Hansen" and "Peaul Jackson" vs "Jackson, Paul" (nicknames resolved, a typo
    allowed on either side); "jonathan"/"jonathon" JW>=0.92; "john"/"mary" else.
    """

    thresholds: tuple[float, ...] = (0.92, 0.85, 0.7)
    swap_with: str | None = None
    use_nicknames: bool = False

    def conditions(self) -> list[tuple[str, Condition]]:
        tests: list[tuple[str, Condition]] = [("exact", _same(self.column))]
        if self.use_nicknames:
            tests.append(("nickname", _shared_formal_name(self.column)))
        if self.swap_with is not None:  # each value sits in the other column on the other side
            swapped = _both(
                _crossed_alike(self.column, self.swap_with, _SWAP_SIMILARITY),
                _crossed_alike(self.swap_with, self.column, _SWAP_SIMILARITY),
            )
            tests.append(("swapped", swapped))
        tests += [(f"jaro_winkler>={t:g}", _similar(self.column, t)) for t in self.thresholds]
        return tests


@dataclass(frozen=True)
class EmailComparison(Comparison):
    """null | exact | username | Jaro-Winkler>=t | else.

    Examples: "a.b@x.com"/"a.b@x.com" exact; "a.b@x.com"/"a.b@y.org" username;
    "jon.smith@x.com"/"john.smith@x.com" JW>=0.88; unrelated addresses else.
    """

    thresholds: tuple[float, ...] = (0.88,)

    def conditions(self) -> list[tuple[str, Condition]]:
        tests = [("exact", _same(self.column)), ("username", _same(self.column, "email_user"))]
        return tests + [(f"jaro_winkler>={t:g}", _similar(self.column, t)) for t in self.thresholds]


@dataclass(frozen=True)
class PhoneComparison(Comparison):
    """null | exact | one digit off | same last 7 digits | else (on E.164 numbers).

    Examples: "+12125550123" twice exact; "+12125550123"/"+12125550128" one digit off;
    "+12125550123"/"+13125550123" last 7; different numbers else.
    """

    def conditions(self) -> list[tuple[str, Condition]]:
        return [
            ("exact", _same(self.column)),
            ("one_digit_off", _within_edits(self.column, 1)),
            ("last_7_digits", _same(self.column, "last7")),
        ]


@dataclass(frozen=True)
class DateComparison(Comparison):
    """null | exact | one typo or day/month swapped | same year | else (ISO dates).

    Examples: "1980-03-04" twice exact; "1980-03-04"/"1980-04-03" or "1980-03-05" typo;
    "1980-03-04"/"1980-11-20" same year; other years else.
    """

    def conditions(self) -> list[tuple[str, Condition]]:
        swapped = _crossed(self.column, self.column, "day_month_swapped")
        return [
            ("exact", _same(self.column)),
            ("typo_or_day_month_swapped", _either(swapped, _within_edits(self.column, 1))),
            ("same_year", _same(self.column, "year")),
        ]


@dataclass(frozen=True)
class PostcodeComparison(Comparison):
    """null | exact | same first 3 characters (district) | else. "SW1A1AA"/"SW1A2BB" district."""

    def conditions(self) -> list[tuple[str, Condition]]:
        return [("exact", _same(self.column)), ("district", _same(self.column, "first3"))]


@dataclass(frozen=True)
class AddressComparison(Comparison):
    """null | exact | same house number and JW>=t | JW>=t | else (normalised street lines).

    Examples: "12 main street" twice exact; "12 main street"/"12 mian street" number+JW;
    "12 main street"/"21 main street" JW only (neighbours); unrelated streets else.
    """

    thresholds: tuple[float, ...] = (0.88,)

    def conditions(self) -> list[tuple[str, Condition]]:
        number = _same(self.column, "house_number")
        tests: list[tuple[str, Condition]] = [("exact", _same(self.column))]
        tests += [
            (f"same_number_jaro_winkler>={t:g}", _both(number, _similar(self.column, t)))
            for t in self.thresholds
        ]
        return tests + [(f"jaro_winkler>={t:g}", _similar(self.column, t)) for t in self.thresholds]


@dataclass(frozen=True)
class CustomComparison(Comparison):
    """null | the declared levels, in order | else: a comparison written in hub.yaml.

    Each level is ``(label, test, argument, threshold)`` (`settings.LevelSpec.as_tuple`):
    ``exact``; ``same`` after the `record_values.TRANSFORMS` entry named by argument;
    ``at_least`` a similarity metric's threshold; ``at_most`` an edit distance's. Example: city
    with [exact, jaro_winkler>=0.9, same_first3] makes "Springfield"/"Springfeld" jaro_winkler.
    """

    level_specs: tuple[tuple[str, str, str, float], ...] = ()

    def conditions(self) -> list[tuple[str, Condition]]:
        return [(label, self._condition(test, arg, t)) for label, test, arg, t in self.level_specs]

    def _condition(self, test: str, argument: str, threshold: float) -> Condition:
        if test == "exact":
            return _same(self.column)
        if test == "same":
            return _same(self.column, argument)
        if test == "at_least":
            return _similar(self.column, threshold, argument)
        return _within_edits(self.column, threshold, argument)


_KINDS: dict[str, type[Comparison]] = {
    "exact": ExactComparison,
    "identifier": IdentifierComparison,
    "name": NameComparison,
    "email": EmailComparison,
    "phone": PhoneComparison,
    "date": DateComparison,
    "postcode": PostcodeComparison,
    "address": AddressComparison,
    "custom": CustomComparison,
}


def compile_comparisons(specs: Sequence[ComparisonSpec]) -> list[Comparison]:
    """Turn declared specs into comparison objects (kind -> class, thresholds, swap column)."""
    out: list[Comparison] = []
    for spec in specs:
        cls = _KINDS[spec.kind]
        kwargs: dict[str, object] = {
            "column": spec.column,
            "name": spec.name,
            "term_frequency": spec.uses_term_frequency,
        }
        if spec.levels is not None:
            kwargs["level_specs"] = tuple(level.as_tuple() for level in spec.levels)
        if spec.thresholds is not None and hasattr(cls, "thresholds"):
            kwargs["thresholds"] = spec.thresholds
        if cls is NameComparison:
            kwargs["swap_with"] = spec.swap_with
            kwargs["use_nicknames"] = spec.column == "first_name"
        out.append(cls(**kwargs))  # type: ignore[arg-type]
    return out


def compare_pairs(
    records: RecordValues | pd.DataFrame,
    left: np.ndarray,
    right: np.ndarray,
    comparisons: Sequence[Comparison],
) -> np.ndarray:
    """The (pairs x comparisons) int8 level matrix for the pairs (left[i], right[i])."""
    if isinstance(records, pd.DataFrame):
        records = RecordValues(records)
    pairs = PairValues(records, left, right)
    out = np.zeros((len(left), len(comparisons)), dtype=np.int8)
    for k, comparison in enumerate(comparisons):
        out[:, k] = comparison.compute(pairs)
    return out


def comparison_kind(comparison: Comparison) -> str:
    """The `kind:` that declares `comparison`'s class (for saving a model)."""
    for kind, cls in _KINDS.items():
        if type(comparison) is cls:
            return kind
    raise ValueError(f"no kind for {type(comparison).__name__}")


def comparison_of_kind(kind: str, settings: dict[str, Any]) -> Comparison:
    """The comparison a saved model describes: its kind and its dataclass fields."""
    if kind not in _KINDS:
        raise ValueError(f"unknown comparison kind {kind!r}")
    values = {k: _tuples(v) for k, v in settings.items()}
    return _KINDS[kind](**values)


def _tuples(value: Any) -> Any:
    """JSON lists back to the (nested) tuples a frozen comparison holds."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
