"""Reading one REST stream: page after page, records flattened, state after every batch.

A batch is one page (or, with `batch_size`, whole pages until at least that many records), so
memory holds one batch however many records the API has. Records that cannot be used (not an
object, no primary key, a cursor that cannot be compared) are returned as `RejectedRecord`s
with their page and position, and the read goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import orjson

from crmhub.connectors.base import Batch, RejectedRecord, StreamState, join_key
from crmhub.connectors.http import HttpClient
from crmhub.connectors.rest.config import StreamConfig
from crmhub.connectors.rest.incremental import CursorTracker, CursorValueError
from crmhub.connectors.rest.pagination import (
    OffsetPagination,
    PageNumberPagination,
    PageRequest,
    Paginator,
    make_paginator,
)
from crmhub.connectors.rest.selector import flatten, select_records
from crmhub.errors import SourceContractError

log = logging.getLogger(__name__)

OK_STATUSES = frozenset({*range(200, 300), 304})
"""304 Not Modified (an If-Modified-Since read with nothing new) is an empty page."""


@dataclass
class Page:
    """One page's usable records (with positions) and its rejected records."""

    records: list[dict[str, Any]] = field(default_factory=list)
    positions: list[str] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)


class StreamReader:
    """Reads one configured stream through the shared HTTP client."""

    def __init__(self, http: HttpClient, stream: StreamConfig, source: str | None) -> None:
        self.http, self.stream, self.source = http, stream, source
        self._host = urlsplit(http.base_url).netloc

    def read(self, state: StreamState | None) -> Iterator[Batch]:
        """Every batch from `state` on; state is {} for streams without `incremental`."""
        stream = self.stream
        tracker = (
            CursorTracker(stream.incremental, state, stream.name) if stream.incremental else None
        )
        params, headers = self._first_params(tracker)
        paginator = make_paginator(stream.pagination)
        request: PageRequest | None = paginator.first(stream.path, params)
        restart = _Restart.plan(stream, tracker)
        pending = Page()
        while request is not None:
            body, response = self.fetch(request, headers)
            raw = self._select(body, request)
            following = paginator.next(request, response, body, raw)
            new, behind = self._convert(raw, request.number, tracker, pending)
            log.debug("stream %r page %d: %d records", stream.name, request.number, len(raw))
            if following is not None and restart is not None and restart.after_page(new, behind):
                following, headers = self._restarted(paginator, restart.tracker, request)
            else:  # a restart asks from a later value, so only plain paging can stall
                self._check_progress(request, following)
            is_last = following is None
            if is_last or len(pending.records) >= (stream.batch_size or 1):
                if pending.records or pending.rejected or (is_last and _unsorted(tracker)):
                    yield self._batch(pending, tracker, final=is_last)
                pending = Page()
            request = following

    def _restarted(
        self, paginator: Paginator, tracker: CursorTracker, sent: PageRequest
    ) -> tuple[PageRequest, dict[str, str]]:
        """The first page of the same query asked from the moving bookmark."""
        tracker.rebase()
        params, headers = self._first_params(tracker)
        first = paginator.first(self.stream.path, params)
        return replace(first, number=sent.number + 1), headers

    def fetch(self, request: PageRequest, headers: Mapping[str, str]) -> tuple[Any, Any]:
        """GET one page; returns (JSON body or None for 304, response)."""
        response = self.http.request(
            "GET", request.path, params=request.params, headers=headers, ok=OK_STATUSES
        )
        if response.status_code == 304 or not response.content:
            return None, response
        try:
            return orjson.loads(response.content), response
        except orjson.JSONDecodeError:  # the client's parser names the call in its error
            return self.http.json_of(response, "GET", request.path), response

    def first_page(self) -> list[Any]:
        """The raw records of the first page (for check() and discover())."""
        params, headers = self._first_params(None)
        request = make_paginator(self.stream.pagination).first(self.stream.path, params)
        body, _ = self.fetch(request, headers)
        return self._select(body, request)

    def _first_params(self, tracker: CursorTracker | None) -> tuple[dict[str, Any], dict[str, str]]:
        params: dict[str, Any] = dict(self.stream.params)
        headers = dict(self.stream.headers)
        value = tracker.request_value() if tracker is not None else None
        if tracker is not None and value is not None:
            config = tracker.config
            if config.param is not None:
                params[config.param] = value
            else:
                assert config.header is not None
                headers[config.header] = value
        return params, headers

    def _select(self, body: Any, request: PageRequest) -> list[Any]:
        try:
            return select_records(body, self.stream.record_selector)
        except ValueError as exc:
            raise SourceContractError(
                f"stream {self.stream.name!r} page {request.number}: {exc}", source=self.source
            ) from None

    def _check_progress(self, sent: PageRequest, following: PageRequest | None) -> None:
        """Refuse a next page that repeats this one, or a link to another host."""
        if following is None:
            return
        if following.path == sent.path and following.params == sent.params:
            raise SourceContractError(
                f"stream {self.stream.name!r}: page {sent.number} points to itself as the next "
                "page; check the pagination settings",
                source=self.source,
            )
        host = urlsplit(following.path).netloc
        if host and host != self._host:
            raise SourceContractError(
                f"stream {self.stream.name!r}: the next-page link points to another host "
                f"({host}); refused so credentials are not sent there",
                source=self.source,
            )

    def _convert(
        self, raw: list[Any], page: int, tracker: CursorTracker | None, into: Page
    ) -> tuple[int, int]:
        """Add the page's records to `into`; returns (records added, older than asked for)."""
        added, behind = len(into.records), tracker.behind if tracker is not None else 0
        for item_no, item in enumerate(raw, start=1):
            position = f"page {page} item {item_no}"
            outcome = self._record(item, position, tracker)
            if isinstance(outcome, RejectedRecord):
                into.rejected.append(outcome)
            elif outcome is not None:
                into.records.append(outcome)
                into.positions.append(position)
        return len(into.records) - added, (tracker.behind if tracker is not None else 0) - behind

    def _record(
        self, item: Any, position: str, tracker: CursorTracker | None
    ) -> dict[str, Any] | RejectedRecord | None:
        """One flat record, a rejection, or None when the record was delivered already."""
        if not isinstance(item, Mapping):
            return _reject(position, f"a {type(item).__name__}, not an object", item)
        record = flatten(item)
        key = self.stream.key_fields
        missing = [k for k in key if record.get(k) in (None, "")]
        if missing:
            return _reject(position, f"primary key field(s) {missing} missing or empty", item)
        cursor_field = self.stream.cursor_field
        if tracker is not None and cursor_field is not None:
            try:
                if not tracker.accept(record.get(cursor_field), join_key([record[k] for k in key])):
                    return None
            except CursorValueError as exc:
                return _reject(position, str(exc), item)
        for name in self.stream.fields or ():
            record.setdefault(name, None)
        return record

    def _batch(self, page: Page, tracker: CursorTracker | None, *, final: bool) -> Batch:
        state = tracker.state(final=final) if tracker is not None else {}
        return Batch(page.records, state, page.rejected, page.positions)


