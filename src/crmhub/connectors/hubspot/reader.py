"""Reading one HubSpot object type: a full list, then searches for what changed since.

Full read: `GET /crm/v3/objects/{type}` pages through every object by id (`after` cursor).
Incremental: `POST /crm/v3/objects/{type}/search` for `modified >= last` sorted ascending.
Two properties of the search API shape the loop:

* one query pages through at most 10,000 results (more is a 400), and its pages are offsets,
  so an object modified during the read moves to the end and shifts the rest by one;
* both are avoided by restarting the search from the newest modified time seen (GTE that
  value) whenever a page moves that time forward, rather than only when the cap is reached;
  only while pages stay at one time does the loop follow `after`. The objects already
  delivered at that time (the state's `boundary_ids`) are dropped when the new query returns
  them again, so nothing is lost or repeated, and a query never nears the cap unless more
  than `search_result_cap` objects share one millisecond, which cannot be paged at all and
  raises SourceContractError.

Neither a full read nor a search saves a cursor later than its own start (HubSpot's `Date`
less a minute): the list is in id order, so an object listed early and changed later is older
than the newest one listed, and the search index lags changes by seconds. The next read looks
again from there; re-reading a minute of changes is harmless, losing one would not be.

The state is JSON: `{"cursor": "2024-03-01T09:30:00.123Z", "boundary_ids": ["17"]}`, plus
`"list_after"` and `"list_started"` while a full read is under way (a crash resumes the
listing where it was).
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import Any

from crmhub.connectors.base import Batch, RejectedRecord, StreamState
from crmhub.connectors.http import HttpClient, RateBudget
from crmhub.connectors.hubspot.streams import (
    Converted,
    ObjectStream,
    convert_object,
    format_time,
    parse_time,
    to_epoch_ms,
)
from crmhub.errors import SourceContractError

log = logging.getLogger(__name__)

SETTLE_MARGIN = timedelta(seconds=60)
"""Taken off the server's Date of a read's first answer: HubSpot's search index lags changes by
a few seconds, and the clocks of its servers differ."""


@dataclass
class Watermark:
    """Newest modified time delivered, and the ids delivered at exactly that time."""

    ms: int | None = None
    text: str | None = None
    ids: set[str] = field(default_factory=set)

    @classmethod
    def from_state(cls, state: StreamState | None) -> Watermark:
        """The watermark a state describes; a state that is not ours is a contract error."""
        if not state or state.get("cursor") is None:
            return cls()
        try:
            text = str(state["cursor"])
            ms = to_epoch_ms(parse_time(text))
            ids = {str(i) for i in state.get("boundary_ids", [])}
        except (ValueError, TypeError) as exc:
            raise SourceContractError(f"unreadable stream state ({exc}); reset it") from None
        return cls(ms, text, ids)

    def is_delivered(self, item: Converted) -> bool:
        """True for an object already delivered at the boundary time."""
        return item.modified_ms == self.ms and item.object_id in self.ids

    def advance(self, item: Converted) -> None:
        """Take `item` into account (objects may come in any order)."""
        if self.ms is None or item.modified_ms > self.ms:
            self.ms, self.text, self.ids = item.modified_ms, item.modified_text, {item.object_id}
        elif item.modified_ms == self.ms:
            self.ids.add(item.object_id)

    def no_later_than(self, text: str | None) -> Watermark:
        """This watermark, or an earlier time `text` (with no ids delivered at it)."""
        if text is None or self.ms is None:
            return self
        ms = to_epoch_ms(parse_time(text))
        return self if self.ms <= ms else Watermark(ms, text, set())

    def state(self, **extra: Any) -> StreamState:
        """JSON state; empty when nothing was ever delivered."""
        if self.ms is None:
            return {k: v for k, v in extra.items() if v is not None}
        state: StreamState = {"cursor": self.text, "boundary_ids": sorted(self.ids)}
        state.update({k: v for k, v in extra.items() if v is not None})
        return state


@dataclass
class StreamReader:
    """Reads one object type through `http`; searches also spend `search_budget`."""

    http: HttpClient
    stream: ObjectStream
    properties: tuple[str, ...]
    page_size: int
    search_page_size: int
    search_cap: int
    search_budget: RateBudget | None = None

    @property
    def path(self) -> str:
        return f"crm/v3/objects/{self.stream.name}"

    def read(self, state: StreamState | None) -> Iterator[Batch]:
        """Full read without a cursor (or while one is under way), else changes since it."""
        mark = Watermark.from_state(state)
        if mark.ms is None or (state or {}).get("list_after"):
            yield from self._list(mark, state or {})
        else:
            yield from self._search(mark)

    # -- full read --------------------------------------------------------------------------
    def _list(self, mark: Watermark, state: StreamState) -> Iterator[Batch]:
        """List every object by id; the final cursor is no later than the listing's start.

        The list is in id order, so an object listed early and changed later in the listing
        may have an older modified time than the newest one listed: the cursor after a full
        read is therefore the start of the listing (server time less a margin) if that is
        earlier, and the next incremental read picks such changes up.
        """
        params: dict[str, Any] = {
            "limit": self.page_size,
            "properties": ",".join(self.properties),
            "archived": "false",
        }
        after, started = state.get("list_after"), state.get("list_started")
        if started is not None:
            Watermark.from_state({"cursor": started})  # a broken state fails now, not at the end
        while True:
            response = self.http.request("GET", self.path, params={**params, **_after(after)})
            page = self.http.json_of(response, "GET", self.path)
            started = started or _settled_before(response.headers.get("Date"))
            results, after = _page(page, self.path)
            records, rejected = self._convert(results, mark, drop_delivered=False)
            if after is not None:
                state_after = mark.state(list_after=after, list_started=started)
                yield Batch(records, state_after, rejected)
                continue
            yield Batch(records, mark.no_later_than(started).state(), rejected)
            return

    # -- incremental ------------------------------------------------------------------------
    def _search(self, mark: Watermark) -> Iterator[Batch]:
        """Search from the cursor; each batch's state is no later than the search's start.

        HubSpot indexes a change for search a few seconds after making it, so an object
        changed just before the search may be missing while newer ones are found: the saved
        cursor never passes the search's start (server time less a margin), and the next
        read looks again from there.
        """
        start, after, fetched, settled = mark.ms, None, 0, None
        while True:
            assert start is not None
            page, date = self._search_page(start, after)
            settled = settled or _settled_before(date)
            results, next_after = _page(page, self.path + "/search")
            fetched += len(results)
            records, rejected = self._convert(results, mark, drop_delivered=True)
            if records or rejected:
                yield Batch(records, mark.no_later_than(settled).state(), rejected)
            if next_after is None:
                return
            if mark.ms is not None and mark.ms > start:
                log.debug("%s: search restarts at %s", self.stream.name, mark.text)
                start, after, fetched = mark.ms, None, 0  # a fresh query from the new boundary
            elif fetched + self.search_page_size <= self.search_cap:
                after = next_after  # still at one time: page on within this query
            else:
                raise SourceContractError(
                    f"more than {self.search_cap} {self.stream.name} share "
                    f"{self.stream.modified_property} {mark.text}; HubSpot's search cannot "
                    "page past them"
                )

    def _search_page(self, start_ms: int, after: str | None) -> tuple[Any, str | None]:
        """One page of the search from `start_ms`, and the answer's Date header."""
        modified = self.stream.modified_property
        body: dict[str, Any] = {
            "filterGroups": [
                {"filters": [{"propertyName": modified, "operator": "GTE", "value": str(start_ms)}]}
            ],
            "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
            "properties": list(self.properties),
            "limit": self.search_page_size,
            **_after(after),
        }
        if self.search_budget is not None:
            self.search_budget.acquire()
        path = self.path + "/search"
        # a search reads only, so it is safe to repeat although it is a POST
        response = self.http.request("POST", path, json=body, idempotent=True)
        return self.http.json_of(response, "POST", path), response.headers.get("Date")

    # -- records ----------------------------------------------------------------------------
    def _convert(
        self, results: list[Any], mark: Watermark, *, drop_delivered: bool
    ) -> tuple[list[dict[str, Any]], list[RejectedRecord]]:
        records, rejected = [], []
        for obj in results:
            item = convert_object(obj, self.stream, self.properties)
            if isinstance(item, RejectedRecord):
                rejected.append(item)
            elif not (drop_delivered and mark.is_delivered(item)):
                mark.advance(item)
                records.append(item.record)
        return records, rejected


def _settled_before(date_header: str | None) -> str | None:
    """HubSpot's time of an answer less a margin, as cursor text (None if unknown).

    Changes older than this were in the list, or in the search index, when the read began.
    """
    if not date_header:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_time(moment - SETTLE_MARGIN)


def _after(after: str | None) -> dict[str, str]:
    return {} if after is None else {"after": after}


def _page(page: Any, path: str) -> tuple[list[Any], str | None]:
    """The results of a page and the `after` of the next one (None on the last page)."""
    if not isinstance(page, dict) or not isinstance(page.get("results"), list):
        raise SourceContractError(f"{path}: the answer has no 'results' list")
    after = ((page.get("paging") or {}).get("next") or {}).get("after")
    return page["results"], None if after in (None, "") else str(after)
