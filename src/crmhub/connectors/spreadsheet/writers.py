"""Write-back: which cells change (UpsertPlan), atomic replacement, and the CSV rewrite.

A write produces a new version of the file next to it and renames it over the old one, so a
reader sees the old file or the new one, never half of each. When no row changes, the
temporary file is removed and the original is not touched at all (its mtime stays).
"""

from __future__ import annotations

import csv
import io
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from crmhub.connectors.base import RowResult, RowStatus, Upsert, WriteReport, join_key
from crmhub.connectors.spreadsheet.detect import CsvFormat
from crmhub.connectors.spreadsheet.lines import RawLines
from crmhub.connectors.spreadsheet.readers import check_header, trim_header
from crmhub.errors import SourceContractError

ValueCheck = Callable[[str], bool]
"""Whether a value (as text) can be stored in the file, e.g. in its encoding."""


def as_text(value: Any) -> str:
    """A value as the text a cell shows, so 1001, 1001.0 and "1001" compare equal."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    return str(value)


class UpsertPlan:
    """Matches upserts to rows by key and decides, cell by cell, what changes.

    Rows are looked up by `join_key` of their key columns, the same text the read gave as
    source id. Several upserts for one key apply in input order. A row status is APPLIED when
    any cell changes, UNCHANGED when all are equal, REJECTED without an id, with a value the
    file cannot hold, or (in `report`) when no row has the key.
    """

    def __init__(
        self, rows: Sequence[Upsert], header: Sequence[str], accepts: ValueCheck | None = None
    ) -> None:
        self._rows = rows
        self.results: list[RowResult | None] = [None] * len(rows)
        self._by_key: dict[str, list[int]] = {}
        for index, row in enumerate(rows):
            reason = self._refusal(row, accepts)
            if reason:
                self.results[index] = _result(row, RowStatus.REJECTED, reason)
            else:
                self._by_key.setdefault(str(row.external_id), []).append(index)
        wanted = dict.fromkeys(f for i in _flat(self._by_key.values()) for f in rows[i].fields)
        self.new_columns = [name for name in wanted if name not in header]
        self.is_changed = False

    @staticmethod
    def _refusal(row: Upsert, accepts: ValueCheck | None) -> str:
        if row.external_id is None:
            return "no external id: the spreadsheet connector updates existing rows only"
        for name, value in row.fields.items():
            if accepts is not None and not accepts(as_text(value)):
                return f"the value of {name!r} cannot be stored in this file's encoding"
        return ""

    def apply(self, key: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Run the upserts for `key` against one row; return the cells that change."""
        changes: dict[str, Any] = {}
        for index in self._by_key.get(key, ()):
            row = self._rows[index]
            is_applied = False
            for name, new in row.fields.items():
                current = changes[name] if name in changes else values.get(name)
                if as_text(current) != as_text(new):
                    changes[name], is_applied = new, True
            prior = self.results[index]
            if is_applied or (prior is not None and prior.status is RowStatus.APPLIED):
                self.results[index] = _result(row, RowStatus.APPLIED)
            else:
                self.results[index] = _result(row, RowStatus.UNCHANGED)
        self.is_changed = self.is_changed or bool(changes)
        return changes

    def report(self, where: str) -> WriteReport:
        """One RowResult per upsert in input order; unmatched keys are rejected."""
        return WriteReport(
            [
                result
                or _result(
                    row, RowStatus.REJECTED, f"no row with key {row.external_id!r} in {where}"
                )
                for result, row in zip(self.results, self._rows, strict=True)
            ]
        )


def _result(row: Upsert, status: RowStatus, reason: str = "") -> RowResult:
    return RowResult(row.external_id, row.idempotency_key, status, reason)


def _unmatched(row: Upsert, where: str) -> str:
    return f"no row with key {row.external_id!r} in {where}"


def _flat(groups: Iterator[list[int]] | Any) -> Iterator[int]:
    for group in groups:
        yield from group


class AtomicFile:
    """A temporary file beside `target` that replaces it on `commit()`, else vanishes.

    Same directory, so `os.replace` is an atomic rename; fsync before the rename (and of the
    directory after) so a crash leaves the old or the new file, and the old mode is kept.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        self.path = Path(name)
        self.fh: BinaryIO = os.fdopen(fd, "wb")

    def commit(self) -> None:
        """Flush, fsync and rename over the target."""
        if not self.fh.closed:
            self.fh.close()
        with self.path.open("rb+") as fh:
            os.fsync(fh.fileno())
        self.path.chmod(stat.S_IMODE(self.target.stat().st_mode))
        self.path.replace(self.target)
        dir_fd = os.open(self.target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.fh.closed:
            self.fh.close()
        self.path.unlink(missing_ok=True)


class _Capture:
    """Feeds decoded lines to csv.reader and keeps each record's raw lines for the output."""

    def __init__(self, lines: RawLines) -> None:
        self._lines = lines
        self.parts: list[tuple[bytes, str | None]] = []

    def texts(self) -> Iterator[str]:
        for raw, text in self._lines:
            self.parts.append((raw, text))
            yield "\n" if text is None else text

    def take(self) -> list[tuple[bytes, str | None]]:
        parts, self.parts = self.parts, []
        return parts


