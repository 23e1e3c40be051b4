"""The `hubspot` connector: HubSpot CRM v3 contacts and companies, read and written back.

Everything goes through the shared `HttpClient`: retries of 429/5xx (HubSpot's rate-limit
headers are read when a 429 has no Retry-After), one rate budget per account host for all
calls plus a tighter one for searches, 401 -> AuthError, and messages without the token.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urlsplit

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
from crmhub.connectors.http import HttpAuthError, HttpClient, RateBudget, RetryPolicy
from crmhub.connectors.hubspot.config import HubSpotConfig
from crmhub.connectors.hubspot.reader import StreamReader
from crmhub.connectors.hubspot.streams import STREAMS, ObjectStream, record_columns
from crmhub.connectors.hubspot.writer import BatchWriter
from crmhub.errors import ConnectorError, SourceContractError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HubSpotRetryPolicy(RetryPolicy):
    """Retry-After when given; else, for a 429, the rate-limit window HubSpot reports.

    HubSpot's 429 often has no Retry-After but says `X-HubSpot-RateLimit-Remaining: 0` and the
    window length in `X-HubSpot-RateLimit-Interval-Milliseconds`: waiting one window is enough,
    and less than that is a wasted retry. A spent daily quota is not waited for.
    """

    def delay(self, retry: int, response: requests.Response | None) -> float:
        if response is not None and response.status_code == 429:
            headers = response.headers
            if "Retry-After" not in headers:
                if _is_daily_limit(response):
                    return self.max_retry_after + 1  # a day's wait: give up now
                interval = headers.get("X-HubSpot-RateLimit-Interval-Milliseconds", "")
                if headers.get("X-HubSpot-RateLimit-Remaining") == "0" and interval.isdigit():
                    return min(int(interval) / 1000.0, self.max_backoff)
        return super().delay(retry, response)


def _is_daily_limit(response: requests.Response) -> bool:
    if response.headers.get("X-HubSpot-RateLimit-Daily-Remaining") == "0":
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("policyName") == "DAILY"


def hubspot_error_code(response: requests.Response) -> str | None:
    """HubSpot's error category (e.g. VALIDATION_ERROR, RATE_LIMIT), never its message."""
    body = response.json()
    if not isinstance(body, dict):
        return None
    code = body.get("category") or body.get("errorType")
    return str(code) if code else None


