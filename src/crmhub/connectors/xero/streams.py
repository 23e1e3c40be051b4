"""Incremental reading of Xero contacts: If-Modified-Since, oldest change first, exact resume.

Xero filters by `If-Modified-Since` to the second and pages by page number. Page numbers alone
are fragile for a sync: a contact edited during the read moves to the end of the ordering, the
later pages shift by one, and a contact is skipped for good. So each request starts from the
newest second already read (`If-Modified-Since`), and page numbers only step through a second
that holds more contacts than one page. Xero documents the filter as accurate to the second but
not whether the boundary second itself is included, so requests start one second earlier,
which is right either way. Contacts read again there (or inside the lookback window) are
dropped by their `(ContactID, UpdatedDateUTC)`, kept in the state, so a resumed read neither
loses nor repeats a change. A contact that cannot be read (say, its date is not a date) comes
back with every request that covers it; it is rejected once per read, by its ContactID.

State: `{"cursor": "<newest UpdatedDateUTC read, ISO>", "seen": {ContactID: UpdatedDateUTC}}`
where `seen` holds only the contacts at or after the resume point.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from crmhub.connectors.base import Batch, RejectedRecord, StreamState
from crmhub.connectors.xero.records import CURSOR, KEY, contact_to_record, parse_xero_date
from crmhub.errors import SourceContractError

MARGIN = timedelta(seconds=1)
"""Requests start this much before the boundary second (see the module docstring)."""

Page = tuple[Sequence[Mapping[str, Any]], int | None]
"""One page of contacts (oldest UpdatedDateUTC first) and the page size the API says it used."""

FetchPage = Callable[[datetime | None, int], Page]
"""`fetch(if_modified_since, page)`: one page of contacts."""


class StateError(ValueError):
    """A stored state that this connector did not write."""


@dataclass
class ReadState:
    """Where a read stands: the newest change read and the contacts read at or after it."""

    cursor: str | None = None
    seen: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, state: StreamState | None) -> ReadState:
        """The state a previous batch stored (empty for a first, full read)."""
        if not state:
            return cls()
        cursor, seen = state.get("cursor"), state.get("seen", {})
        if not (cursor is None or isinstance(cursor, str)) or not isinstance(seen, dict):
            raise StateError("expected {'cursor': ISO text, 'seen': {ContactID: ISO text}}")
        try:
            if cursor is not None:
                parse_xero_date(cursor)
        except ValueError:
            raise StateError(f"cursor {cursor!r} is not an ISO date") from None
        return cls(cursor, {str(k): str(v) for k, v in seen.items()})

    def resume_point(self, lookback: timedelta) -> datetime | None:
        """The If-Modified-Since a read resumes from: before the cursor's second and lookback."""
        if self.cursor is None:
            return None
        return _whole_second(parse_xero_date(self.cursor)) - MARGIN - lookback

    def is_seen(self, record: Mapping[str, Any]) -> bool:
        """True when this very version of the contact was handed over already."""
        return bool(self.seen.get(record[KEY]) == record[CURSOR])

    def note(self, record: Mapping[str, Any]) -> None:
        """Remember a record handed to the hub and move the cursor forward to it."""
        self.seen[record[KEY]] = record[CURSOR]
        if self.cursor is None or parse_xero_date(record[CURSOR]) > parse_xero_date(self.cursor):
            self.cursor = record[CURSOR]

    def forget_before(self, point: datetime | None) -> None:
        """Drop seen contacts older than `point`: no later request can return them again."""
        if point is not None:
            self.seen = {k: v for k, v in self.seen.items() if parse_xero_date(v) >= point}

    def dump(self) -> StreamState:
        return {"cursor": self.cursor, "seen": dict(sorted(self.seen.items()))}


class ContactsReader:
    """Turns pages of contacts into batches, one per page, each with a resumable state."""

    def __init__(
        self,
        fetch: FetchPage,
        *,
        page_size: int,
        lookback_seconds: int,
        source: str | None = None,
    ) -> None:
        self.fetch = fetch
        self.source = source
        self.page_size = page_size
        self.lookback = timedelta(seconds=lookback_seconds)

    def read(self, state: StreamState | None) -> Iterator[Batch]:
        """Yield a batch per page with new records (or rejects) until a short page ends it."""
        current = ReadState.load(state)
        since, page = current.resume_point(self.lookback), 1
        rejected_ids: set[str] = set()  # this read's only: pages are fetched again on restarts
        while True:
            contacts, used_size = self.fetch(since, page)
            if not is_oldest_first(contacts):
                raise SourceContractError(
                    "Xero returned contacts out of UpdatedDateUTC order; incremental reads "
                    "need order=UpdatedDateUTC ASC",
                    source=self.source,
                )
            batch = self._batch(contacts, current, page, rejected_ids)
            reached = _restart_point(contacts)
            if reached is not None and (since is None or reached > since):
                since, page = reached, 1  # start over from the newest second reached
            else:
                page += 1  # more contacts share this second than one page holds
            current.forget_before(_earliest(since, current.resume_point(self.lookback)))
            if batch.records or batch.rejected:
                yield Batch(batch.records, current.dump(), batch.rejected, batch.positions)
            if len(contacts) < (used_size or self.page_size):
                return  # a short page is the last (an API ignoring pageSize reports its own)

    def _batch(
        self,
        contacts: Sequence[Mapping[str, Any]],
        current: ReadState,
        page: int,
        rejected_ids: set[str],
    ) -> Batch:
        records: list[dict[str, Any]] = []
        positions: list[str] = []
        rejected: list[RejectedRecord] = []
        for index, contact in enumerate(contacts, start=1):
            position = f"page {page} contact {index}"
            try:
                record = contact_to_record(contact)
            except ValueError as exc:
                raw = json.dumps(contact, sort_keys=True, default=str)
                contact_id = str(contact.get(KEY) or raw)
                if contact_id not in rejected_ids:
                    rejected_ids.add(contact_id)
                    rejected.append(RejectedRecord(position, str(exc), raw))
                continue
            if current.is_seen(record):
                continue
            current.note(record)
            records.append(record)
            positions.append(position)
        return Batch(records, {}, rejected, positions)


def is_oldest_first(contacts: Sequence[Mapping[str, Any]]) -> bool:
    """True when the contacts' dates never go backwards (unparseable dates are ignored)."""
    dates = [d for d in map(_date_of, contacts) if d is not None]
    return all(a <= b for a, b in pairwise(dates))


def _restart_point(contacts: Sequence[Mapping[str, Any]]) -> datetime | None:
    """If-Modified-Since for the next request: just before the newest second of the page."""
    dates = [d for d in map(_date_of, contacts) if d is not None]
    return _whole_second(max(dates)) - MARGIN if dates else None


def _date_of(contact: Mapping[str, Any]) -> datetime | None:
    value = contact.get(CURSOR)
    try:
        return parse_xero_date(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _whole_second(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return min(a, b)
