"""Reading and rewriting a JSON-lines file, one customer object per line.

A line that is not a JSON object, or that has no key value, becomes a `RejectedRecord` with its
line number; the other lines are read as usual. Values must already be flat (text, numbers,
booleans, null), as crmhub records are: a nested value rejects its line too.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmhub.connectors.base import RejectedRecord

SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Line:
    """One good line: its number (from 1), the record and the record's key."""

    number: int
    record: dict[str, Any]
    key: str


def parse_lines(path: Path, key: str) -> tuple[list[Line], list[RejectedRecord]]:
    """Every good line and every rejected one, in file order; blank lines are skipped."""
    good: list[Line] = []
    rejected: list[RejectedRecord] = []
    for number, text in enumerate(read_text(path).splitlines(), start=1):
        if not text.strip():
            continue
        record, reason = _parse(text, key)
        if record is None:
            rejected.append(RejectedRecord(f"line {number}", reason, text))
        else:
            good.append(Line(number, record, str(record[key])))
    return good, rejected


def read_text(path: Path) -> str:
    """The file as text (UTF-8, a BOM tolerated)."""
    return path.read_text(encoding="utf-8-sig")


def _parse(text: str, key: str) -> tuple[dict[str, Any] | None, str]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(value, dict):
        return None, f"not a JSON object but {type(value).__name__}"
    if value.get(key) in (None, ""):
        return None, f"the key {key!r} is missing or empty"
    nested = [name for name, v in value.items() if not isinstance(v, SCALARS)]
    if nested:
        return None, f"nested values in {nested}; records must be flat"
    return value, ""


def columns_of(lines: list[Line]) -> tuple[str, ...]:
    """Every field name seen, in first-seen order."""
    return tuple(dict.fromkeys(name for line in lines for name in line.record))


def replace_lines(path: Path, changed: dict[int, dict[str, Any]]) -> None:
    """Rewrite the lines numbered in `changed`, keep every other line byte for byte.

    The new file is written next to the old one and renamed over it, so a reader sees the old
    or the new file, never a mix.
    """
    texts = read_text(path).splitlines(keepends=True)
    for number, record in changed.items():
        ending = "\n" if texts[number - 1].endswith("\n") else ""
        texts[number - 1] = json.dumps(record, ensure_ascii=False) + ending
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(texts)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def batches_of(items: list[Line], size: int) -> Iterator[list[Line]]:
    """`items` in slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
