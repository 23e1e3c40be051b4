"""From cells to records: the header, row windows, cell text and key checks.

A tab is read as its header row and then windows of `batch_size` rows, each one closed range
clamped to the tab's grid (Sheets refuses ranges past the grid), so memory holds one window
and each window can become a committed batch. Values become text as a cell shows it, so the
same sheet gives the same records whichever way a number was typed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from crmhub.connectors.base import RejectedRecord, join_key
from crmhub.connectors.google_sheets.a1 import block
from crmhub.connectors.google_sheets.api import Grid, SheetsApi
from crmhub.connectors.google_sheets.config import GoogleSheetsConfig
from crmhub.connectors.spreadsheet.readers import as_name, check_header, trim_header
from crmhub.errors import SourceContractError


def cell_text(value: Any) -> str | None:
    """A cell as record text: None when empty, TRUE/FALSE, whole numbers without ".0"."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Header:
    """The column names and where each sits: `positions[i]` is the 0-based sheet column."""

    names: tuple[str, ...]
    positions: tuple[int, ...]
    end: int
    """0-based sheet column after the last header cell: where a new column goes."""

    def column_of(self, name: str) -> int:
        """The sheet column of `name`."""
        return self.positions[self.names.index(name)]


def read_header(api: SheetsApi, grid: Grid, config: GoogleSheetsConfig) -> Header:
    """The header row, with every configured column present and no name twice."""
    first, last = config.column_span
    where = f"tab {grid.title!r}"
    if config.header_row > grid.rows or first >= grid.columns:
        raise SourceContractError(
            f"{where} has no row {config.header_row} in columns {config.columns}"
        )
    last = min(last, grid.columns - 1)
    cells = api.values(
        block(grid.title, first, config.header_row, last, config.header_row), "FORMATTED_VALUE"
    )
    raw = trim_header([as_name(v) for v in (cells[0] if cells else [])])
    if not raw:
        raise SourceContractError(f"{where}: row {config.header_row} has no column names")
    check_header(raw, where)
    named = [(name, first + i) for i, name in enumerate(raw) if name]
    header = Header(tuple(n for n, _ in named), tuple(p for _, p in named), first + len(raw))
    needed = [*config.key_columns, *([config.cursor] if config.cursor else [])]
    missing = [c for c in needed if c not in header.names]
    if missing:
        raise SourceContractError(
            f"{where}: the header has no column {', '.join(map(repr, missing))}"
            f" (columns: {', '.join(header.names)})"
        )
    return header


@dataclass(frozen=True)
class Window:
    """Rows `start`..`end` (sheet row numbers) as Sheets returned them (ragged, maybe fewer)."""

    start: int
    end: int
    rows: list[list[Any]]


def windows(
    api: SheetsApi,
    grid: Grid,
    config: GoogleSheetsConfig,
    header: Header,
    start: int,
    extra_columns: int = 0,
) -> Iterator[Window]:
    """Windows of `batch_size` rows from sheet row `start` to the end of the grid.

    Rows span the header's columns plus `extra_columns` after it (clamped to the grid), which
    write-back reads to make sure a column it is about to name holds no values yet.
    """
    first = config.column_span[0]
    last = min(header.end - 1 + extra_columns, grid.columns - 1)
    while start <= grid.rows:
        end = min(start + config.batch_size - 1, grid.rows)
        rows = api.values(block(grid.title, first, start, last, end), config.value_render)
        yield Window(start, end, rows)
        start = end + 1


@dataclass
class RowReader:
    """Turns window rows into records; rejects empty and repeated keys (the first one wins).

    `seen` holds every key read so far in this pass, across windows, so a key that appears
    twice is reported at its second row wherever that row is.
    """

    config: GoogleSheetsConfig
    header: Header
    seen: dict[str, int] = field(default_factory=dict)
    last: tuple[int, str] | None = None
    """(row, key) of the last row read as a record: where a resumed read checks its place."""

    def __post_init__(self) -> None:
        first = self.config.column_span[0]
        self._at = [p - first for p in self.header.positions]
        self._keys = [self._at[self.header.names.index(k)] for k in self.config.key_columns]

    def parse(self, number: int, cells: Sequence[Any]) -> tuple[dict[str, Any] | None, str]:
        """(record, its source id) or (None, reason) for a bad row; (None, "") when blank."""
        texts = [cell_text(cells[i]) if i < len(cells) else None for i in self._at]
        if all(t is None for t in texts):
            return None, ""
        parts = [cell_text(cells[i]) if i < len(cells) else None for i in self._keys]
        if None in parts:
            return None, "the key is empty"
        key = join_key(parts)
        first = self.seen.setdefault(key, number)
        if first != number:
            return None, f"key {key!r} repeats row {first}"
        self.last = (number, key)
        return dict(zip(self.header.names, texts, strict=True)), key

    def reject(self, number: int, cells: Sequence[Any], reason: str) -> RejectedRecord:
        """A RejectedRecord for sheet row `number`, its cells as JSON by column name."""
        raw = {
            n: cell_text(cells[i]) if i < len(cells) else None
            for n, i in zip(self.header.names, self._at, strict=True)
        }
        return RejectedRecord(f"row {number}", reason, orjson.dumps(raw).decode())


def window_hash(header: Header, window: Window, rejected_rows: Sequence[int]) -> str:
    """A short digest of a window's content, its header and which of its rows were refused.

    The header is part of it so a renamed or added column re-reads every window; refused rows
    are, so a row refused as a repeated key is read again once the first copy goes away.
    """
    payload = orjson.dumps([header.names, window.rows, list(rejected_rows)], default=str)
    return hashlib.sha256(payload).hexdigest()[:24]


def keys_at(
    api: SheetsApi,
    grid: Grid,
    config: GoogleSheetsConfig,
    header: Header,
    numbers: Sequence[int],
) -> dict[int, str | None]:
    """The key each of sheet rows `numbers` holds now (None: empty, or past the grid).

    Reads the key columns only, one closed range of at most `batch_size` rows from each
    wanted row not yet covered, so rows far apart cost one call each and close ones share.
    """
    columns = [header.column_of(k) for k in config.key_columns]
    first, last = min(columns), max(columns)
    wanted = sorted({n for n in numbers if n <= grid.rows})
    keys: dict[int, str | None] = dict.fromkeys(numbers)
    at = 0
    while at < len(wanted):
        start = wanted[at]
        end = min(start + config.batch_size - 1, grid.rows)
        rows = api.values(block(grid.title, first, start, last, end), config.value_render)
        while at < len(wanted) and wanted[at] <= end:
            offset = wanted[at] - start
            cells = rows[offset] if offset < len(rows) else []
            parts = [
                cell_text(cells[c - first]) if c - first < len(cells) else None for c in columns
            ]
            keys[wanted[at]] = None if None in parts else join_key(parts)
            at += 1
    return keys
