"""A bureau-neutral credit assessment, and the declarative mapping of a bureau's report onto it.

Credit bureaus (Creditsafe, Dun & Bradstreet, Experian, ...) answer the same questions about a
company (who is it, where is it, how risky is it, how much credit should it get) in their own
JSON shapes, codes and scales. crmhub keeps one model, `CreditAssessment`, and describes each
bureau by a `BureauMapping`: where each field sits in the bureau's report, plus value maps for
its codes. Supporting another bureau is a new mapping (YAML or a dict), not new code, because
the types (decimal text, a 0-100 score, ISO times) are enforced here, once, for every bureau.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crmhub.errors import RecordError


@dataclass(frozen=True)
class CreditAssessment:
    """What one bureau says about one company, in bureau-neutral terms.

    Records are this dataclass's fields, flat: text, an int score, ISO text for the time and
    decimal text for money (never a float, so 1234567.10 stays exact through staging).
    """

    bureau: str
    company_id: str
    """The bureau's own id of the company (Creditsafe's connectId): the record key."""
    company_name: str | None = None
    registration_number: str | None = None
    vat_number: str | None = None
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    region: str | None = None
    country: str | None = None
    """ISO 3166 alpha-2, upper case."""
    phone: str | None = None
    credit_limit: str | None = None
    """Decimal text, e.g. "25000" or "1250.50"."""
    currency: str | None = None
    """ISO 4217, upper case."""
    score: int | None = None
    """0 (highest risk) to 100 (lowest risk), whatever the bureau's own scale."""
    risk_band: str | None = None
    """A (very low risk) .. E (not rated / highest risk), or the bureau's common band."""
    risk_description: str | None = None
    status: str | None = None
    """active, inactive, dissolved, insolvent, ... (the bureau's text when unmapped)."""
    assessed_at: str | None = None
    """When the bureau last changed this assessment, ISO 8601 in UTC."""

    def as_record(self) -> dict[str, Any]:
        """The flat record a connector emits."""
        return dataclasses.asdict(self)


ASSESSMENT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CreditAssessment))
"""Every field of a CreditAssessment, in record column order."""

MAPPED_FIELDS = frozenset(ASSESSMENT_FIELDS) - {"bureau"}
"""Fields a mapping may fill (the bureau's name comes from the mapping itself)."""


class MappingError(RecordError):
    """A report does not fit the mapping (no company id, a limit that is not a number)."""


# -- paths ------------------------------------------------------------------------------------
_SEGMENT = re.compile(r"(?P<name>[^.\[\]]+)(?:\[(?P<key>[^=\[\]]+)=(?P<value>[^\[\]]*)\])?")


@dataclass(frozen=True)
class _Step:
    name: str
    key: str | None = None
    value: str | None = None


def parse_path(path: str) -> tuple[_Step, ...]:
    """Split a path such as ``report.addresses[type=Registered].city`` into steps.

    A step is an object key, a list index (``addresses.0``), or a key followed by
    ``[field=value]``, which picks the first list item whose `field` equals `value`.
    """
    steps: list[_Step] = []
    for part in path.split("."):
        match = _SEGMENT.fullmatch(part)
        if match is None:
            raise ValueError(f"bad path {path!r} at {part!r}; expected e.g. a.b.0.c or a[k=v].b")
        steps.append(_Step(match["name"], match["key"], match["value"]))
    return tuple(steps)


def resolve_path(document: Any, steps: tuple[_Step, ...]) -> Any:
    """The value at `steps` in `document`, or None when any step is missing."""
    current = document
    for step in steps:
        if isinstance(current, dict):
            current = current.get(step.name)
        elif isinstance(current, list) and step.name.isdigit():
            index = int(step.name)
            current = current[index] if index < len(current) else None
        else:
            return None
        if step.key is not None:
            current = _select(current, step.key, step.value or "")
    return current


