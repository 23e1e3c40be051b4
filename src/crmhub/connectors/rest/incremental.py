"""Incremental reads of a REST stream: ask from the last cursor value, drop what was delivered.

This follows dlt's `incremental`: the API is asked for `cursor >= last` (a query parameter or an
`If-Modified-Since` header), and the state keeps the last value together with the ids already
delivered at exactly that value. A record at the boundary value is therefore asked for again
(nothing is lost when several records share one timestamp across a page or batch boundary),
but a record already delivered at that value is dropped (nothing is delivered twice).

Values sent at a coarser precision than the records hold (epoch seconds, HTTP-dates) only make
the window wider, never narrower, because they are rounded down. Records older than the last
value that come back for that reason are dropped.

With a `lookback` the API is asked from `last - lookback`, so changes committed late with an
older timestamp are seen. The state then also keeps the ids and cursor values delivered within
the lookback window (`recent`), and a record that comes back with the same id and the same value
is dropped: re-asking the window delivers only what is new, and a read of an unchanged source is
empty. `recent` is bounded (`MAX_RECENT`); ids forgotten beyond the bound may be delivered again,
never lost.
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

MAX_RECENT = 10_000
"""Most (id, value) pairs of the lookback window kept in the state; the newest are kept."""


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
    value = round_down(value, fmt)
    assert isinstance(value, datetime)
    if fmt == "epoch":
        return str(math.floor(value.timestamp()))
    if fmt == "epoch_ms":
        return str(math.floor(value.timestamp() * 1000))
    if fmt == "http_date":
        return email.utils.format_datetime(value, usegmt=True)
    return value.isoformat().replace("+00:00", "Z")


def round_down(value: CursorValue, fmt: CursorFormat) -> CursorValue:
    """The value the API sees once `value` is sent in `fmt` (whole seconds or milliseconds)."""
    if not isinstance(value, datetime):
        return value
    value = value.astimezone(UTC)
    if fmt in ("epoch", "http_date"):
        return value.replace(microsecond=0)
    if fmt == "epoch_ms":
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value


def minus(value: CursorValue, seconds: float) -> CursorValue:
    """`value` moved back by a lookback; text cursors cannot move and stay as they are."""
    if not seconds or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value - timedelta(seconds=seconds)
    return value - seconds


@dataclass
class Bookmark:
    """The last cursor value delivered, the ids delivered at exactly that value, and (with a
    lookback) the ids delivered within the lookback window before it, with their values."""

    cursor: CursorValue | None = None
    keys: set[str] = field(default_factory=set)
    recent: dict[str, CursorValue] = field(default_factory=dict)

    @classmethod
    def from_state(cls, state: StreamState | None) -> Bookmark:
        """Restore from a `Batch.state_after` (None or {} is the start of the stream)."""
        if not state or state.get("cursor") is None:
            return cls()
        kind = state.get("cursor_type", "text")
        cursor = _decode(state["cursor"], kind)
        recent = {str(k): _decode(v, kind) for k, v in (state.get("recent") or {}).items()}
        return cls(cursor, set(state.get("boundary_keys", ())), recent)

    def to_state(self) -> StreamState:
        """JSON state; `cursor_type` restores the values' type, keys sorted for stable output."""
        if self.cursor is None:
            return {}
        value, kind = _encode(self.cursor)
        state: StreamState = {"cursor": value, "cursor_type": kind}
        state["boundary_keys"] = sorted(self.keys)
        if self.recent:
            state["recent"] = {k: _encode(v)[0] for k, v in sorted(self.recent.items())}
        return state


def _decode(value: Any, kind: str) -> CursorValue:
    if kind == "datetime":
        parsed = parse_cursor(value)
        if not isinstance(parsed, datetime):
            raise ValueError(f"saved cursor {value!r} is not a date")
        return parsed
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"saved cursor {value!r} is not a number")
        return value
    return str(value)


def _encode(value: CursorValue) -> tuple[Any, str]:
    if isinstance(value, datetime):
        return value.isoformat(), "datetime"
    if isinstance(value, int | float):
        return value, "number"
    return value, "text"


