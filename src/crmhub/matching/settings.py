"""The ``matching:`` block of hub.yaml as a frozen pydantic model whose defaults need no config.

Every field has a default that works for person-level customer data, so ``MatchingSettings()``
is a complete configuration; a hub only writes down what it changes. Unknown keys are rejected
(``extra="forbid"``) so a typo such as ``treshold`` fails at load instead of being ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crmhub.canonical import IDENTITY_FIELDS

ComparisonKind = Literal[
    "name", "email", "phone", "date", "exact", "identifier", "postcode", "address", "custom"
]

SIMILARITY_METRICS: tuple[str, ...] = (
    "jaro_winkler",
    "jaro",
    "ratio",
    "partial_ratio",
    "token_sort_ratio",
    "token_set_ratio",
)
"""rapidfuzz similarities scaled to 0..1: a level holds when the score is >= its threshold."""

DISTANCE_METRICS: tuple[str, ...] = ("levenshtein", "damerau_levenshtein")
"""rapidfuzz edit distances: a level holds when the distance is <= its threshold."""

TRANSFORM_NAMES: tuple[str, ...] = (
    "email_user",
    "last7",
    "first3",
    "year",
    "house_number",
    "nickname",
)
"""Derivations a custom level may compare equal (see `record_values.TRANSFORMS`)."""

DERIVED_KEYS: tuple[str, ...] = (
    "first_name_canon",
    "first_name_prefix",
    "last_name_prefix",
    "birth_year",
    "email_user",
    "phone_last7",
    "name_sorted",
)
"""Blocking keys computed from the normalised identity fields (see `blocking.derive_keys`)."""

BLOCKING_KEYS: tuple[str, ...] = IDENTITY_FIELDS + DERIVED_KEYS
"""Every name a blocking rule may use."""

KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "first_name_canon": ("first_name",),
    "first_name_prefix": ("first_name",),
    "last_name_prefix": ("last_name",),
    "birth_year": (),
    "email_user": ("email",),
    "phone_last7": ("phone",),
    "name_sorted": ("first_name", "last_name"),
}
"""The identity fields a derived key forces to (nearly) agree in every pair it blocks; an
identity field forces itself. A birth year forces nothing: one year holds ~1/80 of everyone,
so two records born the same year may still differ on the date, and an equal date is evidence
beyond the rule's prior (a name plus a birth date is a person; a name plus a year is not yet)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelSpec(_Frozen):
    """One level of a ``kind: custom`` comparison; exactly one test per level.

    ``{exact: true}`` equal values; ``{same: first3}`` equal after a derivation
    (`TRANSFORM_NAMES`); ``{metric: jaro_winkler, threshold: 0.9}`` a similarity at least the
    threshold (`SIMILARITY_METRICS`, 0..1) or ``{metric: levenshtein, threshold: 2}`` an edit
    distance at most it (`DISTANCE_METRICS`). `label` names the level in evidence; by default
    it is derived from the test ("exact", "same_first3", "jaro_winkler>=0.9", "levenshtein<=2").
    """

    label: str | None = None
    exact: bool = False
    same: str | None = None
    metric: str | None = None
    threshold: float | None = None

    @model_validator(mode="after")
    def _one_test(self) -> LevelSpec:
        tests = [self.exact, self.same is not None, self.metric is not None]
        if sum(tests) != 1:
            raise ValueError("a level needs exactly one of: exact: true, same: <transform>, metric")
        if self.same is not None and self.same not in TRANSFORM_NAMES:
            raise ValueError(f"unknown transform {self.same!r}; expected one of {TRANSFORM_NAMES}")
        if self.metric is not None:
            if self.metric not in SIMILARITY_METRICS + DISTANCE_METRICS:
                raise ValueError(
                    f"unknown metric {self.metric!r}; expected one of "
                    f"{SIMILARITY_METRICS + DISTANCE_METRICS}"
                )
            if self.threshold is None:
                raise ValueError(f"metric {self.metric} needs a threshold")
            if self.metric in SIMILARITY_METRICS and not 0.0 < self.threshold <= 1.0:
                raise ValueError(f"a {self.metric} threshold is a similarity in (0, 1]")
            if self.metric in DISTANCE_METRICS and (
                self.threshold < 0 or self.threshold != int(self.threshold)
            ):
                raise ValueError(f"a {self.metric} threshold is a whole number of edits")
        return self

    def as_tuple(self) -> tuple[str, str, str, float]:
        """(label, test, argument, threshold): the plain form a comparison (and a saved model)
        keeps; test is ``exact``, ``same``, ``at_least`` or ``at_most``."""
        if self.exact:
            return (self.label or "exact", "exact", "", 0.0)
        if self.same is not None:
            return (self.label or f"same_{self.same}", "same", self.same, 0.0)
        assert self.metric is not None and self.threshold is not None
        if self.metric in DISTANCE_METRICS:
            label = self.label or f"{self.metric}<={int(self.threshold)}"
            return (label, "at_most", self.metric, float(self.threshold))
        label = self.label or f"{self.metric}>={self.threshold:g}"
        return (label, "at_least", self.metric, float(self.threshold))


