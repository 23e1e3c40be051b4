"""The Creditsafe Connect calls the connector makes, with their paging, over the shared client.

Creditsafe pages with ``page`` (from 1) and ``pageSize``; list answers carry a total
(`totalSize` for searches, `totalCount` for monitoring) and monitoring answers a `paging`
block. Paging stops at the first short or empty page, when the total is reached, or when
`paging.next` is null, whichever comes first, so a total that is missing or wrong cannot make
a read loop forever.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from crmhub.connectors.credit import iso_utc
from crmhub.connectors.http import HttpClient, HttpStatusError
from crmhub.errors import SourceContractError

log = logging.getLogger(__name__)

MAX_PAGES = 100_000
"""A paging loop that goes beyond this is a broken contract, not a big portfolio."""


@dataclass(frozen=True)
class Listing:
    """One page of a list call: its items and the total the API announced (if any)."""

    items: list[dict[str, Any]]
    total: int | None
    has_next: bool | None


@dataclass(frozen=True)
class Event:
    """A monitoring notification event: which company changed, when, under which id."""

    event_id: str
    company_id: str
    at: datetime


class CreditsafeApi:
    """Typed access to the endpoints the connector uses; errors are the client's."""

    def __init__(self, http: HttpClient, *, page_size: int, language: str) -> None:
        self.http = http
        self.page_size = page_size
        self.language = language
        self.server_time: datetime | None = None
        """Creditsafe's clock (the Date header) at the latest list answer; None before one."""

    # -- companies --------------------------------------------------------------------------
    def search(self, criteria: Mapping[str, str]) -> Iterator[Listing]:
        """Pages of ``GET /companies`` for `criteria`."""
        yield from self._pages("companies", dict(criteria), "companies", "totalSize")

    def report(self, company_id: str) -> Any | None:
        """``GET /companies/{id}``: the credit report, or None when Creditsafe has none (404)."""
        path = f"companies/{quote(company_id, safe='')}"
        try:
            return self.http.get_json(path, params={"language": self.language})
        except HttpStatusError as exc:
            if exc.status == 404:
                return None
            raise

    # -- monitoring -------------------------------------------------------------------------
    def portfolio(self, portfolio_id: str) -> Any:
        """``GET /monitoring/portfolios/{id}`` (a 404 means no such portfolio)."""
        return self.http.get_json(_portfolio(portfolio_id))

    def portfolio_companies(self, portfolio_id: str) -> Iterator[Listing]:
        """Pages of the companies in a portfolio, with their personal reference and note."""
        yield from self._pages(f"{_portfolio(portfolio_id)}/companies", {}, "data", "totalCount")

    def portfolio_company(self, portfolio_id: str, company_id: str) -> dict[str, Any] | None:
        """One company's portfolio entry, or None when it is not in the portfolio."""
        path = f"{_portfolio(portfolio_id)}/companies/{quote(company_id, safe='')}"
        try:
            body = self.http.get_json(path)
        except HttpStatusError as exc:
            if exc.status == 404:
                return None
            raise
        return body if isinstance(body, dict) else None

    def add_to_portfolio(self, portfolio_id: str, entry: Mapping[str, Any]) -> None:
        """``POST .../companies``: add a company with its personal reference and note."""
        self.http.request(
            "POST", f"{_portfolio(portfolio_id)}/companies", json=dict(entry), idempotent=True
        )

    def update_in_portfolio(
        self, portfolio_id: str, company_id: str, changes: Mapping[str, Any]
    ) -> None:
        """``PATCH .../companies/{id}``: set the reference and note (repeatable as is)."""
        path = f"{_portfolio(portfolio_id)}/companies/{quote(company_id, safe='')}"
        self.http.request("PATCH", path, json=dict(changes), idempotent=True)

    def latest_events(self, portfolio_id: str) -> list[Event]:
        """The newest events of a portfolio (one page, newest first), to start watching from."""
        params = {"sortBy": "eventDate", "sortDir": "desc"}
        path = f"{_portfolio(portfolio_id)}/notificationEvents"
        first = next(self._pages(path, params, "data", "totalCount"), None)
        return [e for item in (first.items if first else []) if (e := _event(item))]

    def events_since(self, portfolio_id: str, since: datetime | None) -> list[Event]:
        """Every event of a portfolio from `since` on (all of them when None), oldest first."""
        params = {"sortBy": "eventDate", "sortDir": "asc"}
        if since is not None:
            params["startDate"] = iso_utc(since).replace("+00:00", "Z")
        path = f"{_portfolio(portfolio_id)}/notificationEvents"
        events = [
            e
            for page in self._pages(path, params, "data", "totalCount")
            for item in page.items
            if (e := _event(item))
        ]
        return sorted(events, key=lambda e: (e.at, e.event_id))

    # -- paging -----------------------------------------------------------------------------
    def _pages(
        self, path: str, params: dict[str, str], items_key: str, total_key: str
    ) -> Iterator[Listing]:
        seen = 0
        for page in range(1, MAX_PAGES + 1):
            response = self.http.request(
                "GET", path, params={**params, "page": page, "pageSize": self.page_size}
            )
            self.server_time = _date_header(response.headers.get("Date")) or self.server_time
            body = self.http.json_of(response, "GET", path)
            listing = _listing(body, items_key, total_key, path)
            yield listing
            seen += len(listing.items)
            if (
                len(listing.items) < self.page_size
                or (listing.total is not None and seen >= listing.total)
                or listing.has_next is False
            ):
                return
        raise SourceContractError(f"GET /{path}: more than {MAX_PAGES} pages; paging is broken")


def _portfolio(portfolio_id: str) -> str:
    return f"monitoring/portfolios/{quote(portfolio_id, safe='')}"


def _listing(body: Any, items_key: str, total_key: str, path: str) -> Listing:
    items = body.get(items_key) if isinstance(body, dict) else None
    if items is None and isinstance(body, dict) and not body.get(total_key):
        items = []  # Creditsafe leaves the list out when nothing matches
    if not isinstance(items, list):
        raise SourceContractError(f"GET /{path}: the answer has no '{items_key}' list")
    total = body.get(total_key)
    paging = body.get("paging")
    has_next = None
    if isinstance(paging, dict) and "next" in paging:
        has_next = paging["next"] is not None
    return Listing(
        [i for i in items if isinstance(i, dict)],
        int(total) if isinstance(total, int | float) else None,
        has_next,
    )


def _date_header(value: str | None) -> datetime | None:
    """An HTTP Date header as an aware UTC time; None when missing or malformed."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _event(item: dict[str, Any]) -> Event | None:
    """An event from its JSON; None (logged) when it lacks an id, a company or a date."""
    company = item.get("company")
    company = company if isinstance(company, dict) else {}
    event_id = item.get("eventId", item.get("notificationEventId"))
    company_id = company.get("id") or item.get("companyId")
    try:
        at = datetime.fromisoformat(iso_utc(item.get("eventDate")))
    except ValueError:
        at = None
    if event_id is None or not company_id or at is None:
        log.warning("skipping a notification event without id, company or date")
        return None
    return Event(_id_text(event_id), str(company_id), at)


def _id_text(value: Any) -> str:
    """Event ids come as numbers (sometimes 1234.0); keep them as stable text."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
