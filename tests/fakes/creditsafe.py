"""A stateful fake of Creditsafe Connect (v1), following its public documentation.

Covers what the connector uses: ``POST /authenticate`` issuing JWTs that expire (the lifetime
is settable, so a test can watch a token run out), company search with page/pageSize (max
1000), company credit reports, monitoring portfolios with their companies (list, get, add,
update) and notification events. Tests change the state directly (`add_company`,
`change_company`), inject faults through `FakeServer.inject`, and can make reports carry a new
field (`drift`) or be malformed (`broken`).
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from tests.fakes.server import FakeServer, Request, Response

MAX_PAGE_SIZE = 1000


@dataclass
class FakeCompany:
    """One company as Creditsafe knows it; `report()` renders its credit report."""

    id: str
    name: str
    reg_no: str
    country: str = "GB"
    vat_no: str | None = None
    street: str = "1 High Street"
    city: str = "London"
    postal_code: str = "EC1A 1BB"
    phone: str | None = None
    email: str | None = None
    status: str = "Active"
    rating: str = "A"
    rating_description: str = "Very Low Risk"
    score: str = "85"
    credit_limit: str = "25000"
    currency: str = "GBP"
    rating_changed: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields added to `companySummary` (schema drift)."""
    broken: bool = False
    """A report without company id and with a credit limit that is not a number."""

    def report(self) -> dict[str, Any]:
        """The ``GET /companies/{id}`` body."""
        summary: dict[str, Any] = {
            "businessName": self.name,
            "country": self.country,
            "companyNumber": f"{self.country}{self.reg_no}",
            "companyRegistrationNumber": self.reg_no,
            "companyStatus": {"status": self.status, "description": f"{self.status} - filed"},
            "creditRating": {
                "commonValue": self.rating,
                "commonDescription": self.rating_description,
                "creditLimit": {"currency": self.currency, "value": self.credit_limit},
                "providerValue": {"maxValue": "100", "minValue": "1", "value": self.score},
                "providerDescription": self.rating_description,
            },
            **self.extra,
        }
        report: dict[str, Any] = {
            "companyId": self.id,
            "language": "EN",
            "companySummary": summary,
            "companyIdentification": {
                "basicInformation": {
                    "businessName": self.name,
                    "registeredCompanyName": self.name,
                    "companyRegistrationNumber": self.reg_no,
                    "country": self.country,
                    "vatRegistrationNumber": self.vat_no,
                    "companyStatus": {"status": self.status},
                }
            },
            "creditScore": {
                "currentCreditRating": summary["creditRating"],
                "latestRatingChangeDate": _iso(self.rating_changed),
            },
            "contactInformation": {
                "mainAddress": {
                    "type": "RegisteredAddress",
                    "simpleValue": f"{self.street}, {self.city}, {self.postal_code}",
                    "street": self.street,
                    "city": self.city,
                    "postalCode": self.postal_code,
                    "country": self.country,
                    "telephone": self.phone,
                },
                "emailAddresses": [self.email] if self.email else [],
            },
        }
        if self.broken:
            del report["companyId"]
            summary["creditRating"]["creditLimit"]["value"] = "n/a"
        return {"correlationId": secrets.token_hex(8), "report": report}

    def summary(self) -> dict[str, Any]:
        """The company as a search result lists it."""
        return {
            "id": self.id,
            "country": self.country,
            "regNo": self.reg_no,
            "safeNo": self.reg_no,
            "name": self.name,
            "address": {"simpleValue": f"{self.street}, {self.city}", "postCode": self.postal_code},
            "status": self.status,
            "type": "Ltd",
        }


@dataclass
class PortfolioEntry:
    """A company in a portfolio with the user's own reference, note and limit."""

    company_id: str
    personal_reference: str | None = None
    free_text: str | None = None
    personal_limit: str | None = None


@dataclass(frozen=True)
class FakeEvent:
    """A notification event: a monitored company changed at `at`."""

    event_id: int
    company_id: str
    portfolio_id: str
    at: datetime
    rule: str = "Credit Limit Change"


