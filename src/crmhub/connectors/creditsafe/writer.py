"""Write-back: put companies into a monitoring portfolio, with the golden id as their reference.

Creditsafe has no customer records to update; what a hub can usefully write is "watch this
company for me, and remember it as golden record X": the company is added to a portfolio with
`personalReference` = the golden id. The portfolio is listed once up front (a page holds up to
1000 companies), so a company already there with the same values costs no request and is
`unchanged`; one that differs is updated with PATCH, a missing one added with POST. A 4xx for
one company rejects that row only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from crmhub.connectors.base import RowResult, RowStatus, Upsert, WriteReport
from crmhub.connectors.creditsafe.api import CreditsafeApi
from crmhub.connectors.http import HttpStatusError

log = logging.getLogger(__name__)

WRITABLE = {
    "personal_reference": "personalReference",
    "free_text": "freeText",
    "personal_limit": "personalLimit",
}
"""Record field -> portfolio entry field that write-back may set."""


class PortfolioWriter:
    """Adds or updates companies of one portfolio, one request per company that changes."""

    def __init__(
        self, api: CreditsafeApi, portfolio_id: str, *, free_text: str | None = None
    ) -> None:
        self.api, self.portfolio_id, self.free_text = api, portfolio_id, free_text

    def write(self, rows: Sequence[Upsert]) -> WriteReport:
        """Apply `rows` in order and report each one."""
        planned: list[tuple[Upsert, dict[str, str] | str]] = [(r, self._plan(r)) for r in rows]
        wanted = {r.external_id for r, p in planned if isinstance(p, dict) and r.external_id}
        current = self._current(wanted)
        results = [self._apply(row, plan, current) for row, plan in planned]
        counts = {s.value: sum(r.status is s for r in results) for s in RowStatus}
        log.info("portfolio %s write-back: %s", self.portfolio_id, counts)
        return WriteReport(results)

    def _plan(self, row: Upsert) -> dict[str, str] | str:
        """The entry fields to set, or why the row cannot be written."""
        if not row.external_id:
            return "Creditsafe companies cannot be created; write back companies read from it"
        unknown = sorted(set(row.fields) - set(WRITABLE))
        if unknown:
            return (
                f"field(s) {', '.join(unknown)} cannot be written to a Creditsafe portfolio; "
                f"writable: {', '.join(sorted(WRITABLE))}"
            )
        values = {"personal_reference": row.golden_id, "free_text": self.free_text}
        values.update(row.fields)
        return {WRITABLE[k]: _text(v) for k, v in values.items() if v is not None}

    def _current(self, wanted: set[str]) -> dict[str, dict[str, Any]]:
        """Portfolio entries of the `wanted` companies: listed, or fetched one by one if fewer.

        Listing costs one request per page of the portfolio, fetching one per company, so
        after the first page the cheaper of the two is used.
        """
        found: dict[str, dict[str, Any]] = {}
        if not wanted:
            return found
        pages = self.api.portfolio_companies(self.portfolio_id)
        first = next(pages)
        found.update(_by_id(first.items, wanted))
        missing = wanted - set(found)
        remaining_pages = -(-((first.total or 0) - len(first.items)) // self.api.page_size)
        if remaining_pages <= len(missing):
            for page in pages:
                found.update(_by_id(page.items, wanted))
            return found
        for company_id in sorted(missing):
            entry = self.api.portfolio_company(self.portfolio_id, company_id)
            if entry is not None:
                found[company_id] = entry
        return found

    def _apply(
        self, row: Upsert, plan: dict[str, str] | str, current: dict[str, dict[str, Any]]
    ) -> RowResult:
        if isinstance(plan, str):
            return _result(row, RowStatus.REJECTED, plan)
        company_id = str(row.external_id)
        entry = current.get(company_id)
        if entry is not None and all(_text(entry.get(k)) == v for k, v in plan.items()):
            return _result(row, RowStatus.UNCHANGED)
        try:
            if entry is None:
                self.api.add_to_portfolio(self.portfolio_id, {"id": company_id, **plan})
            else:
                self.api.update_in_portfolio(self.portfolio_id, company_id, plan)
        except HttpStatusError as exc:
            if not 400 <= exc.status < 500:
                raise
            if entry is None and self._was_added(company_id, plan):
                return _result(row, RowStatus.APPLIED)  # an earlier attempt's answer was lost
            return _result(row, RowStatus.REJECTED, _refusal(exc))
        current[company_id] = {**(entry or {}), **plan}
        return _result(row, RowStatus.APPLIED)

    def _was_added(self, company_id: str, plan: dict[str, str]) -> bool:
        """After a refused add: is the company there with our values (a retried POST)?"""
        entry = self.api.portfolio_company(self.portfolio_id, company_id)
        return entry is not None and all(_text(entry.get(k)) == v for k, v in plan.items())


def _by_id(items: list[dict[str, Any]], wanted: set[str]) -> dict[str, dict[str, Any]]:
    return {str(i["id"]): i for i in items if str(i.get("id")) in wanted}


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _refusal(exc: HttpStatusError) -> str:
    """Why Creditsafe refused one company: status plus its short message, if it gave one."""
    try:
        body = exc.response.json()
    except ValueError:
        body = None
    detail = (body.get("message") or body.get("details")) if isinstance(body, dict) else None
    reason = f"Creditsafe refused the company: {exc.status}"
    return f"{reason} ({str(detail)[:200]})" if detail else reason


def _result(row: Upsert, status: RowStatus, reason: str = "") -> RowResult:
    return RowResult(row.external_id, row.idempotency_key, status, reason)
