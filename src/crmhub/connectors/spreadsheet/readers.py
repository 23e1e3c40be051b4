"""Row sources: a CSV file or one workbook sheet as (position, values) rows after the header.

Both sources yield rows exactly as wide as the header, with empty cells as None, and collect
rows they cannot use in `bad_rows` (in file order, each no later than the row yielded next),
so the caller can put them in the batch that covers their position.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import python_calamine

from crmhub.connectors.spreadsheet.detect import CsvFormat
from crmhub.connectors.spreadsheet.lines import TextLines
from crmhub.errors import SourceContractError


@dataclass(frozen=True)
class BadRow:
    """A line or row that is not a record: where, why, and its text."""

    number: int
    reason: str
    raw: str


class RowSource(Protocol):
    """What the connector reads from: a header and numbered rows of the same width."""

    unit: str
    """"line" for CSV, "row" for sheets: how positions are named to people."""
    header: list[str]
    bad_rows: list[BadRow]

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(line or row number where the record starts, values) for each usable record."""
        ...


def check_header(header: list[str], where: str) -> None:
    """Refuse a header that cannot name every value (duplicates would overwrite each other)."""
    seen: set[str] = set()
    for name in header:
        if name in seen and name:
            raise SourceContractError(f"{where}: column {name!r} appears twice in the header")
        seen.add(name)


class CsvSource:
    """Rows of a CSV file, decoded line by line only where the bytes are bad.

    The header is read on construction. A record with the wrong number of fields, a line
    that cannot be decoded and a line the csv module refuses become `bad_rows`; blank lines
    (and lines of empty fields) are skipped. Positions are the record's first line number.
    """

    unit = "line"

    def __init__(self, fh: BinaryIO, fmt: CsvFormat, header_row: int, where: str) -> None:
        self.bad_rows: list[BadRow] = []
        self.fh = fh
        self.fmt = fmt
        self._fmt = fmt
        self._lines = TextLines(fh, fmt, self._on_bad_line)
        self._reader = csv.reader(self._lines, delimiter=fmt.delimiter, strict=False)
        self.raw_header = self._read_header(header_row, where)
        self.header_lines: int = self._reader.line_num
        """Physical lines up to and including the header (records start after them)."""
        self.header = trim_header(self.raw_header)
        check_header(self.header, where)

    def _read_header(self, header_row: int, where: str) -> list[str]:
        try:
            for row in self._reader:
                if self._reader.line_num >= header_row:
                    if not any(row):
                        raise SourceContractError(f"{where}: line {header_row} has no column names")
                    return row
        except csv.Error as exc:
            raise SourceContractError(f"{where}: cannot parse the header: {exc}") from None
        raise SourceContractError(f"{where}: no header line {header_row} (the file is shorter)")

    def _on_bad_line(self, line_no: int, raw: bytes) -> None:
        text = raw.decode(self._fmt.encoding, errors="backslashreplace").rstrip("\r\n")
        reason = f"cannot decode the line as {self._fmt.encoding}"
        self.bad_rows.append(BadRow(line_no, reason, text))

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(first line number, values) of each usable record after the header."""
        return read_records(self._reader, len(self.raw_header), self._fmt.delimiter, self.bad_rows)


def read_records(
    reader: Any, width: int, delimiter: str, bad_rows: list[BadRow], offset: int = 0
) -> Iterator[tuple[int, list[Any]]]:
    """The hot loop: one csv.reader step, a width test and a None fill per record.

    Line numbers are the reader's plus `offset` (for a reader over a part of the file).
    """
    end = reader.line_num
    row: list[Any]
    while True:
        try:
            for row in reader:
                start, end = end + 1, reader.line_num
                if len(row) != width:
                    fitted = _fit(row, width, delimiter, start + offset, bad_rows)
                    if fitted is None:
                        continue
                    row = fitted
                empties = row.count("")
                if empties:
                    if empties == width:
                        continue
                    at = -1
                    for _ in range(empties):  # C-level search beats a comprehension
                        at = row.index("", at + 1)
                        row[at] = None
                yield start + offset, row
            return
        except csv.Error as exc:
            end = reader.line_num
            bad_rows.append(BadRow(end + offset, f"cannot parse the line: {exc}", ""))


def _fit(
    row: list[str], width: int, delimiter: str, start: int, bad_rows: list[BadRow]
) -> list[str] | None:
    """Blank records are skipped, surplus empty trailing fields dropped, the rest refused."""
    if not any(value.strip() for value in row):
        return None
    if len(row) > width and not any(row[width:]):
        return row[:width]
    reason = f"has {len(row)} fields, the header has {width}"
    bad_rows.append(BadRow(start, reason, delimiter.join(row)))
    return None


class SheetSource:
    """Rows of one XLSX or ODS sheet, read by python-calamine.

    Numbers that are whole come back as int (spreadsheets store every number as a float, and
    a key of 1001 must not become "1001.0"); dates and times become ISO strings. Values in
    columns without a header are ignored. Positions are sheet row numbers as shown by Excel.
    """

    unit = "row"

    def __init__(self, path: Path, sheet: str | None, header_row: int, where: str) -> None:
        self.bad_rows: list[BadRow] = []
        self.sheet_name, rows = open_sheet(path, sheet, where)
        self._rows = enumerate(rows, 1)
        self.header = self._read_header(header_row, where)
        check_header(self.header, where)

    def _read_header(self, header_row: int, where: str) -> list[str]:
        for number, raw in self._rows:
            if number == header_row:
                header = trim_header([as_name(v) for v in raw])
                if not header:
                    raise SourceContractError(f"{where}: row {header_row} has no column names")
                return header
        raise SourceContractError(f"{where}: no header row {header_row} (the sheet is shorter)")

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """Every non-empty row after the header, cut or padded to the header's width."""
        width = len(self.header)
        for number, raw in self._rows:
            values = [normalize_cell(v) for v in raw[:width]]
            if not any(v is not None for v in values):
                continue
            if len(values) < width:
                values.extend([None] * (width - len(values)))
            yield number, values


def open_sheet(path: Path, sheet: str | None, where: str) -> tuple[str, Iterator[list[Any]]]:
    """The sheet's name and an iterator over its rows from row 1; the first sheet by default."""
    try:
        with python_calamine.CalamineWorkbook.from_path(str(path)) as book:
            names = list(book.sheet_names)
            name = sheet if sheet is not None else (names[0] if names else None)
            if name is None or name not in names:
                found = ", ".join(repr(n) for n in names) or "none"
                raise SourceContractError(f"{where}: no sheet {name!r} (sheets: {found})")
            return name, iter(book.get_sheet_by_name(name).iter_rows())
    except python_calamine.CalamineError as exc:
        raise SourceContractError(f"{where}: cannot read the workbook: {exc}") from None


def normalize_cell(value: Any) -> Any:
    """A cell as a record value: None for empty, int for whole numbers, ISO text for dates."""
    kind = type(value)
    if kind is str:
        return value or None
    if kind is float:
        return int(value) if value.is_integer() else value
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return value


def trim_header(header: list[str]) -> list[str]:
    """Drop empty names at the end (a trailing delimiter, formatting past the last column)."""
    end = len(header)
    while end and not header[end - 1].strip():
        end -= 1
    return header[:end]


def as_name(cell: Any) -> str:
    """A header cell as a column name ("" when empty)."""
    value = normalize_cell(cell)
    return "" if value is None else str(value)