class ComparisonSpec(_Frozen):
    """One declared comparison: `kind` picks the class in `comparisons`, `column` its field.

    `thresholds` are similarity cut-offs (0..1, strongest first) for the fuzzy levels; None keeps
    the kind's defaults. `swap_with` (name kind only) adds a level for values found in the other
    column of the pair, e.g. first and last name entered the wrong way round. `levels` (custom
    kind only, and required there) declares the levels between ``null`` and ``else``, strongest
    first. `term_frequency` adjusts the exact level's weight by how common the value is (an
    equal rare surname says more than an equal "smith"); None = on for first and last names.
    """

    kind: ComparisonKind
    column: str
    thresholds: tuple[float, ...] | None = None
    swap_with: str | None = None
    levels: tuple[LevelSpec, ...] | None = None
    term_frequency: bool | None = None

    @model_validator(mode="after")
    def _levels_for_custom(self) -> ComparisonSpec:
        if self.kind == "custom" and not self.levels:
            raise ValueError("a custom comparison needs levels, e.g. [{exact: true}]")
        if self.kind != "custom" and self.levels is not None:
            raise ValueError(f"levels are declared by kind: custom, not by kind: {self.kind}")
        labels = [level.as_tuple()[0] for level in self.levels or ()]
        if len(set(labels)) != len(labels) or {"null", "else"} & set(labels):
            raise ValueError("level labels must be unique and not 'null' or 'else'")
        return self

    @property
    def uses_term_frequency(self) -> bool:
        """Whether the exact level is term-frequency adjusted (explicit, else the default)."""
        if self.term_frequency is not None:
            return self.term_frequency
        return self.kind == "name" and self.column in ("first_name", "last_name")

    @field_validator("column", "swap_with")
    @classmethod
    def _known_column(cls, value: str | None) -> str | None:
        if value is not None and value not in IDENTITY_FIELDS:
            raise ValueError(f"unknown column {value!r}; expected one of {list(IDENTITY_FIELDS)}")
        return value

    @field_validator("thresholds")
    @classmethod
    def _descending(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if value is None:
            return None
        if any(not 0.0 < t <= 1.0 for t in value) or list(value) != sorted(value, reverse=True):
            raise ValueError("thresholds must be in (0, 1] and in descending order")
        return value

    @property
    def name(self) -> str:
        """Label used in evidence; the column is unique per comparison in practice."""
        return self.column


class Thresholds(_Frozen):
    """Match probabilities at which a pair is merged automatically or sent to review, and below
    which two compared records are known to be different people (`cannot_link`): then no chain
    of other links may put them in one cluster."""

    auto_merge: float = Field(0.95, gt=0.0, lt=1.0)
    review: float = Field(0.80, gt=0.0, lt=1.0)
    cannot_link: float = Field(0.01, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.review > self.auto_merge:
            raise ValueError("thresholds.review must not exceed thresholds.auto_merge")
        if self.cannot_link > self.review:
            raise ValueError("thresholds.cannot_link must not exceed thresholds.review")
        return self


DEFAULT_BLOCKING: tuple[tuple[str, ...], ...] = (
    ("email",),
    ("phone",),
    ("name_sorted", "city"),
    ("first_name_canon", "last_name", "birth_year"),
    ("first_name_prefix", "last_name_prefix", "postal_code"),
    ("birth_date", "last_name_prefix"),
    ("birth_date", "first_name_prefix"),
    ("name_sorted", "birth_year"),
    ("tax_id",),
    ("birth_date", "postal_code"),
    ("street", "postal_code"),
    ("first_name_canon", "last_name", "company"),
    ("first_name_prefix", "last_name_prefix", "city"),
)
"""Each rule pairs records that could be one person on its own evidence. A common full name
alone is not such a rule: at a million customers the "john smith" blocks give ~6 million
pairs, 2 % of them matches, and a pair that shares nothing but a common name cannot be merged
anyway; the name with a town (either way round), a birth year or a company can. A *rare* full
name can, so the bare name rule comes last with a small block cap (`DEFAULT_BLOCKING_RULES`).
Measured (bench/dedupe.py at 1 M records; bench/febrl.py): candidate pairs 11.0 M -> 1.2 M,
F1 0.979 -> 0.981; Febrl3 F1 0.9989 -> 0.9995, Febrl4 0.9981 -> 0.9992."""

# City is left out on purpose: it repeats what postal_code says, and two comparisons of one
# underlying fact (same place) break the independence the EM fit assumes, which then learns
# "same address" instead of "same person". Add it when postcodes are missing.
DEFAULT_COMPARISONS: tuple[ComparisonSpec, ...] = (
    ComparisonSpec(kind="name", column="first_name", swap_with="last_name"),
    ComparisonSpec(kind="name", column="last_name", swap_with="first_name"),
    ComparisonSpec(kind="email", column="email"),
    ComparisonSpec(kind="phone", column="phone"),
    ComparisonSpec(kind="date", column="birth_date"),
    ComparisonSpec(kind="address", column="street"),
    ComparisonSpec(kind="postcode", column="postal_code"),
    ComparisonSpec(kind="name", column="company", thresholds=(0.9,)),
    ComparisonSpec(kind="identifier", column="tax_id"),
)


class BlockingRule(_Frozen):
    """A blocking rule with its own block-size cap, written as a mapping in hub.yaml:
    ``{keys: [first_name_canon, last_name], max_block_size: 10}``. A plain list of keys is a
    rule with the global cap. A small cap suits a broad rule kept for the rare values only: a
    rare full name is a lead worth comparing, a block of 400 "john smith"s is not."""

    keys: tuple[str, ...]
    max_block_size: int | None = Field(None, ge=2)


Rule = list[str] | BlockingRule
"""One entry of ``matching.blocking``."""

NAME_ONLY_BLOCK_SIZE = 10
"""Cap of the bare full-name rule: names shared by at most this many records."""

DEFAULT_BLOCKING_RULES: tuple[Rule, ...] = (
    *(list(rule) for rule in DEFAULT_BLOCKING),
    BlockingRule(keys=("first_name_canon", "last_name"), max_block_size=NAME_ONLY_BLOCK_SIZE),
)


class MatchingSettings(_Frozen):
    """How records are blocked, compared, scored and clustered.

    `blocking` is an OR of rules, each an AND of equal keys (`BLOCKING_KEYS`); a pair found by an
    earlier rule is not scored again. A block larger than `max_block_size` records is left out of
    its rule with a warning, because one junk value (a shared dummy phone) would otherwise produce
    millions of pairs. `u_sample_pairs` random pairs estimate how often values agree by chance;
    `em_max_iterations` bounds the unsupervised fit of the match probabilities. `partitions` > 1
    compares the candidate pairs in that many chunks as Prefect tasks (`partitioned`), on a
    thread pool or on the Dask cluster of the task runner the caller passes; results are the
    same either way.
    """

    blocking: list[Rule] = Field(default_factory=lambda: list(DEFAULT_BLOCKING_RULES))
    comparisons: list[ComparisonSpec] = Field(default_factory=lambda: list(DEFAULT_COMPARISONS))
    thresholds: Thresholds = Field(default_factory=Thresholds)
    default_region: str = "US"
    dayfirst: bool = True
    max_block_size: int = Field(500, ge=2)
    u_sample_pairs: int = Field(100_000, ge=1_000)
    em_max_iterations: int = Field(100, ge=1)
    random_seed: int = 0
    partitions: int = Field(1, ge=1)

    @field_validator("blocking")
    @classmethod
    def _known_keys(cls, rules: list[Rule]) -> list[Rule]:
        problems = [key for rule in rules for key in rule_keys(rule) if key not in BLOCKING_KEYS]
        if problems:
            raise ValueError(
                f"unknown blocking keys {problems}; expected some of {list(BLOCKING_KEYS)}"
            )
        if any(not rule_keys(rule) for rule in rules):
            raise ValueError("a blocking rule needs at least one key")
        return rules

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                f"unknown phone region {value!r}; use an ISO 3166 code such as US or GB"
            )
        return region

    @field_validator("comparisons")
    @classmethod
    def _unique_names(cls, specs: list[ComparisonSpec]) -> list[ComparisonSpec]:
        names = [spec.name for spec in specs]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"more than one comparison on column(s) {duplicated}")
        if not specs:
            raise ValueError("at least one comparison is needed")
        return specs


def rule_keys(rule: Sequence[str] | BlockingRule) -> tuple[str, ...]:
    """The keys a rule ANDs, whether written as a list or as a `BlockingRule`."""
    return rule.keys if isinstance(rule, BlockingRule) else tuple(rule)


def rule_cap(rule: Sequence[str] | BlockingRule, default: int | None) -> int | None:
    """The largest block the rule keeps: its own cap, else the global one."""
    own = rule.max_block_size if isinstance(rule, BlockingRule) else None
    return own if own is not None else default


def rule_columns(rule: Sequence[str] | BlockingRule) -> frozenset[str]:
    """The identity fields a blocking rule forces to agree in every pair it finds."""
    return frozenset(column for key in rule_keys(rule) for column in KEY_COLUMNS.get(key, (key,)))


def rule_label(rule: Sequence[str] | BlockingRule) -> str:
    """How a blocking rule is named in pairs and evidence: keys joined by '+'."""
    return "+".join(rule_keys(rule))
