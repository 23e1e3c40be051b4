"""Schema drift: notice new, removed and retyped fields of a source and apply its policy.

Vendors add fields, drop them and change their types without notice. The hub remembers the
field types each stream had (table `stream_schema`) and compares every batch with them:

* `evolve` (default): keep going; new fields land in the raw payload of `source_record`, and
  the change is reported in the run summary;
* `freeze`: stop the stream with a clear error before the changed batch is staged, so the saved
  state stays behind the change and nothing of it is half-stored;
* `discard_row`: quarantine the records that carry a new or retyped field, stage the rest.

A field that is merely empty in a record is not a change (sparse JSON is normal). A field is
removed when the connector's `discover()` no longer lists it and no record of the read carries
it (some connectors list only the fields they were told to, while records carry more). Fields
that only crmhub writes (the golden id column) are not the source's schema and are ignored.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson
import polars as pl
import sqlalchemy as sa

from crmhub.connectors.base import Batch, Record, RecordFrame, RejectedRecord
from crmhub.errors import SourceContractError
from crmhub.golden_record.models import StreamSchema


class DriftPolicy(StrEnum):
    """What to do when a stream's fields change."""

    EVOLVE = "evolve"
    FREEZE = "freeze"
    DISCARD_ROW = "discard_row"


_NUMBER_TYPES = frozenset({"integer", "number"})


