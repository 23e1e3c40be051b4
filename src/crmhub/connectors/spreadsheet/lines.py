"""Turn a CSV file's bytes into text lines, one undecodable line at a time if need be.

Lines end at "\\n" (or "\\r\\n"). For encodings where a newline is the byte 0x0A (UTF-8, the
Windows code pages, Latin-1, the CJK multi-byte codecs) a whole block is decoded at once, and
only a block that fails is decoded line by line; a line that cannot be decoded becomes a blank
placeholder line (so line numbers stay right) and is reported to `on_bad_line`.
Other encodings (UTF-16/32) are decoded as a stream with replacement characters.
"""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from crmhub.connectors.spreadsheet.detect import CsvFormat

BLOCK_BYTES = 1 << 20
"""Bytes decoded at once on the fast path."""

_SPLITLINES_TRAPS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
"""Characters str.splitlines() breaks on although CSV does not."""

BadLineHandler = Callable[[int, bytes], None]
"""Called with the 1-based line number and the raw bytes of a line that cannot be decoded."""


def iter_blocks(fh: BinaryIO, skip: int) -> Iterator[bytes]:
    """Blocks of whole lines (the last may lack its newline), after `skip` leading bytes."""
    fh.seek(skip)
    rest = b""
    while block := fh.read(BLOCK_BYTES):
        block = rest + block
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            rest = block
            continue
        rest = block[cut:]
        yield block[:cut]
    if rest:
        yield rest


def split_text_lines(text: str) -> list[str]:
    """Split on "\\n" keeping it; str.splitlines() when that gives the same answer (faster)."""
    if text.count("\r") == text.count("\r\n") and not _SPLITLINES_TRAPS.search(text):
        return text.splitlines(keepends=True)
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def split_byte_lines(block: bytes) -> list[bytes]:
    """Split on b"\\n" keeping it."""
    parts = block.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


class TextLines:
    """Iterable of decoded lines for the csv module; counts lines and reports bad ones."""

    def __init__(self, fh: BinaryIO, fmt: CsvFormat, on_bad_line: BadLineHandler) -> None:
        self._fh = fh
        self._fmt = fmt
        self._on_bad_line = on_bad_line
        self.lines_read = 0

    def __iter__(self) -> Iterator[str]:
        if not self._fmt.is_ascii_compatible:
            return self._stream_lines()
        return itertools.chain.from_iterable(self._block_lines())

    def _block_lines(self) -> Iterator[Iterable[str]]:
        encoding = self._fmt.encoding
        for block in iter_blocks(self._fh, len(self._fmt.bom)):
            try:
                lines: Iterable[str] = split_text_lines(block.decode(encoding))
            except UnicodeDecodeError:
                lines = self._line_by_line(block)
            else:
                self.lines_read += len(lines)  # type: ignore[arg-type]
            yield lines

    def _line_by_line(self, block: bytes) -> Iterator[str]:
        encoding = self._fmt.encoding
        for raw in split_byte_lines(block):
            self.lines_read += 1
            try:
                yield raw.decode(encoding)
            except UnicodeDecodeError:
                self._on_bad_line(self.lines_read, raw)
                yield "\n"

    def _stream_lines(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(self._fmt.encoding)(errors="replace")
        self._fh.seek(len(self._fmt.bom))
        rest = ""
        while True:
            data = self._fh.read(BLOCK_BYTES)
            lines = split_text_lines(rest + decoder.decode(data, final=not data))
            rest = lines.pop() if data and lines and not lines[-1].endswith("\n") else ""
            self.lines_read += len(lines)
            yield from lines
            if not data:
                return


class RawLines:
    """(raw bytes, text or None) per line, for rewriting a file without touching other bytes."""

    def __init__(self, fh: BinaryIO, fmt: CsvFormat) -> None:
        self._fh = fh
        self._fmt = fmt

    def __iter__(self) -> Iterator[tuple[bytes, str | None]]:
        encoding = self._fmt.encoding
        if not self._fmt.is_ascii_compatible:
            for text in TextLines(self._fh, self._fmt, _ignore_bad_line):
                yield text.encode(encoding), text
            return
        for block in iter_blocks(self._fh, len(self._fmt.bom)):
            for raw in split_byte_lines(block):
                try:
                    yield raw, raw.decode(encoding)
                except UnicodeDecodeError:
                    yield raw, None


def _ignore_bad_line(line_no: int, raw: bytes) -> None:
    """Stream decoding replaces bad bytes instead of reporting them."""