@dataclass
class _Restart:
    """Keyset paging for position-based paginators (page number, offset) on incremental reads.

    A record updated during a read moves to the end of a list sorted by the cursor, and every
    later position shifts by one, so plain offset paging would skip the record after it; that
    record is older than the new bookmark and later reads would not see it either. Asking again
    from the bookmark after each page that moved it cannot skip anything; pages that leave the
    bookmark where it was (many records on one value) follow the paginator as usual. The
    bookmark and the value asked from are compared as sent, both without the lookback, so a
    lookback or a value sent in whole seconds does not restart after every page. If the API
    turns out to ignore the filter (a re-asked page holds records older than the value sent
    and nothing new), plain paging is used for the rest of the read.
    """

    tracker: CursorTracker
    sent: str | None
    """The value the current query was asked from, as sent but without the lookback."""
    just_restarted: bool = False
    disabled: bool = False

    @classmethod
    def plan(cls, stream: StreamConfig, tracker: CursorTracker | None) -> _Restart | None:
        """A restart policy for the stream, or None when its paging needs none."""
        positional = isinstance(stream.pagination, PageNumberPagination | OffsetPagination)
        if tracker is None or not tracker.config.sorted or not positional:
            return None
        return cls(tracker, tracker.asked_value())

    def after_page(self, new: int, behind: int) -> bool:
        """Whether to ask again from the bookmark instead of following the paginator.

        `new` and `behind` count the page's records delivered and returned although older
        than the value sent (records inside the lookback window or at the sent value's
        precision are not evidence of an ignored filter).
        """
        if self.just_restarted and behind and not new:
            log.warning(
                "stream %r: the API ignores the incremental filter on re-asked pages; "
                "paging by position for the rest of this read",
                self.tracker.stream,
            )
            self.disabled = True
        self.just_restarted = False
        value = self.tracker.bookmark_value()
        if self.disabled or value is None or value == self.sent:
            return False
        self.sent, self.just_restarted = value, True
        return True


def _unsorted(tracker: CursorTracker | None) -> bool:
    """An unsorted read saves its bookmark only at the end, even after an empty last page."""
    return tracker is not None and not tracker.config.sorted


def _reject(position: str, reason: str, item: Any) -> RejectedRecord:
    raw = json.dumps(item, ensure_ascii=False, default=str)
    return RejectedRecord(position=position, reason=reason, raw=raw[:2000])
