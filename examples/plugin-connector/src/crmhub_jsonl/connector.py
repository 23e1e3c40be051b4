"""The `jsonl` connector: a JSON-lines file of customers as one incremental, writable stream.

Incremental reads follow crmhub's rule for cursors: take the rows with `cursor >= last`, then
drop the keys already read at exactly `last` (kept in the state). Rows are read in (cursor, key)
order, so every batch's state resumes exactly, also when many rows share one cursor value
across a batch boundary. Cursor values are compared as text, so they must sort as text (ISO
timestamps in one time zone do).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from crmhub.connectors.base import (
    Batch,
    Capability,
    CheckResult,
    Connector,
    ConnectorConfig,
    RejectedRecord,
    RowResult,
    RowStatus,
    StreamSpec,
    StreamState,
    Upsert,
    WriteReport,
)
from crmhub.errors import SourceContractError, SourceUnavailableError
from pydantic import Field, ValidationInfo, field_validator

from crmhub_jsonl.lines import Line, batches_of, columns_of, parse_lines, replace_lines


class JsonLinesConfig(ConnectorConfig):
    """Where the file is and which fields are the key and the cursor."""

    type: Literal["jsonl"]
    path: Path
    key: str = "id"
    cursor: str = "updated_at"
    batch_size: int = Field(1000, ge=1)

    @field_validator("path", mode="after")
    @classmethod
    def _anchor_path(cls, value: Path, info: ValidationInfo) -> Path:
        """A relative path is relative to the hub config file, not to the working directory."""
        base = (info.context or {}).get("base_dir")
        return Path(base) / value if base and not value.is_absolute() else value


class JsonLinesConnector(Connector):
    """One stream, named after the file, read incrementally and updated in place by key."""

    kind: ClassVar[str] = "jsonl"
    config_model: ClassVar[type[ConnectorConfig]] = JsonLinesConfig
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {Capability.READ, Capability.INCREMENTAL, Capability.WRITE}
    )

    def __init__(self, config: ConnectorConfig, *, name: str | None = None) -> None:
        if not isinstance(config, JsonLinesConfig):
            raise TypeError(f"expected a JsonLinesConfig, got {type(config).__name__}")
        super().__init__(config, name=name)
        self.settings = config

    @property
    def stream(self) -> str:
        """The one stream: the file name without its suffix."""
        return self.settings.path.stem

    def check(self) -> CheckResult:
        """The file can be read; says how many good and rejected lines it has."""
        try:
            good, rejected = self._lines()
        except SourceUnavailableError as exc:
            return CheckResult(ok=False, message=str(exc))
        return CheckResult(ok=True, message=f"{len(good)} records, {len(rejected)} rejected lines")

    def discover(self) -> list[StreamSpec]:
        """The stream with its key, cursor and every field name found in the file."""
        good, _ = self._lines()
        cfg = self.settings
        columns = tuple(dict.fromkeys([cfg.key, cfg.cursor, *columns_of(good)]))
        return [StreamSpec(self.stream, (cfg.key,), cfg.cursor, columns)]

    def read(self, stream: str, state: StreamState | None) -> Iterator[Batch]:
        """Rows after `state` in (cursor, key) order; the first batch carries the rejected lines."""
        self._check_stream(stream)
        good, rejected = self._lines()
        last = (state or {}).get("cursor")
        seen = set((state or {}).get("boundary_keys", ()))
        fresh = sorted(
            (line for line in good if self._is_new(line, last, seen)),
            key=lambda line: (self._cursor(line), line.key),
        )
        if not fresh:
            if rejected:
                yield Batch([], dict(state or {}), rejected)
            return
        bookmark = (last, seen)
        for number, lines in enumerate(batches_of(fresh, self.settings.batch_size)):
            bookmark = _advance(bookmark, [(self._cursor(x), x.key) for x in lines])
            yield Batch(
                records=[line.record for line in lines],
                state_after={"cursor": bookmark[0], "boundary_keys": sorted(bookmark[1])},
                rejected=rejected if number == 0 else (),
                positions=[f"line {line.number}" for line in lines],
            )

    def write(self, stream: str, rows: Sequence[Upsert]) -> WriteReport:
        """Set the given fields on the rows with these keys; rewrite the file only on a change."""
        self._check_stream(stream)
        good, _ = self._lines()
        by_key = {line.key: line for line in good}
        changed: dict[int, dict[str, Any]] = {}
        results = [self._apply(row, by_key, changed) for row in rows]
        if changed:
            replace_lines(self.settings.path, changed)
        return WriteReport(results)

    def _apply(
        self, row: Upsert, by_key: dict[str, Line], changed: dict[int, dict[str, Any]]
    ) -> RowResult:
        """Apply one upsert to the in-memory record; say what happened to it."""
        line = by_key.get(row.external_id or "")
        if line is None:
            reason = f"no record with {self.settings.key} {row.external_id!r}"
            return RowResult(row.external_id, row.idempotency_key, RowStatus.REJECTED, reason)
        if self.settings.key in row.fields:
            reason = f"the key {self.settings.key!r} cannot be written"
            return RowResult(row.external_id, row.idempotency_key, RowStatus.REJECTED, reason)
        record = changed.get(line.number, line.record)
        if all(record.get(name) == value for name, value in row.fields.items()):
            return RowResult(row.external_id, row.idempotency_key, RowStatus.UNCHANGED)
        changed[line.number] = {**record, **row.fields}
        return RowResult(row.external_id, row.idempotency_key, RowStatus.APPLIED)

    def _lines(self) -> tuple[list[Line], list[RejectedRecord]]:
        try:
            return parse_lines(self.settings.path, self.settings.key)
        except FileNotFoundError:
            raise SourceUnavailableError(
                f"{self.settings.path}: file not found", source=self.name
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SourceUnavailableError(
                f"{self.settings.path}: cannot read: {exc}", source=self.name
            ) from None

    def _check_stream(self, stream: str) -> None:
        if stream != self.stream:
            raise SourceContractError(
                f"no stream {stream!r}; this file has only {self.stream!r}", source=self.name
            )

    def _cursor(self, line: Line) -> str:
        value = line.record.get(self.settings.cursor)
        return "" if value is None else str(value)

    def _is_new(self, line: Line, last: str | None, seen: set[str]) -> bool:
        if last is None:
            return True
        cursor = self._cursor(line)
        return cursor > last or (cursor == last and line.key not in seen)


def _advance(
    bookmark: tuple[str | None, set[str]], read: list[tuple[str, str]]
) -> tuple[str | None, set[str]]:
    """The (cursor, keys read at it) after `read`, which is in (cursor, key) order."""
    last, seen = bookmark
    top = read[-1][0]
    keys = {key for cursor, key in read if cursor == top}
    return (top, keys | seen) if top == last else (top, keys)
