"""The declarative `rest` connector: any JSON REST API described in hub.yaml, no code.

Everything vendor-specific is configuration (paths, record selector, paging, incremental
parameter, write templates); everything that must be right for every API lives in the shared
HTTP client (timeouts, retries with Retry-After, rate budget, token refresh, redaction).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import requests

from crmhub.config.secrets import SecretRef
from crmhub.connectors.auth import (
    ApiKeyConfig,
    BasicConfig,
    BearerConfig,
    OAuth2ClientCredentialsConfig,
    OAuth2RefreshTokenConfig,
)
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
from crmhub.connectors.rest.config import RestConfig, StreamConfig
from crmhub.connectors.rest.selector import flatten, select_path
from crmhub.connectors.rest.streams import StreamReader
from crmhub.connectors.rest.writeback import RowWriter
from crmhub.errors import AuthError, ConnectorError, SourceContractError

log = logging.getLogger(__name__)


class RestConnector(Connector):
    """Reads (incrementally) and writes back the streams of one REST API."""

    kind: ClassVar[str] = "rest"
    config_model: ClassVar[type[RestConfig]] = RestConfig
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.READ,
            Capability.INCREMENTAL,
            Capability.WRITE,
            Capability.AUTH,
            Capability.RETRY,
        }
    )

    def __init__(
        self, config: RestConfig, *, name: str | None = None, http: HttpClient | None = None
    ) -> None:
        super().__init__(config, name=name)
        self.config: RestConfig = config
        self._http = http

    @property
    def http(self) -> HttpClient:
        """The HTTP client, built on first use (secrets are resolved only then)."""
        if self._http is None:
            self._http = build_client(self.config, self.name)
        return self._http

    def check(self) -> CheckResult:
        """GET the first stream's first page; a refusal names the auth style, never a secret."""
        stream = self.config.streams[0]
        try:
            records = StreamReader(self.http, stream, self.name).first_page()
        except AuthError as exc:
            detail = str(exc).removeprefix(f"{exc.source}: ") if exc.source else str(exc)
            style = describe_auth(self.config)
            return CheckResult(False, f"{self.name}: authentication failed ({style}): {detail}")
        except ConnectorError as exc:
            return CheckResult(False, str(exc))
        return CheckResult(True, f"{stream.name!r}: first page has {len(records)} records")

    def discover(self) -> list[StreamSpec]:
        """Each stream with its key, cursor and columns (`fields`, else the first page's)."""
        return [self._spec(stream) for stream in self.config.streams]

    def read(self, stream: str, state: StreamState | None) -> Iterator[Batch]:
        """Batches of `stream` from `state` on; each batch's state resumes right after it."""
        reader = StreamReader(self.http, self._stream(stream), self.name)
        yield from reader.read(state)

    def write(self, stream: str, rows: Sequence[Upsert]) -> WriteReport:
        """Write `rows` back through the stream's `write` templates; one outcome per row."""
        config = self._stream(stream)
        if config.write is None:
            raise SourceContractError(
                f"stream {stream!r} has no 'write' settings; add write: {{path: ...}} to it "
                "or disable write-back for this source",
                source=self.name,
            )
        return RowWriter(self.http, config.write, self.name).write(rows)

    def close(self) -> None:
        """Close pooled connections."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def _spec(self, stream: StreamConfig) -> StreamSpec:
        wanted = [*stream.key_fields, *([stream.cursor_field] if stream.cursor_field else [])]
        if stream.fields is not None:
            columns = list(stream.fields)
        else:
            raw = StreamReader(self.http, stream, self.name).first_page()
            columns = list({k: None for r in raw if isinstance(r, dict) for k in flatten(r)})
        columns += [c for c in wanted if c not in columns]
        return StreamSpec(stream.name, stream.key_fields, stream.cursor_field, tuple(columns))

    def _stream(self, name: str) -> StreamConfig:
        try:
            return self.config.stream(name)
        except KeyError:
            names = ", ".join(repr(s.name) for s in self.config.streams)
            raise SourceContractError(
                f"unknown stream {name!r}; this source has {names}", source=self.name
            ) from None


def build_client(config: RestConfig, source: str | None) -> HttpClient:
    """The shared HTTP client configured from the connector's block."""
    auth = config.auth.build(source=source) if config.auth is not None else None
    budget = None
    if config.rate_limit is not None:
        limit = config.rate_limit
        budget = RateBudget.shared(
            config.api_name, per_second=limit.per_second, per_minute=limit.per_minute
        )
    return HttpClient(
        config.base_url,
        api=config.api_name,
        auth=auth,
        timeout=config.timeout,
        retry=retry_policy(config),
        budget=budget,
        headers=config.headers,
        source=source,
        vendor_code=_vendor_code(config.error_code_path),
    )


def retry_policy(config: RestConfig) -> RetryPolicy:
    """The client's default policy with the config's overrides."""
    if config.retry is None:
        return RetryPolicy()
    overrides: dict[str, Any] = {
        k: v for k, v in config.retry.model_dump().items() if v is not None
    }
    if "statuses" in overrides:
        overrides["statuses"] = frozenset(overrides["statuses"])
    return RetryPolicy(**overrides)


def describe_auth(config: RestConfig) -> str:
    """The auth style and where its secret comes from, for messages (never the value)."""
    auth = config.auth
    if auth is None:
        return "no auth configured"
    if isinstance(auth, ApiKeyConfig):
        return f"api_key in {auth.location} {auth.name!r} from {_where(auth.value)}"
    if isinstance(auth, BearerConfig):
        return f"bearer token from {_where(auth.token)}"
    if isinstance(auth, BasicConfig):
        return f"basic auth as {auth.username!r}, password from {_where(auth.password)}"
    if isinstance(auth, OAuth2ClientCredentialsConfig):
        return f"oauth2_client_credentials for client {auth.client_id!r}"
    if isinstance(auth, OAuth2RefreshTokenConfig):
        return f"oauth2_refresh_token for client {auth.client_id!r}"
    return type(auth).__name__


def _where(ref: SecretRef) -> str:
    return f"env {ref.env}" if ref.env else f"file {ref.file}"


def _vendor_code(path: str | None) -> Any:
    if path is None:
        return None

    def code(response: requests.Response) -> str | None:
        value = select_path(response.json(), path, default=None)
        return None if value is None or isinstance(value, dict | list) else str(value)

    return code
