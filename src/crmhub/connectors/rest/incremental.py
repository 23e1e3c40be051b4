"""Incremental reads of a REST stream: ask from the last cursor value, drop what was delivered.

This follows dlt's `incremental`: the API is asked for `cursor >= last` (a query parameter or an
`If-Modified-Since` header), and the state keeps the last value together with the ids already
delivered at exactly that value. A record at the boundary value is therefore asked for again
(nothing is lost when several records share one timestamp across a page or batch boundary),
but a record already delivered at that value is dropped (nothing is delivered twice).

Values sent at a coarser precision than the records hold (epoch seconds, HTTP-dates) only make
the window wider, never narrower, because they are rounded down. Records older than the last
value that come back for that reason are dropped, unless `lookback` asks to see them again.
"""

from __future__ import annotations

import email.utils
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crmhub.connectors.base import StreamState
from crmhub.connectors.rest.config import CursorFormat, IncrementalConfig
from crmhub.errors import SourceContractError

log = logging.getLogger(__name__)

CursorValue = datetime | int | float | str
"""A parsed cursor: a UTC datetime for dates, else a number, else text compared as text."""


class CursorValueError(ValueError):
    """A record's cursor value cannot be compared with the others (e.g. text among dates)."""


def parse_cursor(value: Any, unit: CursorFormat | None = None) -> CursorValue | None:
    """A record's (or the config's `start`) cursor value, parsed for comparison.

    ISO-8601 text and HTTP-dates become UTC datetimes (naive ones are taken as UTC); numbers are
    epoch seconds/milliseconds when `unit` says so, else plain numbers (a version counter).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        if unit in ("epoch", "epoch_ms"):
            return datetime.fromtimestamp(value / (1000 if unit == "epoch_ms" else 1), UTC)
        return value
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if unit in ("epoch", "epoch_ms") and _is_number(text):
        return parse_cursor(float(text), unit)
    return _parse_date(text) or text


def format_cursor(value: CursorValue, fmt: CursorFormat) -> str:
    """`value` as sent to the API; dates rounded down to the format's precision."""
    if not isinstance(value, datetime):
        return str(value)
    value = value.astimezone(UTC)
    if fmt == "epoch":
        return str(math.floor(value.timestamp()))
    if fmt == "epoch_ms":
        return str(math.floor(value.timestamp() * 1000))
    if fmt == "http_date":
        return email.utils.format_datetime(value.replace(microsecond=0), usegmt=True)
    return value.isoformat().replace("+00:00", "Z")


def minus(value: CursorValue, seconds: float) -> CursorValue:
    """`value` moved back by a lookback; text cursors cannot move and stay as they are."""
    if not seconds or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value - timedelta(seconds=seconds)
    return value - seconds


@dataclass
class Bookmark:
    """The last cursor value delivered and the source ids delivered at exactly that value."""

    cursor: CursorValue | None = None
    keys: set[str] = field(default_factory=set)

    @classmethod
    def from_state(cls, state: StreamState | None) -> Bookmark:
        """Restore from a `Batch.state_after` (None or {} is the start of the stream)."""
        if not state or state.get("cursor") is None:
            return cls()
        value, kind = state["cursor"], state.get("cursor_type", "text")
        cursor: CursorValue
        if kind == "datetime":
            parsed = parse_cursor(value)
            if not isinstance(parsed, datetime):
                raise ValueError(f"saved cursor {value!r} is not a date")
            cursor = parsed
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"saved cursor {value!r} is not a number")
            cursor = value
        else:
            cursor = str(value)
        return cls(cursor, set(state.get("boundary_keys", ())))

    def to_state(self) -> StreamState:
        """JSON state; `cursor_type` restores the value's type, keys sorted for stable output."""
        if self.cursor is None:
            return {}
        if isinstance(self.cursor, datetime):
            value: Any = self.cursor.isoformat()
            kind = "datetime"
        elif isinstance(self.cursor, int | float):
            value, kind = self.cursor, "number"
        else:
            value, kind = self.cursor, "text"
        return {"cursor": value, "cursor_type": kind, "boundary_keys": sorted(self.keys)}