class CsvRewrite:
    """Streams a CSV file into its new version, touching only the rows that change.

    Rows that do not change keep their exact bytes (quoting, spacing, even undecodable
    lines); new columns are appended to every row. Changed rows are re-written by csv.writer
    with the file's delimiter and the row's own line ending.
    """

    def __init__(self, fh: BinaryIO, fmt: CsvFormat, key: Sequence[str], where: str) -> None:
        self._fmt = fmt
        self._key = key
        self._where = where
        self._capture = _Capture(RawLines(fh, fmt))
        self._reader = csv.reader(self._capture.texts(), delimiter=fmt.delimiter, strict=False)
        self._out = io.StringIO()
        self._writer = csv.writer(self._out, delimiter=fmt.delimiter, lineterminator="")
        self._index: dict[str, int] = {}

    def run(self, rows: Sequence[Upsert], header_row: int, target: Path) -> UpsertPlan:
        """Rewrite `target` if any row changes; return the plan with every row's outcome."""
        with AtomicFile(target) as out:
            out.fh.write(self._fmt.bom)
            header = self._copy_to_header(out.fh, header_row)
            plan = UpsertPlan(rows, header, self._accepts)
            self._index = {name: i for i, name in enumerate([*header, *plan.new_columns])}
            self._write_header(out.fh, header, plan.new_columns)
            for row in self._reader:
                self._write_row(out.fh, row, header, plan)
            if plan.is_changed:
                out.commit()
        return plan

    def _accepts(self, text: str) -> bool:
        try:
            text.encode(self._fmt.encoding)
        except UnicodeEncodeError:
            return False
        return True

    def _copy_to_header(self, out: BinaryIO, header_row: int) -> list[str]:
        for row in self._reader:
            if self._reader.line_num >= header_row:
                check_header(trim_header(row), self._where)
                return row
            out.write(b"".join(raw for raw, _ in self._capture.take()))
        raise SourceContractError(f"{self._where}: no header line {header_row}")

    def _write_header(self, out: BinaryIO, header: list[str], new: list[str]) -> None:
        self._write_text(out, self._capture.take(), header, {}, new, is_header=True)

    def _write_row(
        self, out: BinaryIO, row: list[str], header: list[str], plan: UpsertPlan
    ) -> None:
        parts, width = self._capture.take(), len(header)
        if len(row) > width and not any(row[width:]):
            row = row[:width]
        key_values = [dict(zip(header, row, strict=False)).get(k) or None for k in self._key]
        if len(row) != width or any(t is None for _, t in parts):
            out.write(b"".join(raw for raw, _ in parts))  # not a record: keep it as it is
            return
        if None in key_values:  # a record without key: nothing to update, but keep it rectangular
            self._write_text(out, parts, row, {}, plan.new_columns, is_header=False)
            return
        changes = plan.apply(join_key(key_values), dict(zip(header, row, strict=True)))
        self._write_text(out, parts, row, changes, plan.new_columns, is_header=False)

    def _write_text(
        self,
        out: BinaryIO,
        parts: list[tuple[bytes, str | None]],
        row: list[str],
        changes: Mapping[str, Any],
        new: list[str],
        *,
        is_header: bool,
    ) -> None:
        text = "".join(t or "" for _, t in parts)
        body = text.rstrip("\r\n")
        ending = text[len(body) :]
        if is_header and new:
            body += self._fmt.delimiter + self._serialize(new)
        elif changes:
            cells = [*row, *([""] * len(new))]
            for name, value in changes.items():
                cells[self._index[name]] = as_text(value)
            body = self._serialize(cells)
        elif new:
            body += self._fmt.delimiter * len(new)
        else:
            out.write(b"".join(raw for raw, _ in parts))
            return
        out.write((body + ending).encode(self._fmt.encoding))

    def _serialize(self, cells: list[str]) -> str:
        self._out.seek(0)
        self._out.truncate()
        self._writer.writerow(cells)
        return self._out.getvalue()