class CreditsafeFake(FakeServer):
    """Creditsafe Connect with one account; portfolios, companies and events in memory."""

    def __init__(self, *, username: str, password: str, token_lifetime: float = 3600.0) -> None:
        super().__init__()
        self.username, self.password = username, password
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, float] = {}
        """Every token issued -> its expiry (time.time())."""
        self.companies: dict[str, FakeCompany] = {}
        self.portfolios: dict[str, dict[str, PortfolioEntry]] = {}
        self.portfolio_names: dict[str, str] = {}
        self.events: list[FakeEvent] = []
        self.refuse_ids: set[str] = set()
        """Companies that POST .../companies refuses with a 400."""
        self.lose_add_answers = 0
        """Adds to a portfolio that are applied but answered with a 503 (a lost answer)."""
        self.unauthorized = 0
        """Requests refused with a 401 for a missing, unknown or expired token."""
        self._event_ids = itertools.count(1000)
        self._routes_()

    # -- state helpers for tests ------------------------------------------------------------
    def reset(self) -> None:
        """Forget every company, portfolio entry and event (tokens stay valid)."""
        self.companies.clear()
        self.events.clear()
        for entries in self.portfolios.values():
            entries.clear()

    def add_portfolio(self, portfolio_id: str, name: str = "Customers") -> None:
        """Create an empty portfolio."""
        self.portfolios.setdefault(portfolio_id, {})
        self.portfolio_names[portfolio_id] = name

    def add_company(
        self, company: FakeCompany, portfolio_id: str | None = None, **entry: Any
    ) -> None:
        """Add `company` to Creditsafe, and to a portfolio when given (no event: none is sent)."""
        self.companies[company.id] = company
        if portfolio_id is not None:
            self.portfolios[portfolio_id][company.id] = PortfolioEntry(company.id, **entry)

    def change_company(self, company_id: str, at: datetime, **changes: Any) -> list[FakeEvent]:
        """Change a company as of `at`; each portfolio watching it gets an event."""
        company = replace(self.companies[company_id], rating_changed=at, **changes)
        self.companies[company_id] = company
        return [
            self.add_event(company_id, pid, at)
            for pid, e in self.portfolios.items()
            if company_id in e
        ]

    def add_event(self, company_id: str, portfolio_id: str, at: datetime) -> FakeEvent:
        """Record a notification event without changing the company."""
        event = FakeEvent(next(self._event_ids), company_id, portfolio_id, at)
        self.events.append(event)
        return event

    def drift(self, **fields: Any) -> None:
        """Every report from now on carries `fields` in its companySummary (a new field)."""
        for company in self.companies.values():
            company.extra.update(fields)

    def revoke_tokens(self) -> None:
        """Invalidate every issued token (as if Creditsafe rotated its keys)."""
        for token in self.tokens:
            self.tokens[token] = 0.0

    def calls(self, method: str, path_prefix: str) -> list[Request]:
        """Requests seen with `method` whose path starts with `path_prefix`."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # -- routes -----------------------------------------------------------------------------
    def _routes_(self) -> None:
        self.route("POST", "/v1/authenticate")(self._authenticate)
        self.route("GET", "/v1/companies")(self._authed(self._search))
        self.route("GET", "/v1/companies/{id}")(self._authed(self._report))
        base = "/v1/monitoring/portfolios/{pid}"
        self.route("GET", base)(self._authed(self._portfolio))
        self.route("GET", base + "/companies")(self._authed(self._portfolio_companies))
        self.route("POST", base + "/companies")(self._authed(self._add_to_portfolio))
        self.route("GET", base + "/companies/{id}")(self._authed(self._portfolio_company))
        self.route("PATCH", base + "/companies/{id}")(self._authed(self._update_in_portfolio))
        self.route("GET", base + "/notificationEvents")(self._authed(self._events))
        self.route("GET", "/v1/monitoring/notificationEvents")(self._authed(self._events))

    def _authenticate(self, request: Request, _: dict[str, str]) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("username") != self.username or body.get("password") != self.password:
            return Response(401, {"message": "Invalid username or password", "details": None})
        expires = time.time() + self.token_lifetime
        token = make_jwt({"username": self.username, "exp": expires, "jti": secrets.token_hex(6)})
        self.tokens[token] = expires
        return Response(200, {"token": token})

    def _authed(self, handler: Any) -> Any:
        def checked(request: Request, params: dict[str, str]) -> Response:
            header = request.header("Authorization") or ""
            token = header.removeprefix("Bearer ").strip()
            if self.tokens.get(token, 0.0) <= time.time():
                self.unauthorized += 1
                return Response(401, {"message": "Unauthorized", "details": "token expired"})
            return handler(request, params)

        return checked

    def _search(self, request: Request, _: dict[str, str]) -> Response:
        countries = (request.param("countries") or "").upper().split(",")
        if not countries or not countries[0]:
            return Response(400, {"message": "countries is required"})
        page, size, error = _paging(request)
        if error:
            return error
        filters = {"regNo": "reg_no", "vatNo": "vat_no", "name": "name", "id": "id"}
        found = [
            c
            for c in self.companies.values()
            if c.country in countries
            and all(
                str(getattr(c, attr) or "").lower().startswith(request.param(param, "").lower())
                for param, attr in filters.items()
                if request.param(param)
            )
        ]
        chunk = found[(page - 1) * size : page * size]
        if not found:
            return Response(200, {"correlationId": "x", "totalSize": 0})
        return Response(
            200,
            {
                "correlationId": "x",
                "totalSize": len(found),
                "companies": [c.summary() for c in chunk],
            },
        )

    def _report(self, _: Request, params: dict[str, str]) -> Response:
        company = self.companies.get(params["id"])
        if company is None:
            return Response(404, {"message": "Company not found"})
        return Response(200, company.report())

    def _portfolio(self, _: Request, params: dict[str, str]) -> Response:
        if params["pid"] not in self.portfolios:
            return Response(404, {"message": "Portfolio not found"})
        pid = params["pid"]
        return Response(200, {"portfolioId": pid, "name": self.portfolio_names.get(pid, pid)})

    def _portfolio_companies(self, request: Request, params: dict[str, str]) -> Response:
        entries = self.portfolios.get(params["pid"])
        if entries is None:
            return Response(404, {"message": "Portfolio not found"})
        page, size, error = _paging(request)
        if error:
            return error
        rows = [self._entry(params["pid"], e) for e in entries.values()]
        return Response(200, _monitoring_page(rows, page, size))

    def _portfolio_company(self, _: Request, params: dict[str, str]) -> Response:
        entry = self.portfolios.get(params["pid"], {}).get(params["id"])
        if entry is None:
            return Response(404, {"message": "Company not found in portfolio"})
        return Response(200, {"correlationId": "x", **self._entry(params["pid"], entry)})

    def _add_to_portfolio(self, request: Request, params: dict[str, str]) -> Response:
        entries = self.portfolios.get(params["pid"])
        body = request.body if isinstance(request.body, dict) else {}
        company_id = str(body.get("id") or "")
        if entries is None:
            return Response(404, {"message": "Portfolio not found"})
        if company_id not in self.companies or company_id in self.refuse_ids:
            return Response(400, {"message": f"Invalid company id {company_id}"})
        if company_id in entries:
            return Response(409, {"message": "Company already exists in portfolio"})
        entries[company_id] = PortfolioEntry(
            company_id,
            body.get("personalReference"),
            body.get("freeText"),
            body.get("personalLimit"),
        )
        if self.lose_add_answers > 0:
            self.lose_add_answers -= 1
            return Response(503, {"message": "Service Unavailable"})
        return Response(201, {"correlationId": "x", "message": "Company added to portfolio"})

    def _update_in_portfolio(self, request: Request, params: dict[str, str]) -> Response:
        entry = self.portfolios.get(params["pid"], {}).get(params["id"])
        if entry is None:
            return Response(404, {"message": "Company not found in portfolio"})
        body = request.body if isinstance(request.body, dict) else {}
        for key, attr in (
            ("personalReference", "personal_reference"),
            ("freeText", "free_text"),
            ("personalLimit", "personal_limit"),
        ):
            if key in body:
                setattr(entry, attr, body[key])
        return Response(200, {"correlationId": "x", "message": "Company updated"})

    def _events(self, request: Request, params: dict[str, str]) -> Response:
        pid = params.get("pid")
        if pid is not None and pid not in self.portfolios:
            return Response(404, {"message": "Portfolio not found"})
        page, size, error = _paging(request)
        if error:
            return error
        events = [e for e in self.events if pid is None or e.portfolio_id == pid]
        start = request.param("startDate")
        if start:
            since = datetime.fromisoformat(start)
            events = [e for e in events if e.at >= since]
        if request.param("sortBy") == "eventDate":
            events.sort(key=lambda e: e.at, reverse=request.param("sortDir") == "desc")
        rows = [self._event(e) for e in events]
        return Response(200, _monitoring_page(rows, page, size))

    def _entry(self, pid: str, entry: PortfolioEntry) -> dict[str, Any]:
        company = self.companies.get(entry.company_id)
        return {
            "id": entry.company_id,
            "safeNumber": company.reg_no if company else None,
            "name": company.name if company else None,
            "countryCode": company.country if company else None,
            "portfolioId": int(pid) if pid.isdigit() else pid,
            "creditLimit": float(company.credit_limit) if company and not company.broken else None,
            "ratingCommon": company.rating if company else None,
            "personalReference": entry.personal_reference,
            "freeText": entry.free_text,
            "personalLimit": entry.personal_limit,
        }

    def _event(self, event: FakeEvent) -> dict[str, Any]:
        company = self.companies.get(event.company_id)
        return {
            "company": {
                "id": event.company_id,
                "safeNumber": company.reg_no if company else None,
                "name": company.name if company else None,
                "countryCode": company.country if company else None,
                "portfolioId": int(event.portfolio_id) if event.portfolio_id.isdigit() else None,
            },
            "eventId": float(event.event_id),
            "eventDate": _iso(event.at).removesuffix("Z"),
            "notificationEventId": event.event_id * 10,
            "ruleName": event.rule,
            "isProcessed": False,
        }


def _paging(request: Request) -> tuple[int, int, Response | None]:
    try:
        page = int(request.param("page", "1") or 1)
        size = int(request.param("pageSize", "50") or 50)
    except ValueError:
        return 0, 0, Response(400, {"message": "page and pageSize must be numbers"})
    if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        return 0, 0, Response(400, {"message": f"pageSize must be 1..{MAX_PAGE_SIZE}"})
    return page, size, None


def _monitoring_page(rows: list[dict[str, Any]], page: int, size: int) -> dict[str, Any]:
    last = max(1, -(-len(rows) // size))
    return {
        "correlationId": "x",
        "totalCount": len(rows),
        "paging": {
            "size": size,
            "prev": page - 1 if page > 1 else None,
            "next": page + 1 if page < last else None,
            "last": last,
        },
        "data": rows[(page - 1) * size : page * size],
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any] | bytes) -> str:
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return ".".join(
        [part({"alg": "HS256", "typ": "JWT"}), part(claims), part(secrets.token_bytes(16))]
    )
