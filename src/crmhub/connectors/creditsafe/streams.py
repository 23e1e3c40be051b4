"""Reading the ``companies`` stream: which reports to fetch, and the state that resumes a read.

A portfolio read is incremental without a cursor in the reports, because Creditsafe says what
changed through monitoring notification events:

* the first read lists the portfolio and fetches every report; before that it notes the newest
  event (its date and the ids at that date) as the point to watch from;
* a later read fetches the reports of companies new to the portfolio (the state keeps the ids
  already read, `known`) and of companies with an event from `since` on, dropping events
  already handled (`event_ids`), so an event on the boundary is neither lost nor read twice;
* `since` never passes the settle point, Creditsafe's clock (the Date header) minus
  `settle_seconds`: an event that becomes visible late, dated before an event already read,
  is still found by the next read; events read after the settle point stay in `event_ids`
  until `since` passes them, so they are not delivered again;
* every batch's state resumes exactly: companies already in `known` are not fetched again and
  events are walked oldest first, so `since` only moves past events whose reports are stored.

A search read has no events to follow, so each read fetches every match; its state only lets
a crashed read resume without buying the same reports twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crmhub.connectors.base import Batch, RejectedRecord, StreamState
from crmhub.connectors.credit import BureauMapping, MappingError, iso_utc
from crmhub.connectors.creditsafe.api import CreditsafeApi, Event
from crmhub.connectors.http import HttpAuthError
from crmhub.errors import SourceContractError

log = logging.getLogger(__name__)

STREAM = "companies"
PORTFOLIO_COLUMNS = ("personal_reference", "free_text", "personal_limit")
"""The portfolio entry's own fields: where write-back puts the golden id and a note."""
_ENTRY_KEYS = {
    "personal_reference": "personalReference",
    "free_text": "freeText",
    "personal_limit": "personalLimit",
}


@dataclass
class PortfolioState:
    """Where a portfolio read stands: the event watermark and the companies already read."""

    since: datetime | None = None
    event_ids: set[str] = field(default_factory=set)
    known: set[str] = field(default_factory=set)
    dates: dict[str, datetime] = field(default_factory=dict, compare=False, repr=False)
    """Dates of the events met in this read (not saved); ids before `since` are dropped."""

    @classmethod
    def parse(cls, state: Mapping[str, Any], source: str | None) -> PortfolioState:
        """The state a previous read saved; a state of another shape is a contract error."""
        try:
            since = state.get("since")
            return cls(
                datetime.fromisoformat(iso_utc(since)) if since else None,
                {str(i) for i in state.get("event_ids", [])},
                {str(i) for i in state.get("known", [])},
            )
        except (AttributeError, TypeError, ValueError):
            raise SourceContractError(
                "the saved state is not a creditsafe portfolio state (since, event_ids, known); "
                "reset the stream's state for a full read",
                source=source,
            ) from None

    def dump(self) -> StreamState:
        """JSON for the hub to store with the batch."""
        return {
            "since": iso_utc(self.since) if self.since else None,
            "event_ids": sorted(self.event_ids),
            "known": sorted(self.known),
        }

    def after(self, event: Event, settled: datetime | None = None) -> None:
        """Mark `event` handled; the watermark follows it (oldest first), never past `settled`.

        `event_ids` keeps the handled events from `since` on, so those between the settle
        point and the newest event are not delivered again by the next read.
        """
        self.dates[event.event_id] = event.at
        self.event_ids.add(event.event_id)
        target = event.at if settled is None else min(event.at, settled)
        if self.since is None or target > self.since:
            self.since = target
            known = self.dates
            self.event_ids = {i for i in self.event_ids if i in known and known[i] >= target}

    def is_new(self, event: Event) -> bool:
        """An event not covered by this state: from `since` on and not handled yet."""
        return self.since is None or (
            event.at >= self.since and event.event_id not in self.event_ids
        )


class ReportFetcher:
    """Fetches reports and turns each into a record, or a rejection naming the company."""

    def __init__(self, api: CreditsafeApi, mapping: BureauMapping, columns: Sequence[str]) -> None:
        self.api, self.mapping, self.columns = api, mapping, tuple(columns)

    def batch(
        self,
        company_ids: Sequence[str],
        entries: Mapping[str, Mapping[str, Any]],
        state: StreamState,
    ) -> Batch:
        """One batch of the given companies' records, carrying `state`."""
        records: list[dict[str, Any]] = []
        positions: list[str] = []
        rejected: list[RejectedRecord] = []
        for company_id in company_ids:
            position = f"company {company_id}"
            try:
                report = self.api.report(company_id)
            except HttpAuthError as exc:
                if exc.status != 403:
                    raise
                # the login works (the listing did); this one report is outside the contract
                reason = "Creditsafe refused this report (403): not in the subscription?"
                rejected.append(RejectedRecord(position, reason, ""))
                continue
            if report is None:
                rejected.append(RejectedRecord(position, "Creditsafe has no report (404)", ""))
                continue
            try:
                record = self.mapping.record(report)
            except MappingError as exc:
                raw = json.dumps(report, default=str)[:2000]
                rejected.append(RejectedRecord(position, f"report does not fit: {exc}", raw))
                continue
            record.update(_entry_fields(entries.get(company_id)))
            records.append({c: record.get(c) for c in self.columns})
            positions.append(position)
        return Batch(records, state, rejected, positions)


