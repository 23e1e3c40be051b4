"""The `quickbooks` connector: QuickBooks Online Accounting v3 Customers of one company.

Reads go through the query endpoint (keyset pages by LastUpdatedTime) or, for a bookmark inside
CDC's 30-day window, through change data capture; writes are sparse updates guarded by the
customer's SyncToken and made retry-safe with QBO's `requestid`. All HTTP goes through the
shared client: OAuth2 with a rotating refresh token, 429/5xx retries honouring Retry-After, and
a rate budget per company (QBO throttles at 500 requests a minute per realm).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
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
from crmhub.connectors.http import HttpClient, RateBudget
from crmhub.connectors.quickbooks.config import (
    BATCH_PER_MINUTE,
    CDC_MAX_ENTITIES,
    QuickBooksConfig,
)
from crmhub.connectors.quickbooks.records import CURSOR, KEY, GoldenIdSlot, stable_columns
from crmhub.connectors.quickbooks.streams import ReadPlan, query_entities, read_customers
from crmhub.connectors.quickbooks.writing import CustomerWriter
from crmhub.errors import ConnectorError, SourceContractError

log = logging.getLogger(__name__)

STREAM = "customers"


class QuickBooksConnector(Connector):
    """Customers of one QBO company: incremental reads, sparse-update write-back."""

    kind: ClassVar[str] = "quickbooks"
    config_model: ClassVar[type[QuickBooksConfig]] = QuickBooksConfig
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
        "first_name": "GivenName",
        "last_name": "FamilyName",
        "email": "PrimaryEmailAddr",
        "phone": "PrimaryPhone",
        "street": "BillAddrLine1",
        "city": "BillAddrCity",
        "postal_code": "BillAddrPostalCode",
        "country": "BillAddrCountry",
        "company": "CompanyName",
        "tax_id": "PrimaryTaxIdentifier",
        "balance": "Balance",
        "source_updated_at": "LastUpdatedTime",
    }

    def __init__(
        self,
        config: QuickBooksConfig,
        *,
        name: str | None = None,
        http: HttpClient | None = None,
    ) -> None:
        super().__init__(config, name=name)
        self.config: QuickBooksConfig = config
        self.slot = GoldenIdSlot(config.golden_id_column, config.golden_id_store)
        self._http = http

    def check(self) -> CheckResult:
        """Log in (refreshing the access token) and read one customer."""
        try:
            body = self._get("query", {"query": "select * from Customer MAXRESULTS 1"})
            query_entities(body)
        except ConnectorError as exc:
            return CheckResult(ok=False, message=str(exc))
        return CheckResult(ok=True, message=f"company {self.config.realm_id}: customers readable")

    def discover(self) -> list[StreamSpec]:
        """The one stream, `customers`, keyed by Id with LastUpdatedTime as cursor."""
        columns = stable_columns(self.config.golden_id_column)
        return [StreamSpec(STREAM, (KEY,), CURSOR, columns)]

    def read(self, stream: str, state: StreamState | None) -> Iterator[Batch]:
        """Customers changed since `state` (every customer when None), one batch per page."""
        self._check_stream(stream)
        cfg = self.config
        plan = ReadPlan(
            fetch=self._get,
            slot=self.slot,
            page_size=cfg.page_size,
            use_cdc=cfg.use_cdc,
            include_inactive=cfg.include_inactive,
            cdc_limit=CDC_MAX_ENTITIES,
        )
        yield from read_customers(plan, state)

    def write(self, stream: str, rows: Sequence[Upsert]) -> WriteReport:
        """Sparse-update (or create, without external id) each row; see `writing`."""
        self._check_stream(stream)
        writer = CustomerWriter(
            lambda text: self._get("query", {"query": text}),
            lambda body, rid: self._post("customer", body, rid),
            self._post_batch,
            self.slot,
            self.config.write_batch_size,
        )
        return writer.write(rows)

    def close(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- HTTP --------------------------------------------------------------------------------
    def _client(self) -> HttpClient:
        if self._http is None:
            cfg = self.config
            api = f"quickbooks:{cfg.realm_id}"
            self._http = HttpClient(
                cfg.base_url,
                api=api,
                auth=cfg.auth.build(source=self.name),
                timeout=(10.0, cfg.timeout),
                budget=RateBudget.shared(api, per_minute=cfg.requests_per_minute),
                source=self.name,
                vendor_code=vendor_code,
            )
        return self._http

    def _path(self, endpoint: str) -> str:
        return f"v3/company/{self.config.realm_id}/{endpoint}"

    def _get(self, endpoint: str, params: Mapping[str, Any]) -> Any:
        query = {**params, "minorversion": str(self.config.minor_version)}
        return self._client().get_json(self._path(endpoint), params=query)

    def _post_batch(self, body: dict[str, Any], requestid: str) -> Any:
        RateBudget.shared(
            f"quickbooks-batch:{self.config.realm_id}", per_minute=BATCH_PER_MINUTE
        ).acquire()
        return self._post("batch", body, requestid)

    def _post(self, endpoint: str, body: dict[str, Any], requestid: str) -> Any:
        """POST with `requestid`: QBO answers a repeat with the first answer, so retry is safe."""
        http = self._client()
        path = self._path(endpoint)
        params = {"minorversion": str(self.config.minor_version), "requestid": requestid}
        response = http.request(
            "POST",
            path,
            params=params,
            json=body,
            idempotency_key=requestid,
            idempotency_header="Request-Id",
        )
        return http.json_of(response, "POST", path)

    def _check_stream(self, stream: str) -> None:
        if stream != STREAM:
            raise SourceContractError(
                f"unknown stream {stream!r}; quickbooks offers only {STREAM!r}", source=self.name
            )


def vendor_code(response: requests.Response) -> str | None:
    """QBO's error code: `Fault.Error[0].code` (401 answers spell it `fault.error[0].code`)."""
    body = response.json()
    fault = body.get("Fault") or body.get("fault") or {}
    errors = fault.get("Error") or fault.get("error") or []
    code = errors[0].get("code") if errors else None
    return None if code is None else str(code)