class HubSpotConnector(Connector):
    """Reads contacts and companies (full list, then searches) and writes them back in batches.

    `default_mapping` is the contacts stream's; a source reading `companies` gives its own
    mapping (see the README for the companies table).
    """

    kind: ClassVar[str] = "hubspot"
    config_model: ClassVar[type[HubSpotConfig]] = HubSpotConfig
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.READ,
            Capability.INCREMENTAL,
            Capability.WRITE,
            Capability.AUTH,
            Capability.RETRY,
        }
    )
    default_mapping: ClassVar[dict[str, str]] = dict(STREAMS["contacts"].default_mapping)

    def __init__(
        self, config: HubSpotConfig, *, name: str | None = None, http: HttpClient | None = None
    ) -> None:
        super().__init__(config, name=name)
        self.config: HubSpotConfig = config
        self._http = http

    def check(self) -> CheckResult:
        """Fetch one object of each type, then look the configured properties up.

        The first proves the token and the read scope of each stream; an app granted one
        object type only (403 on the other) passes, with a note, since a source reads one
        stream. The second matters because HubSpot ignores property names it does not know:
        a misspelt one would read as an always-empty column. Looking properties up needs a
        schema scope (crm.schemas.contacts.read ...); without it the names are not checked,
        and the message says so.
        """
        notes: list[str] = []
        try:
            readable = [s for s in STREAMS if self._readable(s, notes)]
            if not readable:
                return CheckResult(ok=False, message=self._one_line_text("; ".join(notes)))
            for stream in readable:
                unknown = self._unknown_properties(stream)
                if unknown is None:
                    notes.append(f"{stream} property names not checked (no schema read scope)")
                elif unknown:
                    return CheckResult(ok=False, message=unknown)
        except ConnectorError as exc:
            return CheckResult(ok=False, message=self._one_line_text(str(exc)))
        return CheckResult(ok=True, message="; ".join([f"{', '.join(readable)} readable", *notes]))

    def _readable(self, stream: str, notes: list[str]) -> bool:
        """True when one object of `stream` can be fetched; a missing scope goes to `notes`."""
        try:
            self.http.get_json(f"crm/v3/objects/{stream}", params={"limit": 1})
        except HttpAuthError as exc:
            if exc.status != 403:
                raise
            notes.append(str(exc))
            return False
        return True

    def discover(self) -> list[StreamSpec]:
        """Both object types; the columns are the configured properties (no call needed)."""
        return [
            StreamSpec(
                name,
                ("id",),
                spec.modified_property,
                record_columns(self.config.properties(name)),
            )
            for name, spec in STREAMS.items()
        ]

    def read(self, stream: str, state: StreamState | None) -> Iterator[Batch]:
        """Full read from no state, else the objects modified since the state's cursor."""
        spec = self._stream(stream)
        cfg = self.config
        reader = StreamReader(
            self.http,
            spec,
            cfg.properties(stream),
            cfg.page_size,
            cfg.search_page_size,
            cfg.search_result_cap,
            RateBudget.shared(
                f"hubspot-search:{self._host}", per_second=cfg.search_requests_per_second
            ),
        )
        try:
            yield from reader.read(state)
        except SourceContractError as exc:
            if exc.source is None:
                raise SourceContractError(str(exc), source=self.name) from None
            raise

    def write(self, stream: str, rows: Sequence[Upsert]) -> WriteReport:
        """Update rows by HubSpot id, upsert the others by `id_property`; report each row."""
        spec = self._stream(stream)
        writer = BatchWriter(
            self.http,
            spec,
            self.config.stream(stream).id_property,
            self.config.write_batch_size,
        )
        return writer.write(rows)

    def close(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            self._http.close()
            self._http = None

    @property
    def http(self) -> HttpClient:
        """The client, built on first use (resolving the token then, not at config time)."""
        if self._http is None:
            cfg = self.config
            self._http = HttpClient(
                cfg.base_url,
                api="hubspot",
                auth=cfg.auth.build(source=self.name),
                timeout=(10.0, cfg.timeout),
                retry=HubSpotRetryPolicy(),
                budget=RateBudget.shared(
                    f"hubspot:{self._host}", per_second=cfg.requests_per_second
                ),
                source=self.name,
                vendor_code=hubspot_error_code,
            )
        return self._http

    @property
    def _host(self) -> str:
        return urlsplit(self.config.base_url).netloc

    def _stream(self, stream: str) -> ObjectStream:
        spec = STREAMS.get(stream)
        if spec is None:
            raise SourceContractError(
                f"unknown stream {stream!r}; HubSpot streams are {', '.join(STREAMS)}",
                source=self.name,
            )
        return spec

    def _unknown_properties(self, stream: str) -> str | None:
        """'' when every configured property exists, a message naming the others, or None
        when the token may not read the property definitions."""
        try:
            answer = self.http.get_json(f"crm/v3/properties/{stream}")
        except HttpAuthError as exc:
            if exc.status == 403:
                return None
            raise
        results = (answer or {}).get("results") or []
        known = {str(p["name"]) for p in results if isinstance(p, dict) and p.get("name")}
        missing = [p for p in self.config.properties(stream) if p not in known]
        if not missing:
            return ""
        hints = [
            f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)
            for name in missing
            for close in [difflib.get_close_matches(name, sorted(known), n=1)]
        ]
        return f"{self.name}: {stream} has no properties {', '.join(hints)}"

    @staticmethod
    def _one_line_text(text: str) -> str:
        return " ".join(text.split())
