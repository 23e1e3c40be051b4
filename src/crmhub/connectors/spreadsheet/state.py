"""Stream state of a file: what content was read, how far, and the cursor window.

A finished read stores ``{"fingerprint": {...}}`` (plus ``cursor`` and ``boundary`` with a
cursor column, see `CursorWindow`). While a read is under way each batch's state also says
``rows_done``: the last line (CSV) or row (sheet) number consumed, valid only for the content
named by the fingerprint.
Resuming from such a state on the same content continues after that position; on changed
content the read starts over, since positions no longer mean anything.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, BinaryIO, Final, overload

import orjson
import xxhash

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


def row_digest(values: Sequence[Any]) -> str:
    """A short digest of a row's values: tells an edited boundary row from one already read."""
    return xxhash.xxh3_64_hexdigest(orjson.dumps(list(values), default=str))


def boundary_of(state: Mapping[str, Any]) -> dict[str, str | None]:
    """The ``{key: digest}`` boundary of a state; a saved plain key list has unknown digests."""
    boundary = state.get("boundary")
    if isinstance(boundary, Mapping):
        return {str(k): None if v is None else str(v) for k, v in boundary.items()}
    return dict.fromkeys(map(str, state.get("boundary_keys") or ()))


class CursorWindow:
    """Which rows are new, and the filter the next read uses.

    A state's filter is ``cursor`` (rows below it are old) and ``boundary``, the digest of
    each row read at or above it (`row_digest` of its values): such a row is new only when
    its digest differs, so a row edited again without its cursor moving (a date-only
    "Updated" column) is read again. A boundary saved by older versions as ``boundary_keys``
    (keys only) refuses those keys at exactly `cursor`, as it always did. Rows with an
    empty cursor are read only by the first, full read.

    By default the next cursor is the highest value read and the next boundary holds the
    rows at it. `hold` pins the next cursor lower for a source that can change while it is
    read (see `crmhub.connectors.google_sheets`): every row at or above the pinned value goes
    into the next boundary, and ``top`` keeps the highest value read.
    """

    def __init__(self, state: StreamState | None, is_resuming: bool) -> None:
        state = state or {}
        self._filter = {k: state[k] for k in _FILTER_FIELDS if k in state}
        self.has_filter = "cursor" in state
        self.last = state.get("cursor")
        self._last_key = cursor_key(self.last)
        self.seen = boundary_of(state)
        self.last_top = state.get("top", self.last)
        """The highest value the previous read saw (its cursor, unless it was held)."""
        upcoming = (state.get("next") if is_resuming else None) or {"cursor": self.last}
        self.next = upcoming["cursor"]
        self._next_key = cursor_key(self.next)
        self.rows: dict[str, str | Sequence[Any] | None] = dict(boundary_of(upcoming))
        """The next boundary: digests, and rows (values) not hashed yet."""
        self.top = upcoming.get("top", self.next)
        self._top_key = cursor_key(self.top)
        self.is_held = "top" in upcoming

    def hold(self, values: Iterable[Any]) -> None:
        """Pin the next cursor at the highest of the previous read's top and `values`."""
        highest = max([self.last_top, *values], key=cursor_key)
        self.next, self._next_key, self.is_held = highest, cursor_key(highest), True
        if self._next_key > self._top_key:
            self.top, self._top_key = highest, self._next_key

    def admit(self, value: Any, key: str, content: Callable[[], Sequence[Any]]) -> bool:
        """Whether a row is new; `content` gives its values when a digest is needed."""
        return self._judge(value, key, lambda _: content(), 0)

    def admit_all(
        self, values: Iterable[Any], keys: Iterable[str], row_at: Callable[[int], Sequence[Any]]
    ) -> list[bool]:
        """`admit` for many rows; `row_at(i)` gives the values of the i-th one."""
        judge = self._judge
        return [
            judge(value, key, row_at, index)
            for index, (value, key) in enumerate(zip(values, keys, strict=True))
        ]

    def _judge(
        self, value: Any, key: str, row_at: Callable[[int], Sequence[Any]], index: int
    ) -> bool:
        """Whether a row is new; a row at or above the next cursor is kept for its boundary."""
        ordered = cursor_key(value)
        if self.has_filter and (value is None or ordered < self._last_key):
            return False
        digest = None
        is_new = True
        known = self.seen.get(key, _UNSEEN)
        if known is None:
            is_new = ordered != self._last_key
        elif known is not _UNSEEN:
            digest = row_digest(row_at(index))
            is_new = digest != known
        if value is None:
            return is_new
        if ordered > self._top_key:
            self.top, self._top_key = value, ordered
            if not self.is_held:
                self.next, self._next_key, self.rows = value, ordered, {}
        if ordered >= self._next_key:  # hashed in `finished_state`, if it is still kept then
            self.rows[key] = digest if digest is not None else row_at(index)
        return is_new

    def finished_state(self) -> StreamState:
        """The filter of the next read, once the whole source is read."""
        for key, kept in self.rows.items():
            if kept is not None and not isinstance(kept, str):
                self.rows[key] = row_digest(kept)
        state: StreamState = {"cursor": self.next, "boundary": dict(sorted(self.rows.items()))}
        if self.is_held:
            state["top"] = self.top
        return state

    def running_state(self) -> StreamState:
        """The filter mid-read: the old one, plus what the next one holds so far."""
        return {**self._filter, "next": self.finished_state()}


_FILTER_FIELDS = ("cursor", "boundary", "boundary_keys", "top")
_UNSEEN: Final = object()
"""`seen.get` default: the key is not in the boundary."""


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