class CursorTracker:
    """Decides which records of an incremental read are new and keeps the moving bookmark."""

    def __init__(self, config: IncrementalConfig, state: StreamState | None, stream: str) -> None:
        self.config = config
        self.stream = stream
        try:
            self.start = Bookmark.from_state(state)
        except ValueError as exc:
            raise SourceContractError(
                f"stream {stream!r}: the saved state cannot be used ({exc}); reset this "
                "stream's state to read it in full again"
            ) from None
        if self.start.cursor is None and config.start is not None:
            self.start = Bookmark(parse_cursor(config.start, config.format))
        self.bookmark = Bookmark(self.start.cursor, set(self.start.keys))
        self.redeliver_older = bool(config.lookback)
        """Deliver records older than the start value (the lookback window) on this query."""
        self.older = 0
        """Records dropped so far as older than the start value (already delivered)."""
        self._warned = False

    def request_value(self) -> str | None:
        """The value to send (last value minus lookback), or None on a first full read."""
        if self.start.cursor is None:
            return None
        value = minus(self.start.cursor, self.config.lookback)
        return format_cursor(value, self.config.value_format)

    def bookmark_value(self) -> str | None:
        """The moving bookmark as it would be sent (for deciding whether to re-ask from it)."""
        cursor = self.bookmark.cursor
        return None if cursor is None else format_cursor(cursor, self.config.value_format)

    def rebase(self) -> None:
        """Continue this read from the moving bookmark: records older than it, or delivered at
        exactly it, are dropped. The request still subtracts the lookback (an API filtering
        with `>` needs that margin), but the window's older records were delivered already."""
        self.start = Bookmark(self.bookmark.cursor, set(self.bookmark.keys))
        self.redeliver_older = False

    def accept(self, value: Any, source_id: str) -> bool:
        """Whether a record is new to this stream; advances the bookmark when it is.

        Raises:
            CursorValueError: the value cannot be compared with the bookmark.
        """
        cursor = parse_cursor(value, self.config.format)
        if cursor is None:
            return True  # cannot be placed; delivered, and the bookmark stays
        start = self.start.cursor
        if start is not None:
            if _less(cursor, start, self.stream):
                if not self.redeliver_older:
                    self.older += 1
                    return False
            elif cursor == start and source_id in self.start.keys:
                return False
        self._advance(cursor, source_id)
        return True

    def _advance(self, cursor: CursorValue, source_id: str) -> None:
        current = self.bookmark.cursor
        if current is None or _less(current, cursor, self.stream):
            self.bookmark = Bookmark(cursor, {source_id})
        elif cursor == current:
            self.bookmark.keys.add(source_id)
        elif self.config.sorted and not self._warned and not self._in_lookback(cursor):
            self._warned = True
            log.warning(
                "stream %r: records are not in ascending %r order; a read resumed after a "
                "crash may miss some: set incremental.sorted: false for this API",
                self.stream,
                self.config.cursor_field,
            )

    def _in_lookback(self, cursor: CursorValue) -> bool:
        start = self.start.cursor
        return start is not None and _less(cursor, start, self.stream)

    def state(self, *, final: bool) -> StreamState:
        """State to save after a batch: the moving bookmark, or for unsorted APIs the start
        bookmark until the read has finished (any record may still be older than the max)."""
        if self.config.sorted or final:
            return self.bookmark.to_state()
        return self.start.to_state()


def _less(a: CursorValue, b: CursorValue, stream: str) -> bool:
    try:
        return bool(a < b)  # type: ignore[operator]
    except TypeError:
        raise CursorValueError(
            f"cursor value {_kind(a)} cannot be compared with {_kind(b)} in stream {stream!r}"
        ) from None


def _kind(value: CursorValue) -> str:
    return "a date" if isinstance(value, datetime) else f"a {type(value).__name__}"


def _parse_date(text: str) -> datetime | None:
    if len(text) >= 10 and text[4] == "-" and text[7] == "-":
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if "," in text and "GMT" in text:
        try:
            return email.utils.parsedate_to_datetime(text).astimezone(UTC)
        except (TypeError, ValueError):
            return None
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