def _select(items: Any, key: str, value: str) -> Any:
    if not isinstance(items, list):
        return None
    for item in items:
        if isinstance(item, dict) and str(item.get(key)).casefold() == value.casefold():
            return item
    return None


# -- the mapping ------------------------------------------------------------------------------
class Scale(BaseModel):
    """The bureau's score range, turned into 0-100: fixed bounds or bounds read from the report.

    `higher_is_better: false` flips scales where a high number means high risk (e.g. a
    failure class 1-5 with 5 the worst).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = 0
    max: float | None = 100
    min_path: str | None = None
    max_path: str | None = None
    higher_is_better: bool = True

    @field_validator("min_path", "max_path")
    @classmethod
    def _check_path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_path(value)
        return value

    def bounds(self, report: Any) -> tuple[float | None, float | None]:
        """(low, high) for this report: a path's value when given and numeric, else fixed."""
        low = _number(resolve_path(report, parse_path(self.min_path))) if self.min_path else None
        high = _number(resolve_path(report, parse_path(self.max_path))) if self.max_path else None
        return (self.min if low is None else low, self.max if high is None else high)


class FieldRule(BaseModel):
    """Where one field comes from: paths into the report and how to translate its value.

    Write just the path (``company_name: report.companySummary.businessName``) for the
    common case. With several paths the first one holding a value wins; with `join` the
    values of all paths are joined by it (e.g. address lines). `values` translates the
    bureau's codes (compared case-insensitively); a code not listed is kept as the bureau
    wrote it, or dropped when `unmapped: null`. `default` fills a field no path has.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: list[str] = Field(default_factory=list)
    join: str | None = None
    values: dict[str, str | None] = Field(default_factory=dict)
    unmapped: Literal["keep", "null"] = "keep"
    default: str | None = None
    scale: Scale | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"path": [data]}
        if isinstance(data, list):
            return {"path": data}
        if isinstance(data, dict) and isinstance(data.get("path"), str):
            return {**data, "path": [data["path"]]}
        return data

    @field_validator("path")
    @classmethod
    def _check_paths(cls, paths: list[str]) -> list[str]:
        for path in paths:
            parse_path(path)
        return paths

    @field_validator("values", mode="before")
    @classmethod
    def _fold_codes(cls, values: Any) -> Any:
        """Codes compare case-insensitively, and YAML's `1: A` means the code "1"."""
        if not isinstance(values, dict):
            return values
        folded: dict[str, Any] = {}
        for code, common in values.items():
            key = str(code).strip().casefold()
            if key in folded and folded[key] != common:
                raise ValueError(f"code {code!r} is listed twice with different values")
            folded[key] = common
        return folded

    @model_validator(mode="after")
    def _needs_a_source(self) -> FieldRule:
        if not self.path and self.default is None:
            raise ValueError("give a 'path' (or a list of paths) or a 'default'")
        return self

    def raw(self, report: Any) -> Any:
        """The bureau's value: first path with a value, or all of them joined by `join`."""
        values = [resolve_path(report, parse_path(p)) for p in self.path]
        present = [v for v in values if v is not None and v != ""]
        for path, value in zip(self.path, values, strict=True):
            if isinstance(value, dict | list):
                raise MappingError(f"{path} holds an object, not a value")
        if self.join is not None:
            return self.join.join(str(v).strip() for v in present) or None
        return present[0] if present else None

    def value(self, report: Any) -> Any:
        """The raw value translated through `values`, or `default` when there is none."""
        raw = self.raw(report)
        if raw is not None and self.values:
            key = str(raw).strip().casefold()
            if key in self.values:
                raw = self.values[key]
            elif self.unmapped == "null":
                raw = None
        return self.default if raw is None else raw


