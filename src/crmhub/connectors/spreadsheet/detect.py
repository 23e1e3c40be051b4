"""Guess how a CSV file is written: byte-order mark, encoding and delimiter.

The guess is made once per open on a sample at the start of the file, and the same answer is
used to write the file back, so a round trip keeps the user's encoding, BOM and delimiter.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass
from typing import BinaryIO

from charset_normalizer import from_bytes

SAMPLE_BYTES = 64 * 1024
"""How much of the file the guesses look at."""

DELIMITERS = ",;\t|"
"""Delimiters the sniffer may choose among."""

BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
"""Byte-order marks, longest match first (the UTF-32 LE mark starts with the UTF-16 LE one)."""

FALLBACK_ENCODING = "cp1252"
"""Used when charset-normalizer has no opinion: the usual encoding of Excel CSV exports."""

PREFERRED_ON_TIE = ("cp1252", "iso8859_15", "latin_1")
"""Short Western samples fit cp1250 or iso8859_10 as well as cp1252; these win such ties."""

TIE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file's bytes become rows, and back.

    `encoding` never includes the BOM: the BOM bytes are skipped when reading and written
    first when writing, so it survives a rewrite whatever the codec.
    """

    encoding: str
    bom: bytes
    delimiter: str

    @property
    def is_ascii_compatible(self) -> bool:
        """True when a newline is the byte 0x0A, so lines can be split before decoding."""
        try:
            return "a,\n".encode(self.encoding) == b"a,\n"
        except UnicodeEncodeError:
            return False


def detect_format(fh: BinaryIO, encoding: str | None, delimiter: str | None) -> CsvFormat:
    """Guess what `encoding` and `delimiter` leave open; `fh` is left at the start."""
    fh.seek(0)
    sample = fh.read(SAMPLE_BYTES)
    fh.seek(0)
    bom, bom_encoding = _split_bom(sample)
    body = sample[len(bom) :]
    if encoding is None:
        chosen = bom_encoding or _guess_encoding(body, len(sample) < SAMPLE_BYTES)
    else:
        chosen = _strip_sig(encoding)
        if bom_encoding and bom_encoding.startswith(chosen):
            chosen = bom_encoding  # 'utf-16' + BOM: the BOM says which byte order
        elif chosen != bom_encoding:
            bom = b""  # the bytes are data in the encoding the user asked for
    text = body.decode(chosen, errors="replace")
    return CsvFormat(chosen, bom, delimiter or guess_delimiter(text))


def _split_bom(sample: bytes) -> tuple[bytes, str | None]:
    for bom, name in BOMS:
        if sample.startswith(bom):
            return bom, name
    return b"", None


def _strip_sig(encoding: str) -> str:
    """`utf-8-sig` names the BOM handling, which this module does itself."""
    name = codecs.lookup(encoding).name
    return "utf-8" if name == "utf-8-sig" else name


def _guess_encoding(body: bytes, is_whole_file: bool) -> str:
    """UTF-8 unless most lines with non-ASCII bytes are not UTF-8; then ask charset-normalizer.

    A UTF-8 file with one corrupt line must stay UTF-8 (so that line is rejected rather than
    the whole file read as mojibake), hence the vote over lines instead of one strict decode.
    """
    lines = body.split(b"\n")
    if not is_whole_file and len(lines) > 1:
        lines.pop()  # the sample may end inside a character
    lines = [line for line in lines if not line.isascii()]
    good = sum(1 for line in lines if _decodes(line, "utf-8"))
    if good >= len(lines) - good:
        return "utf-8"
    matches = from_bytes(body)
    best = matches.best()
    if best is None:
        return FALLBACK_ENCODING
    tied = {
        m.encoding
        for m in matches
        if m.chaos <= best.chaos and m.coherence >= best.coherence - TIE_TOLERANCE
    }
    preferred = next((name for name in PREFERRED_ON_TIE if name in tied), best.encoding)
    return codecs.lookup(preferred).name


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def guess_delimiter(text: str) -> str:
    """csv.Sniffer over whole lines of the sample, checked against the header line.

    The sniffer's answer is kept only when that character occurs in the header line; else the
    candidate occurring most in the header wins (a one-column file gets ',').
    """
    cut = text.rfind("\n")
    sample = text[: cut + 1] if cut > 0 else text
    header = sample.split("\n", 1)[0]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = ""
    if sniffed and sniffed in header:
        return sniffed
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","