class CursorTracker:
    """Decides which records of an incremental read are new and keeps the moving bookmark.

    Three values bound a read: `floor` (the saved value minus the lookback; anything older was
    delivered by earlier reads), the value the current query is asked from (moved on by
    `rebase`), and the moving bookmark. `delivered` maps the ids delivered at or after the
    point a query may ask from to their values, so a record asked for again and unchanged is
    dropped, whether it was delivered by an earlier read or earlier in this one.
    """

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
        start = self.start.cursor
        self.bookmark = Bookmark(start, set(self.start.keys))
        self.floor = None if start is None else minus(start, config.lookback)
        """Records older than this were delivered by earlier reads."""
        self.asked_from = start
        """The value the current query is asked from, before the lookback is subtracted."""
        self.delivered: dict[str, CursorValue] = dict(self.start.recent)
        if start is not None:
            self.delivered.update(dict.fromkeys(self.start.keys, start))
        self.behind = 0
        """Records returned older than the value asked for: evidence the API ignores it."""
        self._warned = False

    def request_value(self) -> str | None:
        """The value to send (the value asked from minus lookback), or None on a full read."""
        lowest = self._lowest_asked()
        return None if lowest is None else format_cursor(lowest, self.config.value_format)

    def asked_value(self) -> str | None:
        """The value asked from, formatted as sent but without the lookback."""
        return self._formatted(self.asked_from)

    def bookmark_value(self) -> str | None:
        """The moving bookmark as `asked_value` would give it after a `rebase`."""
        return self._formatted(self.bookmark.cursor)

    def rebase(self) -> None:
        """Ask the query again from the moving bookmark (minus the lookback, which an API
        filtering with `>` needs as a margin). Records the new query returns that were
        delivered already, in this read or an earlier one, are still dropped, and records of
        the original lookback window not delivered yet are still delivered."""
        self.asked_from = self.bookmark.cursor
        self._forget_older()

    def accept(self, value: Any, source_id: str) -> bool:
        """Whether a record is new to this stream; advances the bookmark when it is.

        Raises:
            CursorValueError: the value cannot be compared with the bookmark.
        """
        cursor = parse_cursor(value, self.config.format)
        if cursor is None:
            return True  # cannot be placed; delivered, and the bookmark stays
        lowest = self._lowest_asked()
        if lowest is not None and _less(cursor, lowest, self.stream):
            self.behind += 1
            return False
        if self.floor is not None and _less(cursor, self.floor, self.stream):
            return False  # sent rounded down: older than the saved value, delivered already
        if self.delivered.get(source_id) == cursor:
            return False
        self._advance(cursor, source_id)
        self.delivered[source_id] = cursor
        return True

    def _lowest_asked(self) -> CursorValue | None:
        """What the API is asked for on the current query, as the API sees the value."""
        if self.asked_from is None:
            return None
        return round_down(minus(self.asked_from, self.config.lookback), self.config.value_format)

    def _formatted(self, value: CursorValue | None) -> str | None:
        return None if value is None else format_cursor(value, self.config.value_format)

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

    def _forget_older(self) -> None:
        """Drop delivered ids that no query of this read can return again: older than what a
        query asked from the bookmark would ask for."""
        cursor = self.bookmark.cursor
        if cursor is None:
            return
        lowest = round_down(minus(cursor, self.config.lookback), self.config.value_format)
        self.delivered = {
            k: v for k, v in self.delivered.items() if not _less(v, lowest, self.stream)
        }

    def _recent(self) -> dict[str, CursorValue]:
        """Ids delivered within the lookback window before the bookmark (newest MAX_RECENT)."""
        cursor = self.bookmark.cursor
        if not self.config.lookback or cursor is None:
            return {}
        floor = minus(cursor, self.config.lookback)
        window = [
            (v, k)
            for k, v in self.delivered.items()
            if v != cursor and not _less(v, floor, self.stream)
        ]
        newest = sorted(window, reverse=True)[:MAX_RECENT]
        return {k: v for v, k in newest}

    def state(self, *, final: bool) -> StreamState:
        """State to save after a batch: the moving bookmark, or for unsorted APIs the start
        bookmark until the read has finished (any record may still be older than the max)."""
        if self.config.sorted or final:
            self._forget_older()
            bookmark = self.bookmark
            return Bookmark(bookmark.cursor, bookmark.keys, self._recent()).to_state()
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