class PortfolioReader:
    """Reads a monitoring portfolio: in full the first time, then by notification events."""

    def __init__(
        self,
        api: CreditsafeApi,
        fetcher: ReportFetcher,
        portfolio_id: str,
        *,
        max_reports: int,
        source: str | None,
        settle: timedelta = timedelta(0),
    ) -> None:
        self.api, self.fetcher, self.portfolio_id = api, fetcher, portfolio_id
        self.max_reports, self.source, self.settle = max_reports, source, settle

    def read(self, saved: StreamState | None) -> Iterator[Batch]:
        """Batches of at most `page_size` reports; the last one carries the final state."""
        first, started = not saved, datetime.now(UTC)
        state = self._start(started) if first else PortfolioState.parse(saved or {}, self.source)
        entries = self._entries()
        new = [c for c in entries if c not in state.known]
        events = [] if first else self._new_events(state)
        settled = self._settled(started)
        changed = {e.company_id for e in events if e.company_id in entries} - set(new)
        _check_budget(len(new) + len(changed), self.max_reports, self.source)
        size = self.api.page_size
        last: StreamState | None = None
        for chunk in _chunks(new, size):
            state.known.update(chunk)
            last = state.dump()
            yield self.fetcher.batch(chunk, entries, last)
        fetched = set(new)
        for chunk, covered in self._event_chunks(events, entries, fetched, size):
            for event in covered:
                state.after(event, settled)
            last = state.dump()
            yield self.fetcher.batch(chunk, entries, last)
        state.known = set(entries)  # companies removed from the portfolio are forgotten
        if state.dump() != last:
            yield Batch([], state.dump())

    def _start(self, started: datetime) -> PortfolioState:
        """The state of a first read: watch from the newest event there is now (or settled)."""
        latest = self.api.latest_events(self.portfolio_id)
        if not latest:
            return PortfolioState()
        since = min(max(e.at for e in latest), self._settled(started))
        dates = {e.event_id: e.at for e in latest if e.at >= since}
        return PortfolioState(since, set(dates), dates=dates)

    def _new_events(self, state: PortfolioState) -> list[Event]:
        """The events from `since` on not handled yet, oldest first; notes every date met."""
        events = self._events(state.since)
        state.dates.update((e.event_id, e.at) for e in events)
        return [e for e in events if state.is_new(e)]

    def _settled(self, started: datetime) -> datetime:
        """The newest time `since` may reach: Creditsafe's clock (else ours) minus the margin."""
        return (self.api.server_time or started) - self.settle

    def _entries(self) -> dict[str, dict[str, Any]]:
        entries: dict[str, dict[str, Any]] = {}
        for page in self.api.portfolio_companies(self.portfolio_id):
            for item in page.items:
                if item.get("id"):
                    entries.setdefault(str(item["id"]), item)
        return entries

    def _events(self, since: datetime | None) -> list[Event]:
        return self.api.events_since(self.portfolio_id, since)

    @staticmethod
    def _event_chunks(
        events: Sequence[Event],
        entries: Mapping[str, Any],
        fetched: set[str],
        size: int,
    ) -> Iterator[tuple[list[str], list[Event]]]:
        """(companies to fetch, events they cover), oldest first, each company once per read."""
        chunk: list[str] = []
        covered: list[Event] = []
        for event in events:
            covered.append(event)
            company = event.company_id
            if company in entries and company not in fetched:
                fetched.add(company)
                chunk.append(company)
            if len(chunk) == size:
                yield chunk, covered
                chunk, covered = [], []
        if covered:
            yield chunk, covered


class SearchReader:
    """Reads every company a search matches; the state only resumes a crashed read."""

    def __init__(
        self,
        api: CreditsafeApi,
        fetcher: ReportFetcher,
        criteria: Mapping[str, str],
        *,
        max_reports: int,
        source: str | None,
    ) -> None:
        self.api, self.fetcher, self.criteria = api, fetcher, criteria
        self.max_reports, self.source = max_reports, source

    def read(self, saved: StreamState | None) -> Iterator[Batch]:
        """Batches of reports; `{"done": [...]}` in between, `{}` once the read is complete."""
        done = {str(i) for i in (saved or {}).get("done", [])}
        matches = self._matches()
        todo = [c for c in matches if c not in done]
        _check_budget(len(todo), self.max_reports, self.source)
        chunks = list(_chunks(todo, self.api.page_size))
        for index, chunk in enumerate(chunks):
            done.update(chunk)
            state: StreamState = {} if index == len(chunks) - 1 else {"done": sorted(done)}
            yield self.fetcher.batch(chunk, {}, state)
        if not chunks:
            yield Batch([], {})

    def _matches(self) -> list[str]:
        """Ids of every match, in Creditsafe's order; refused early when there are too many."""
        ids: dict[str, None] = {}
        for page in self.api.search(self.criteria):
            if page.total is not None:
                _check_budget(page.total, self.max_reports, self.source)
            ids.update((str(c["id"]), None) for c in page.items if c.get("id"))
        return list(ids)


def _entry_fields(entry: Mapping[str, Any] | None) -> dict[str, Any]:
    if entry is None:
        return {}
    return {
        name: None if entry.get(key) in (None, "") else str(entry[key])
        for name, key in _ENTRY_KEYS.items()
    }


def _check_budget(reports: int, max_reports: int, source: str | None) -> None:
    """Refuse, before buying any, a read that needs more reports than `max_reports`."""
    if reports > max_reports:
        raise SourceContractError(
            f"this read needs {reports} company reports, more than max_reports={max_reports}; "
            "narrow the search or raise max_reports (each report costs Creditsafe credits)",
            source=source,
        )


def _chunks(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