def value_type(value: Any) -> str | None:
    """The JSON-like type name of a record value; None for an empty value (no evidence)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _frame_type(dtype: pl.DataType) -> str | None:
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float() or dtype.is_decimal():
        return "number"
    if dtype == pl.String:
        return "string"
    if dtype == pl.Null:
        return None
    return str(dtype).lower()


def _one_type(kinds: frozenset[str]) -> str:
    """One type for a field first seen with `kinds`: numbers merge, text wins over the rest."""
    if kinds <= _NUMBER_TYPES:
        return "number" if "number" in kinds else "integer"
    return "string" if "string" in kinds else sorted(kinds)[0]


def compatible(known: str, seen: str) -> bool:
    """Whether `seen` is the same type as `known`, counting integers as numbers."""
    return known == seen or {known, seen} <= _NUMBER_TYPES


@dataclass
class DriftReport:
    """Changes seen in one read, as short lines for the run summary."""

    new: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    retyped: dict[str, tuple[str, str]] = field(default_factory=dict)
    discarded: int = 0

    def lines(self) -> list[str]:
        """Human-readable changes, e.g. `new field 'Website' (string)`."""
        out = [f"new field {name!r} ({kind})" for name, kind in sorted(self.new.items())]
        out += [f"field {name!r} removed" for name in sorted(self.removed)]
        out += [
            f"field {name!r} changed type {old} -> {new}"
            for name, (old, new) in sorted(self.retyped.items())
        ]
        if self.discarded:
            out.append(f"{self.discarded} records discarded for schema drift")
        return out

    def __bool__(self) -> bool:
        return bool(self.new or self.removed or self.retyped)


class DriftWatch:
    """Compares batches with a stream's known field types and applies the policy to them."""

    def __init__(
        self,
        known: Mapping[str, str] | None,
        policy: DriftPolicy,
        *,
        source: str,
        stream: str,
        discovered: Sequence[str] = (),
        ignore: Sequence[str] = (),
    ) -> None:
        self.policy = policy
        self.source, self.stream = source, stream
        self.ignore = frozenset(ignore)
        self.baseline = known is None
        self.fields: dict[str, str] = {
            k: v for k, v in (known or {}).items() if k not in self.ignore
        }
        self.report = DriftReport()
        self._undiscovered = (
            frozenset(self.fields) - frozenset(discovered)
            if discovered and not self.baseline
            else frozenset()
        )
        """Known fields `discover()` no longer lists: removed unless a record still has them."""
        self._seen: set[str] = set()

    def watch(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        """Pass `batches` through, with the policy applied to every change they show."""
        for batch in batches:
            yield self.check(batch)

    def check(self, batch: Batch) -> Batch:
        """`batch` after the policy: unchanged, trimmed of drifting rows, or an error."""
        seen = {k: v for k, v in self._types(batch.records).items() if k not in self.ignore}
        self._seen.update(seen)
        drift = {} if self.baseline else self._drift(seen)
        if not drift:
            self._learn(seen)
            return batch
        self._note(drift)
        if self.policy is DriftPolicy.FREEZE:
            raise self._frozen()
        if self.policy is DriftPolicy.DISCARD_ROW:
            return self._discard(batch, drift)
        self._learn(seen)
        return batch

    def finish(self) -> DriftReport:
        """The report of the whole read, with the fields that are gone (known once it is over).

        Raises:
            SourceContractError: fields are gone and the policy is `freeze` (the batches are
                stored by then; the known fields are kept, so every run says so until the
                policy accepts the change).
        """
        if not self._seen:
            return self.report
        self.report.removed = sorted(self._undiscovered - self._seen)
        if self.report.removed and self.policy is DriftPolicy.FREEZE:
            raise self._frozen()
        for name in self.report.removed:
            self.fields.pop(name, None)
        return self.report

    def save(self, engine: sa.Engine, *, now: datetime | None = None) -> None:
        """Remember the field types for the next run (after the batches are committed)."""
        if not self.fields:
            return
        stamp = now or datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(
                sa.delete(StreamSchema).where(
                    StreamSchema.source == self.source, StreamSchema.stream == self.stream
                )
            )
            conn.execute(
                sa.insert(StreamSchema).values(
                    source=self.source, stream=self.stream, fields=self.fields, updated_at=stamp
                )
            )

    # -- internals --------------------------------------------------------------------------
    def _known_as(self, name: str, kind: str) -> bool:
        known = self.fields.get(name)
        return known is not None and (known == "null" or compatible(known, kind))

    def _note(self, drift: Mapping[str, str]) -> None:
        for name, kind in drift.items():
            if name in self.fields:
                self.report.retyped[name] = (self.fields[name], kind)
            else:
                self.report.new[name] = kind

    def _drift(self, seen: Mapping[str, frozenset[str]]) -> dict[str, str]:
        """Field -> the first type seen in it that the known type does not admit."""
        drift: dict[str, str] = {}
        for name, kinds in seen.items():
            wrong = sorted(kind for kind in kinds if not self._known_as(name, kind))
            if wrong:
                drift[name] = wrong[0]
        return drift

    def _learn(self, seen: Mapping[str, frozenset[str]]) -> None:
        for name, kinds in seen.items():
            known = self.fields.get(name)
            if not kinds:
                self.fields.setdefault(name, "null")
            elif known in (None, "null") or any(not compatible(known, k) for k in kinds):
                self.fields[name] = _one_type(kinds)
            elif known == "integer" and "number" in kinds:
                self.fields[name] = "number"

    def _frozen(self) -> SourceContractError:
        changes = "; ".join(self.report.lines()) or "fields changed"
        return SourceContractError(
            f"stream {self.stream!r} changed its schema ({changes}) and its schema_drift policy "
            "is 'freeze': check the change, then set schema_drift: evolve for one run (or map "
            "the new fields) to accept it",
            source=self.source,
        )

    def _types(self, records: Sequence[Record]) -> dict[str, frozenset[str]]:
        """Every type each field shows in `records`; empty for a field with only empty values."""
        if isinstance(records, RecordFrame):
            frame = records.frame
            out: dict[str, frozenset[str]] = {}
            for name, dtype in frame.schema.items():
                kind = _frame_type(dtype) if frame[name].null_count() < frame.height else None
                out[name] = frozenset({kind} if kind else ())
            return out
        seen: dict[str, set[str]] = {}
        for record in records:
            for name, value in record.items():
                kinds = seen.setdefault(name, set())
                kind = value_type(value)
                if kind is not None:
                    kinds.add(kind)
        return {name: frozenset(kinds) for name, kinds in seen.items()}

    def _discard(self, batch: Batch, drift: Mapping[str, str]) -> Batch:
        """The batch without the records that carry a drifting field, those quarantined."""
        records = batch.records
        keep: list[int] = []
        rejected = list(batch.rejected)
        positions = list(batch.positions) if batch.positions is not None else None
        for index, record in enumerate(records):
            reasons = [
                f"new field {name!r}" if name not in self.fields else f"field {name!r} retyped"
                for name in drift
                if value_type(record.get(name)) is not None
                and not self._known_as(name, value_type(record.get(name)) or "")
            ]
            if reasons:
                where = positions[index] if positions else f"record {index + 1}"
                raw = orjson.dumps(dict(record), default=str).decode()
                rejected.append(RejectedRecord(where, "schema drift: " + ", ".join(reasons), raw))
            else:
                keep.append(index)
        self.report.discarded += len(records) - len(keep)
        if isinstance(records, RecordFrame):
            kept: Sequence[Record] = RecordFrame(records.frame[keep], records.converters)
        else:
            kept = [records[i] for i in keep]
        kept_positions = [positions[i] for i in keep] if positions is not None else None
        return Batch(kept, batch.state_after, rejected, kept_positions)


def load_known_fields(engine: sa.Engine, source: str, stream: str) -> dict[str, str] | None:
    """The field types saved for a stream by its last read; None before its first read."""
    with engine.connect() as conn:
        fields = conn.execute(
            sa.select(StreamSchema.fields).where(
                StreamSchema.source == source, StreamSchema.stream == stream
            )
        ).scalar_one_or_none()
    return dict(fields) if fields is not None else None