class BureauMapping(BaseModel):
    """How one bureau's report becomes a `CreditAssessment`; YAML or a dict, never code.

    `fields` maps assessment fields to `FieldRule`s (only `company_id` is required); `extra`
    adds more record columns (text) for report values the assessment does not cover.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bureau: str = Field(min_length=1)
    fields: dict[str, FieldRule]
    extra: dict[str, FieldRule] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, fields: dict[str, FieldRule]) -> dict[str, FieldRule]:
        unknown = sorted(set(fields) - MAPPED_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown field(s) {', '.join(unknown)}; "
                f"a mapping fills: {', '.join(f for f in ASSESSMENT_FIELDS if f != 'bureau')}"
            )
        if "company_id" not in fields:
            raise ValueError("'company_id' is required: it is the record key")
        scaled = sorted(name for name, rule in fields.items() if rule.scale and name != "score")
        if scaled:
            raise ValueError(f"'scale' applies to 'score' only, not to {', '.join(scaled)}")
        return fields

    @field_validator("extra")
    @classmethod
    def _no_clash(cls, extra: dict[str, FieldRule]) -> dict[str, FieldRule]:
        clash = sorted(set(extra) & set(ASSESSMENT_FIELDS))
        if clash:
            raise ValueError(f"extra column(s) {', '.join(clash)} clash with assessment fields")
        return extra

    @classmethod
    def from_yaml(cls, path: Path) -> BureauMapping:
        """Load a mapping from a YAML file (its keys as in the model)."""
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))

    @property
    def columns(self) -> tuple[str, ...]:
        """Record columns: the assessment's fields, then the extra columns."""
        return (*ASSESSMENT_FIELDS, *self.extra)

    def assess(self, report: Any) -> CreditAssessment:
        """The assessment in `report`; MappingError names the field that does not fit."""
        values: dict[str, Any] = {}
        problems: list[str] = []
        for name, rule in self.fields.items():
            try:
                values[name] = _convert(name, rule, report)
            except (ValueError, ArithmeticError, MappingError) as exc:
                problems.append(f"{name}: {exc}")
        if "company_id" in values and not values["company_id"]:
            paths = ", ".join(self.fields["company_id"].path) or "(default)"
            problems.insert(0, f"company_id: no value at {paths}")
        if problems:
            raise MappingError("; ".join(problems))
        return CreditAssessment(bureau=self.bureau, **values)

    def record(self, report: Any) -> dict[str, Any]:
        """The flat record of `report`: assessment fields plus the extra columns."""
        record = self.assess(report).as_record()
        for name, rule in self.extra.items():
            try:
                record[name] = _text(rule.value(report))
            except MappingError as exc:
                raise MappingError(f"{name}: {exc}") from None
        return record


# -- typing the values ------------------------------------------------------------------------
def _convert(name: str, rule: FieldRule, report: Any) -> Any:
    value = rule.value(report)
    if value is None:
        return None
    if name == "credit_limit":
        return decimal_text(value)
    if name == "score":
        return _score(value, rule.scale, report)
    if name == "assessed_at":
        return iso_utc(value)
    if name in {"country", "currency"}:
        return _text(value, upper=True)
    return _text(value)


def _text(value: Any, *, upper: bool = False) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return (text.upper() if upper else text) or None


def decimal_text(value: Any) -> str:
    """`value` as plain decimal text without trailing zeros: 25000.00 -> "25000"."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an amount")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{str(value)[:40]!r} is not an amount") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not an amount")
    text = format(number.normalize(), "f")
    return "0" if text in {"-0", "0"} else text


def iso_utc(value: Any) -> str:
    """An ISO 8601 time in UTC; a naive time or a bare date is taken as UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(f"{str(value)[:40]!r} is not an ISO date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _score(value: Any, scale: Scale | None, report: Any) -> int | None:
    """The bureau's score on 0-100; None when it is not a number (a letter-only rating)."""
    number = _number(value)
    if number is None:
        return None
    low, high = scale.bounds(report) if scale else (0.0, 100.0)
    if low is None or high is None or high == low:
        return None
    share = (number - low) / (high - low)
    if scale is not None and not scale.higher_is_better:
        share = 1 - share
    return max(0, min(100, round(share * 100)))
