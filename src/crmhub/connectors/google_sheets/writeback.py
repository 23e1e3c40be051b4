"""Write-back planning: which cells change, which rows are refused, and the ranges to send.

Rows are found by key in a fresh read of the tab, and each upsert's fields are compared as
text with the cells there, so only cells that really change are sent and a repeated write
sends nothing at all. Missing columns (the golden id column, usually) are added after the
header's last column when `add_missing_columns` allows and the configured span has room.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from crmhub.connectors.base import RowResult, RowStatus, Upsert, WriteReport
from crmhub.connectors.google_sheets.a1 import block, column_letters
from crmhub.connectors.google_sheets.api import CellWrite
from crmhub.connectors.google_sheets.rows import Header, cell_text


def wire_value(value: Any) -> str | int | float | bool:
    """A field value as RAW input: numbers and booleans stay typed, "" clears a cell."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    return str(value)


@dataclass
class SheetRow:
    """A row found by key: its sheet row number and the current text of the cells we need."""

    number: int
    cells: dict[str, str | None]


@dataclass
class WritePlan:
    """Decides each upsert's outcome and collects the changed cells by sheet row."""

    header: Header
    last_column: int
    """Last 0-based column the configured span allows; new columns must fit before it."""
    can_add: bool
    where: str
    add_refusal: str = ""
    """Why no column may be added even though `can_add` (the cells there hold values)."""
    new_columns: list[str] = field(default_factory=list)
    changes: dict[int, dict[int, Any]] = field(default_factory=dict)
    """Sheet row -> 0-based column -> value to store."""
    targets: list[int | None] = field(default_factory=list)
    """Per upsert: the sheet row it changes (None when rejected or unchanged)."""
    needs_new: list[bool] = field(default_factory=list)
    """Per upsert: whether it writes a column the header does not have yet."""

    def decide(self, rows: Sequence[Upsert], found: Mapping[str, SheetRow]) -> WriteReport:
        """One result per upsert, in input order; fills `changes` and `new_columns`."""
        results = []
        for row in rows:
            reason = self._refusal(row, found)
            target = None if reason else found[str(row.external_id)]
            is_applied = target is not None and self._apply(row, target)
            self.targets.append(target.number if target is not None and is_applied else None)
            self.needs_new.append(any(n in self.new_columns for n in row.fields))
            if reason:
                results.append(_result(row, RowStatus.REJECTED, reason))
            else:
                status = RowStatus.APPLIED if is_applied else RowStatus.UNCHANGED
                results.append(_result(row, status))
        return WriteReport(results)

    def _refusal(self, row: Upsert, found: Mapping[str, SheetRow]) -> str:
        if row.external_id is None:
            return "no external id: the google_sheets connector updates existing rows only"
        if str(row.external_id) not in found:
            return f"no row with key {row.external_id!r} in {self.where}"
        for name in row.fields:
            if name in self.header.names or name in self.new_columns:
                continue
            if not self.can_add:
                return (
                    f"{self.where} has no column {name!r}; add it to the header row or set "
                    "add_missing_columns: true"
                )
            if self.add_refusal:
                return f"cannot add column {name!r}: {self.add_refusal}"
            column = self.header.end + len(self.new_columns)
            if column > self.last_column:
                return (
                    f"no room for column {name!r}: it would be column "
                    f"{column_letters(column)}, past the configured columns"
                )
            self.new_columns.append(name)
        return ""

    def withdraw(
        self, rows: Sequence[Upsert], report: WriteReport, keys: set[str], reason: str
    ) -> WriteReport:
        """Reject every upsert of `keys` not rejected yet, and drop the cells of its row.

        Used when a key is no longer at the row the plan found it in: the write would land
        on whatever row is there now.
        """
        results = list(report.rows)
        for index, row in enumerate(rows):
            if str(row.external_id) in keys and results[index].status is not RowStatus.REJECTED:
                results[index] = _result(row, RowStatus.REJECTED, reason)
                number = self.targets[index]
                if number is not None:
                    self.changes.pop(number, None)
                self.targets[index] = None
        return WriteReport(results)

    def column_of(self, name: str) -> int:
        """0-based sheet column of an existing or a new column."""
        if name in self.header.names:
            return self.header.column_of(name)
        return self.header.end + self.new_columns.index(name)

    def _apply(self, row: Upsert, target: SheetRow) -> bool:
        """Record the cells of `row` that differ; later upserts of one key see earlier ones."""
        is_applied = False
        for name, value in row.fields.items():
            wire = wire_value(value)
            if cell_text(wire) != target.cells.get(name):
                self.changes.setdefault(target.number, {})[self.column_of(name)] = wire
                target.cells[name] = cell_text(wire)
                is_applied = True
        return is_applied

    def writes(self, title: str, header_row: int) -> list[CellWrite]:
        """The header extension first, then one row segment per changed row."""
        out = []
        if self.new_columns and self.changes:
            start = self.header.end
            end = start + len(self.new_columns) - 1
            out.append(
                CellWrite(block(title, start, header_row, end, header_row), [self.new_columns])
            )
        for number in sorted(self.changes):
            cells = self.changes[number]
            first, last = min(cells), max(cells)
            values = [cells.get(c) for c in range(first, last + 1)]  # None: leave the cell
            out.append(CellWrite(block(title, first, number, last, number), [values], number))
        return out


def _result(row: Upsert, status: RowStatus, reason: str = "") -> RowResult:
    return RowResult(row.external_id, row.idempotency_key, status, reason)
