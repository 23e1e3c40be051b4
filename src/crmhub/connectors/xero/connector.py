"""The `xero` connector: the Contacts of one Xero organisation, read incrementally, written back.

Everything HTTP (timeouts, retries with Retry-After, the token refresh after a 401, redacted
messages) is the shared client's; this module only knows Xero: the tenant header, the paging
and ordering parameters, the error body, and which stream exists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import requests

from crmhub.connectors.base import (
    Batch,
    Capability,
    CheckResult,
    Connector,
    StreamSpec,
    StreamState,
    Upsert,
    WriteReport,
)
from crmhub.connectors.http import HttpClient, RateBudget, RetryPolicy
from crmhub.connectors.xero.config import XERO_PAGE_SIZE, XeroConfig
from crmhub.connectors.xero.records import COLUMNS, CURSOR, DOCUMENTED_SCALARS, KEY
from crmhub.connectors.xero.streams import ContactsReader, Page, StateError
from crmhub.connectors.xero.writer import ContactsWriter
from crmhub.errors import ConnectorError, SourceContractError

log = logging.getLogger(__name__)

STREAM = "contacts"


class XeroConnector(Connector):
    """Reads Xero contacts as flat records and upserts chosen fields back by ContactID."""

    kind: ClassVar[str] = "xero"
    config_model: ClassVar[type[XeroConfig]] = XeroConfig
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.READ,
            Capability.INCREMENTAL,
            Capability.WRITE,
            Capability.AUTH,
            Capability.RETRY,
        }
    )
    default_mapping: ClassVar[Mapping[str, str | Sequence[str]]] = {
        "first_name": "FirstName",
        "last_name": "LastName",
        "email": "EmailAddress",
        "phone": "Phone",
        "street": "Street",
        "city": "City",
        "postal_code": "PostalCode",
        "country": "Country",
        "company": "Name",
        "tax_id": "TaxNumber",
        "balance": "Balance",
        "source_updated_at": "UpdatedDateUTC",
    }

    def __init__(self, config: XeroConfig, *, name: str | None = None) -> None:
        super().__init__(config, name=name)
        self.config: XeroConfig = config
        self._http: HttpClient | None = None

    def check(self) -> CheckResult:
        """Log in and read one contact; a refused login or unreachable API is one line."""
        try:
            self._get_contacts({"page": 1, "pageSize": 1}, headers={})
        except ConnectorError as exc:
            return CheckResult(ok=False, message=str(exc))
        return CheckResult(ok=True, message="contacts readable")

    def discover(self) -> list[StreamSpec]:
        """One stream, `contacts`, keyed by ContactID with UpdatedDateUTC as its cursor."""
        return [StreamSpec(STREAM, (KEY,), CURSOR, COLUMNS + DOCUMENTED_SCALARS)]

    def read(self, stream: str, state: StreamState | None) -> Iterator[Batch]:
        """Contacts changed since `state` (all when None), one batch per page."""
        self._check_stream(stream)
        reader = ContactsReader(
            self._fetch_page,
            page_size=self.config.page_size,
            lookback_seconds=self.config.lookback_seconds,
            source=self.name,
        )
        try:
            yield from reader.read(state)
        except StateError as exc:
            raise SourceContractError(
                f"stored state of {stream!r}: {exc}", source=self.name
            ) from None

    def write(self, stream: str, rows: Sequence[Upsert]) -> WriteReport:
        """Upsert `rows` (ContactID as external id; None creates a contact)."""
        self._check_stream(stream)
        writer = ContactsWriter(self._client(), batch_size=self.config.batch_size, source=self.name)
        return writer.write(rows)

    def close(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- internals ------------------------------------------------------------------------------
    def _fetch_page(self, since: datetime | None, page: int) -> Page:
        params: dict[str, Any] = {"page": page, "order": "UpdatedDateUTC ASC"}
        if self.config.page_size != XERO_PAGE_SIZE:
            params["pageSize"] = self.config.page_size
        if self.config.include_archived:
            params["includeArchived"] = "true"
        headers = {"If-Modified-Since": since.isoformat()} if since is not None else {}
        return self._get_contacts(params, headers=headers)

    def _get_contacts(self, params: dict[str, Any], *, headers: dict[str, str]) -> Page:
        """One GET /Contacts: its contacts and the page size Xero reports (if it does)."""
        body = self._client().get_json("Contacts", params=params, headers=headers)
        contacts = body.get("Contacts") if isinstance(body, dict) else None
        if not isinstance(contacts, list):
            raise SourceContractError(
                "GET /Contacts answered without a Contacts list", source=self.name
            )
        pagination = body.get("pagination")
        size = pagination.get("pageSize") if isinstance(pagination, dict) else None
        used = size if isinstance(size, int) and size > 0 else None
        return [c if isinstance(c, dict) else {"unexpected": c} for c in contacts], used

    def _client(self) -> HttpClient:
        if self._http is None:
            cfg = self.config
            tenant = cfg.tenant_id or "custom-connection"
            budget = None
            if cfg.calls_per_minute is not None:
                budget = RateBudget.shared(f"xero:{tenant}", per_minute=cfg.calls_per_minute)
            self._http = HttpClient(
                cfg.base_url,
                api=f"xero:{tenant}",
                auth=cfg.auth.build(source=self.name),
                timeout=(10.0, cfg.timeout_seconds),
                retry=RetryPolicy(attempts=cfg.retry_attempts),
                budget=budget,
                headers={"xero-tenant-id": cfg.tenant_id} if cfg.tenant_id else {},
                source=self.name,
                vendor_code=xero_error_code,
            )
        return self._http

    def _check_stream(self, stream: str) -> None:
        if stream != STREAM:
            raise SourceContractError(
                f"unknown stream {stream!r}; a Xero source has only {STREAM!r}", source=self.name
            )


def xero_error_code(response: requests.Response) -> str | None:
    """Xero's own error code of a failed call, for messages (never its free text).

    The Accounting API answers `{"ErrorNumber": 10, "Type": "ValidationException", ...}`; the
    gateway answers 401/403 with a problem document whose `Detail` is a code such as
    `AuthenticationUnsuccessful`; a 429 names the exhausted limit in `X-Rate-Limit-Problem`.
    """
    problem = response.headers.get("X-Rate-Limit-Problem")
    if problem:
        return f"rate limit {problem}"
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if body.get("ErrorNumber") is not None:
        return f"{body['ErrorNumber']} {body.get('Type') or ''}".strip()
    for name in ("Detail", "Type", "Title"):
        value = body.get(name)
        if isinstance(value, str) and value and " " not in value.strip():
            return value.strip()
    return None
