"""The fast CSV path: blocks of whole records parsed into columns by polars.

A block (about a megabyte of whole lines) is decoded and re-encoded as UTF-8 in C, its record
boundaries and field counts are found with numpy (quote-aware), and when every record has
the header's width polars parses the block. A block with any problem (bytes that do not
decode, a ragged line, a quote the csv module reads differently) goes through the per-line
path of `readers.read_records`, which rejects exactly the bad lines with their numbers. Both
give the same records: text values, empty cells as null, blank records skipped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import polars as pl

from crmhub.connectors.spreadsheet.detect import CsvFormat
from crmhub.connectors.spreadsheet.lines import BLOCK_BYTES, TextLines
from crmhub.connectors.spreadsheet.readers import BadRow, read_records

_QUOTE, _NEWLINE, _CR = 0x22, 0x0A, 0x0D


@dataclass
class ParsedBlock:
    """The records of one block: columns named by the header, their line numbers, rejects."""

    frame: pl.DataFrame
    numbers: list[int]
    bad_rows: list[BadRow] = field(default_factory=list)
    last_line: int = 0


def is_fast_format(fmt: CsvFormat, raw_header: list[str]) -> bool:
    """Whether blocks can be cut and parsed natively: newline is 0x0A, simple delimiter."""
    names = [n for n in raw_header if n]
    return (
        fmt.is_ascii_compatible
        and fmt.delimiter.isascii()
        and fmt.delimiter not in '"\r\n'
        and len(set(names)) == len(names)
    )


class CsvBlocks:
    """Parsed blocks of a CSV file from the line after the header on."""

    def __init__(
        self, fh: BinaryIO, fmt: CsvFormat, raw_header: list[str], header: list[str]
    ) -> None:
        self._fh = fh
        self._fmt = fmt
        self._width = len(raw_header)
        self._header = header
        self._columns = [f"column_{i}" for i in range(self._width)]

    def blocks(self, header_lines: int) -> Iterator[ParsedBlock]:
        """Blocks after `header_lines` lines; quoted newlines never split a block."""
        offset = self._offset_after(header_lines)
        self._fh.seek(offset)
        line = header_lines
        pending = b""
        while chunk := self._fh.read(BLOCK_BYTES):
            data = pending + chunk
            cut = _last_record_end(data)
            if cut == 0:
                pending = data
                continue
            pending = data[cut:]
            parsed = self._parse(data[:cut], line + 1)
            line = parsed.last_line
            yield parsed
        if pending:
            yield self._parse(pending, line + 1)

    def _offset_after(self, lines: int) -> int:
        """Byte offset of the line after the first `lines` lines (after the BOM)."""
        start = len(self._fmt.bom)
        self._fh.seek(start)
        seen, position = 0, start
        while seen < lines and (chunk := self._fh.read(BLOCK_BYTES)):
            at = -1
            while seen < lines:
                at = chunk.find(b"\n", at + 1)
                if at < 0:
                    break
                seen += 1
            if seen == lines:
                return position + at + 1
            position += len(chunk)
        return position

    def _parse(self, block: bytes, first_line: int) -> ParsedBlock:
        last_line = first_line - 1 + block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        data = self._utf8(block)
        frame = self._parse_fast(data) if data is not None else None
        if frame is None:
            return self._parse_slow(block, first_line, last_line)
        return self._finish(frame, data, first_line, last_line)  # type: ignore[arg-type]

    def _utf8(self, block: bytes) -> bytes | None:
        """The block as UTF-8, or None when some byte does not decode."""
        try:
            text = block.decode(self._fmt.encoding)
        except UnicodeDecodeError:
            return None
        return block if self._fmt.encoding in ("utf-8", "ascii") else text.encode("utf-8")

    def _parse_fast(self, data: bytes) -> pl.DataFrame | None:
        """Polars' parse of a block whose every record has the header's width, else None."""
        arr = np.frombuffer(data, dtype=np.uint8)
        quotes = arr == _QUOTE
        outside = (np.cumsum(quotes) & 1) == 0 if quotes.any() else None
        if outside is not None and not outside[-1]:
            return None
        ends = arr == _NEWLINE
        delims = arr == ord(self._fmt.delimiter)
        if outside is not None:
            ends &= outside
            delims &= outside
        if not _widths_ok(arr, ends, delims, self._width):
            return None
        try:
            frame = pl.read_csv(
                io.BytesIO(data),
                has_header=False,
                new_columns=self._columns,
                schema=dict.fromkeys(self._columns, pl.String),
                separator=self._fmt.delimiter,
                quote_char='"',
                raise_if_empty=False,
            )
        except pl.exceptions.PolarsError:
            return None
        records = int(ends.sum()) + (0 if data.endswith(b"\n") else 1)
        if frame.height != records:
            return None
        if outside is not None:  # a quoted empty field is "" to polars, None to us
            frame = frame.with_columns(pl.all().replace("", None))
        return frame

    def _finish(
        self, frame: pl.DataFrame, data: bytes, first_line: int, last_line: int
    ) -> ParsedBlock:
        arr = np.frombuffer(data, dtype=np.uint8)
        newlines = np.flatnonzero(arr == _NEWLINE)
        starts = _record_start_lines(arr, newlines, frame.height, first_line)
        keep = ~pl.all_horizontal([pl.col(c).is_null() for c in self._columns])
        frame = frame.with_columns(pl.Series("__line", starts)).filter(keep)
        numbers = frame["__line"].to_list()
        named = frame.select(pl.col(self._columns[: len(self._header)]))
        named.columns = self._header
        return ParsedBlock(named, numbers, [], last_line)

    def _parse_slow(self, block: bytes, first_line: int, last_line: int) -> ParsedBlock:
        """The per-line path over one block: rejects with line numbers, like CsvSource."""
        bad_rows: list[BadRow] = []
        offset = first_line - 1
        fmt = CsvFormat(self._fmt.encoding, b"", self._fmt.delimiter)

        def on_bad_line(line_no: int, raw: bytes) -> None:
            text = raw.decode(fmt.encoding, errors="backslashreplace").rstrip("\r\n")
            reason = f"cannot decode the line as {fmt.encoding}"
            bad_rows.append(BadRow(line_no + offset, reason, text))

        lines = TextLines(io.BytesIO(block), fmt, on_bad_line)
        reader = csv.reader(lines, delimiter=fmt.delimiter, strict=False)
        numbers: list[int] = []
        rows: list[list[str | None]] = []
        for number, values in read_records(reader, self._width, fmt.delimiter, bad_rows, offset):
            numbers.append(number)
            rows.append(values[: len(self._header)])
        bad_rows.sort(key=lambda bad: bad.number)
        schema = dict.fromkeys(self._header, pl.String)
        frame = pl.DataFrame(rows, schema=schema, orient="row")
        return ParsedBlock(frame, numbers, bad_rows, last_line)


_MAX_PENDING = 64 * BLOCK_BYTES
"""An unbalanced quote cannot hold back more than this; the per-line path then reads it."""


def _last_record_end(data: bytes) -> int:
    """Length of the part of `data` made of whole records (0 when there is none yet)."""
    cut = data.rfind(b"\n") + 1
    if not cut or b'"' not in data or len(data) > _MAX_PENDING:
        return cut
    arr = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(arr == _NEWLINE)
    even = newlines[(np.cumsum(arr == _QUOTE)[newlines] & 1) == 0]
    return int(even[-1]) + 1 if len(even) else 0


def _widths_ok(arr: np.ndarray, ends: np.ndarray, delims: np.ndarray, width: int) -> bool:
    """Every record has `width - 1` delimiters, or is an empty line."""
    positions = np.flatnonzero(ends)
    if len(arr) and arr[-1] != _NEWLINE:
        positions = np.append(positions, len(arr))
    before = np.concatenate(([0], np.cumsum(delims)))  # delimiters in arr[:i]
    counts = np.diff(before[positions], prepend=0)
    starts = np.concatenate(([0], positions[:-1] + 1))
    lengths = positions - starts
    has_cr = (lengths > 0) & (arr[np.maximum(positions - 1, 0)] == _CR)
    blank = (lengths - has_cr) == 0
    return bool(np.all((counts == width - 1) | blank))


def _record_start_lines(
    arr: np.ndarray, newlines: np.ndarray, records: int, first_line: int
) -> np.ndarray:
    """Line number where each record starts (records may span lines inside quotes)."""
    quotes = arr == _QUOTE
    if not quotes.any():
        return np.arange(first_line, first_line + records)
    inside = (np.cumsum(quotes) & 1)[newlines] == 1
    record_ends = np.flatnonzero(~inside)  # indexes into `newlines` of record-ending ones
    starts = np.concatenate(([0], record_ends + 1))[:records]
    return first_line + starts
