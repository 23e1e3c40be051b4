"""Stream state of a file: what content was read, how far, and the cursor window.

A finished read stores ``{"fingerprint": {...}}`` (plus ``cursor`` and ``boundary_keys`` with a
cursor column). While a read is under way each batch's state also says ``rows_done``: the last
line (CSV) or row (sheet) number consumed, valid only for the content named by the fingerprint.
Resuming from such a state on the same content continues after that position; on changed
content the read starts over, since positions no longer mean anything.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from typing import Any, BinaryIO, overload

from crmhub.connectors.base import StreamState

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def fingerprint(fh: BinaryIO) -> dict[str, Any]:
    """Size, mtime and SHA-256 of an open file; `fh` is left at the start."""
    stat = os.fstat(fh.fileno())
    digest = hashlib.sha256()
    fh.seek(0)
    while block := fh.read(1 << 20):
        digest.update(block)
    fh.seek(0)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest.hexdigest()}


def is_same_content(state: StreamState | None, current: dict[str, Any]) -> bool:
    """True when `state` describes the current bytes (a mere touch changes nothing)."""
    seen = (state or {}).get("fingerprint") or {}
    return bool(seen.get("size") == current["size"] and seen.get("sha256") == current["sha256"])


def cursor_key(value: Any) -> tuple[int, Any]:
    """Order cursor values: empty first, then numbers (also as text), then other text.

    CSV cells are text, so "9" and "10" are compared as numbers; ISO dates compare as text.
    """
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int | float):
        return (1, value)
    text = str(value)
    if _NUMBER.fullmatch(text):
        return (1, float(text))
    return (2, text)


class CursorWindow:
    """Which rows are new (cursor >= last, minus keys seen at last) and the next window.

    `last`/`seen` come from the previous finished read and filter this one; `top`/`top_keys`
    collect the highest cursor read so far and the keys at it, and become the next filter.
    """

    def __init__(self, state: StreamState | None, is_resuming: bool) -> None:
        state = state or {}
        self.last = state.get("cursor")
        self._last_key = cursor_key(self.last)
        self.seen = set(state.get("boundary_keys", ()))
        top_source = state.get("next") if is_resuming else None
        top_source = top_source or {"cursor": self.last, "boundary_keys": sorted(self.seen)}
        self.top = top_source["cursor"]
        self._top_key = cursor_key(self.top)
        self.top_keys = set(top_source["boundary_keys"])

    def admit(self, value: Any, key: str) -> bool:
        """Whether a row is new; a new row also moves the next window."""
        ordered = cursor_key(value)
        if self.last is not None and (
            ordered < self._last_key or (ordered == self._last_key and key in self.seen)
        ):
            return False
        if self.top is None or ordered > self._top_key:
            self.top, self._top_key, self.top_keys = value, ordered, {key}
        elif ordered == self._top_key:
            self.top_keys.add(key)
        return True

    def finished_state(self) -> StreamState:
        """Cursor part of the state once the whole file is read."""
        return {"cursor": self.top, "boundary_keys": sorted(self.top_keys)}

    def running_state(self) -> StreamState:
        """Cursor part of the state mid-file: the old filter plus the window so far."""
        return {
            "cursor": self.last,
            "boundary_keys": sorted(self.seen),
            "next": self.finished_state(),
        }


class Positions(Sequence[str]):
    """`Batch.positions` as "line N"/"row N", made only for the few records that need it."""

    def __init__(self, unit: str, numbers: list[int]) -> None:
        self._unit = unit
        self._numbers = numbers

    def __len__(self) -> int:
        return len(self._numbers)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [f"{self._unit} {n}" for n in self._numbers[index]]
        return f"{self._unit} {self._numbers[index]}"
