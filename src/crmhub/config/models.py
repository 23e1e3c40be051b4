"""Pydantic models of hub.yaml, the one file that describes a hub.

Each connector validates its own block with its own model (see loader.py), so this module knows
only the hub-level keys of a source: its type, trust, mapping, write-back and stream.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from crmhub.canonical import CANONICAL_FIELDS
from crmhub.matching.settings import MatchingSettings
from crmhub.schema_drift import DriftPolicy

SOURCE_HUB_KEYS: frozenset[str] = frozenset(
    {"type", "trust", "mapping", "writeback", "stream", "enabled", "schema_drift"}
)
"""Keys of a source block that belong to the hub; every other key is the connector's."""


class StrictModel(BaseModel):
    """Unknown keys are errors and values are frozen, for every hub.yaml model."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(StrictModel):
    """Where the golden-record database lives."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file crmhub.db next to hub.yaml.",
    )


class WritebackSettings(StrictModel):
    """What the hub writes back into one source."""

    enabled: bool = True
    golden_id_field: str | None = Field(
        default="crmhub_id",
        description="Source field that receives the golden id; null to not write it.",
    )
    fields: list[str] = Field(
        default_factory=list,
        description="Canonical fields whose golden value is written back (via the mapping).",
    )

    @field_validator("fields")
    @classmethod
    def _canonical_only(cls, value: list[str]) -> list[str]:
        unknown = [f for f in value if f not in CANONICAL_FIELDS]
        if unknown:
            raise ValueError(
                f"not canonical fields: {unknown}; choose from {list(CANONICAL_FIELDS)}"
            )
        return value


def _one_or_more_fields(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """One clear message instead of one per union member."""
    try:
        return handler(value)
    except ValidationError:
        raise ValueError(
            f"expected a source field name or a list of names, got {value!r}"
            + (
                "; quote it: YAML reads yes/no/on/off as booleans"
                if isinstance(value, bool)
                else ""
            )
        ) from None


MappingValue = Annotated[str | list[str], WrapValidator(_one_or_more_fields)]


class SourceSettings(StrictModel):
    """The hub-level keys of one source; the connector's own keys are validated separately."""

    type: str = Field(description="Connector kind, e.g. sql or spreadsheet, or 'pkg.mod:Class'.")
    trust: int = Field(default=1, ge=0, description="Higher wins in survivorship.")
    mapping: dict[str, MappingValue] = Field(
        default_factory=dict,
        description="Canonical field -> source field (a list is joined with spaces).",
    )
    writeback: WritebackSettings = Field(default_factory=WritebackSettings)
    stream: str | None = Field(default=None, description="Stream to read; default the only one.")
    enabled: bool = True
    schema_drift: DriftPolicy = Field(
        default=DriftPolicy.EVOLVE,
        description="New/removed/retyped fields: evolve (keep, report), freeze (stop the "
        "stream), discard_row (quarantine rows that carry them).",
    )

    @field_validator("mapping")
    @classmethod
    def _canonical_keys(cls, value: dict[str, MappingValue]) -> dict[str, MappingValue]:
        unknown = sorted(set(value) - set(CANONICAL_FIELDS))
        if unknown:
            raise ValueError(
                f"mapping keys must be canonical fields, not {unknown}; "
                f"choose from {list(CANONICAL_FIELDS)}"
            )
        return value

    @model_validator(mode="after")
    def _writeback_fields_are_mapped(self) -> SourceSettings:
        """A golden value can only be written back into one source column."""
        for name in self.writeback.fields:
            if not isinstance(self.mapping.get(name), str):
                raise ValueError(
                    f"writeback.fields: {name!r} must be mapped to exactly one source field "
                    f"in 'mapping' to be written back"
                )
        return self


SurvivorshipStep = Literal["valid", "source_trust", "most_recent", "most_frequent", "longest"]
"""``valid`` filters; the others order the candidate values, tried in turn."""


class FieldSurvivorship(StrictModel):
    """How one golden field is chosen: a chain of steps, or an aggregate over the cluster.

    ``source_priority`` lists sources best first for this field (others after them, by trust);
    it replaces ``trust`` in this field's ``source_trust`` step.
    """

    rules: list[SurvivorshipStep] = Field(default_factory=lambda: ["source_trust", "most_recent"])
    source_priority: list[str] | None = None
    aggregate: Literal["sum", "max", "min"] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> FieldSurvivorship:
        if self.aggregate and "rules" in self.model_fields_set:
            raise ValueError("a field is either aggregated or chosen by rules, not both")
        if self.source_priority is not None and "source_trust" not in self.rules:
            raise ValueError("source_priority takes effect in a 'source_trust' step; add one")
        return self


class SurvivorshipSettings(StrictModel):
    """Per golden field, how its value is chosen from a cluster's records.

    ``rules`` is the chain of every field not listed in ``fields``. A field's entry is a list
    of steps (a chain) or a mapping with ``rules``/``source_priority``/``aggregate``.
    """

    rules: list[SurvivorshipStep] = Field(default_factory=lambda: ["source_trust", "most_recent"])
    fields: dict[str, list[SurvivorshipStep] | FieldSurvivorship] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def _known_fields(
        cls, value: dict[str, list[SurvivorshipStep] | FieldSurvivorship]
    ) -> dict[str, list[SurvivorshipStep] | FieldSurvivorship]:
        from crmhub.canonical import CANONICAL_FIELDS

        unknown = sorted(set(value) - set(CANONICAL_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown golden field(s) {unknown}; expected some of {list(CANONICAL_FIELDS)}"
            )
        return value

    def chain(self, name: str) -> FieldSurvivorship:
        """The chain that chooses field `name`."""
        given = self.fields.get(name)
        if given is None:
            return FieldSurvivorship(rules=list(self.rules))
        if isinstance(given, FieldSurvivorship):
            return given
        return FieldSurvivorship(rules=list(given))


class ScheduleSettings(StrictModel):
    """When `crmhub serve` runs the sync flow: a cron expression or an interval."""

    cron: str | None = None
    interval_minutes: int | None = Field(default=None, gt=0)
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _one_trigger(self) -> ScheduleSettings:
        if self.cron and self.interval_minutes:
            raise ValueError("give either 'cron' or 'interval_minutes', not both")
        return self


class HubConfig(StrictModel):
    """The whole hub.yaml; `sources` stay plain dicts until the loader's second pass."""

    version: Literal[1] = 1
    name: str = "crmhub"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    sources: dict[str, dict[str, Any]]
    matching: MatchingSettings = Field(default_factory=MatchingSettings)
    survivorship: SurvivorshipSettings = Field(default_factory=SurvivorshipSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)

    @field_validator("database", "matching", "survivorship", "schedule", mode="before")
    @classmethod
    def _empty_section_means_defaults(cls, value: Any) -> Any:
        """`database:` with nothing under it is read as 'all defaults', not as an error."""
        return {} if value is None else value

    @field_validator("sources")
    @classmethod
    def _at_least_one(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        if not value:
            raise ValueError("no sources: add at least one under 'sources:'")
        return value
