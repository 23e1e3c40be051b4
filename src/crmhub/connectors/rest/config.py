"""Config of the declarative `rest` connector: a whole REST API described in hub.yaml.

The shape follows dlt's `rest_api` source and Airbyte's low-code manifests (base URL, auth,
streams with a path, a record selector and a paginator), shrunk to what a customer-data hub
needs. Every model forbids unknown keys, so a typo is an error that names the key (the loader
adds a "did you mean" hint), and validators say how to fix a wrong value, not only that it is
wrong.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crmhub.connectors.auth import AuthConfig
from crmhub.connectors.base import ConnectorConfig, KeyColumns
from crmhub.connectors.rest.pagination import NoPagination, PaginationConfig

CursorFormat = Literal["iso", "epoch", "epoch_ms", "http_date"]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def parse_duration(value: Any) -> float:
    """Seconds of a lookback: a number of seconds, `90s`, `15m`, `2h`, `1d` or ISO `PT15M`."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 300, '5m', '2h' or 'PT5M'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    elif isinstance(value, str) and (iso := _ISO_DURATION.match(value.strip().upper())):
        days, hours, minutes, secs = (float(g) if g else 0.0 for g in iso.groups())
        seconds = days * 86400 + hours * 3600 + minutes * 60 + secs
    else:
        raise ValueError("expected a duration such as 300, '5m', '2h' or 'PT5M'")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, Field(ge=0)]


class RateLimitConfig(_Model):
    """Calls allowed per second and/or minute, shared by every source of the same API."""

    per_second: float | None = Field(None, gt=0)
    per_minute: float | None = Field(None, gt=0)
    api: str | None = Field(
        None, description="Budget name; default the API's host, so sources on one host share it."
    )

    @model_validator(mode="after")
    def _some_limit(self) -> RateLimitConfig:
        if self.per_second is None and self.per_minute is None:
            raise ValueError("give 'per_second' and/or 'per_minute' (or drop 'rate_limit')")
        return self


class RetryConfig(_Model):
    """Overrides of the HTTP client's retry policy; unset keys keep its defaults."""

    attempts: int | None = Field(None, ge=1, le=20)
    backoff: float | None = Field(None, ge=0)
    max_backoff: float | None = Field(None, ge=0)
    statuses: list[int] | None = None
    honour_retry_after: bool | None = None
    max_retry_after: float | None = Field(None, ge=0)

    @field_validator("statuses")
    @classmethod
    def _http_statuses(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 400 <= s <= 599 for s in value):
            raise ValueError("retry statuses must be HTTP error codes (400-599), e.g. [429, 503]")
        return value


class IncrementalConfig(_Model):
    """How a stream asks only for changed records, and which record field says when."""

    cursor_field: str = Field(description="Record field (flattened name) holding the change time.")
    param: str | None = Field(None, description="Query parameter carrying the last value.")
    header: str | None = Field(None, description="Header carrying it, e.g. If-Modified-Since.")
    format: CursorFormat | None = Field(
        None, description="How the value is sent; default http_date for a header, else iso."
    )
    lookback: Duration = Field(0.0, description="Ask again for this much before the last value.")
    start: str | int | float | None = Field(None, description="Value used on the first read.")
    sorted: bool = Field(
        True, description="Records come in ascending cursor order, so every page is a checkpoint."
    )

    @field_validator("lookback", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    @model_validator(mode="after")
    def _one_carrier(self) -> IncrementalConfig:
        if (self.param is None) == (self.header is None):
            raise ValueError(
                "give exactly one of 'param' (e.g. updated_since) or 'header' "
                "(e.g. If-Modified-Since) to send the last cursor value"
            )
        return self

    @property
    def value_format(self) -> CursorFormat:
        """The format the value is sent in."""
        if self.format is not None:
            return self.format
        return "http_date" if self.header is not None else "iso"


class WriteConfig(_Model):
    """How write-back reaches the API: method, path and body templates, batching.

    Templates use `{name}` placeholders: `external_id`, `golden_id`, `idempotency_key` and every
    field of the row being written (the hub's `writeback` fields and golden id field).
    """

    method: Literal["PATCH", "PUT", "POST"] = "PATCH"
    path: str = Field(description="Path template, e.g. /customers/{external_id}.")
    body: Literal["fields"] | dict[str, Any] = Field(
        "fields",
        description="'fields' sends the row's fields as they are; a mapping is a body template.",
    )
    batch_size: int = Field(1, ge=1, le=1000)
    batch_key: str | None = Field(
        None, description="With batch_size > 1: the body is {batch_key: [...]}; default a list."
    )
    id_field: str = Field("id", description="Item key of the external id in a 'fields' batch.")
    results_path: str | None = Field(
        None, description="Dotted path to per-item results in a batch response (same order)."
    )
    idempotency_header: str | None = "Idempotency-Key"
    current: str | None = Field(
        None, description="GET path template of the current record, e.g. /customers/{external_id}."
    )
    current_selector: str | None = Field(
        None, description="Dotted path to the record inside the GET body (default the body)."
    )

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path", "current")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            template_names(value)
        return value

    @field_validator("body")
    @classmethod
    def _body_templates(cls, value: Any) -> Any:
        if isinstance(value, dict):
            if not value:
                raise ValueError("an empty body template sends nothing; use 'fields' or name keys")
            for item in value.values():
                if isinstance(item, str):
                    template_names(item)
        return value

    @model_validator(mode="after")
    def _batch_rules(self) -> WriteConfig:
        per_row = template_names(self.path)
        if self.batch_size > 1 and per_row:
            raise ValueError(
                f"with batch_size > 1 the path is one URL for many rows and cannot use "
                f"{sorted(per_row)}; use a fixed path such as /customers/batch"
            )
        if self.batch_size == 1 and (self.batch_key or self.results_path):
            raise ValueError("'batch_key' and 'results_path' need batch_size > 1")
        return self


_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_NAME = re.compile(r"^[\w.\-]+$")


def template_names(template: str) -> set[str]:
    """Placeholder names of a `{field}` template (`{{`/`}}` are literal braces).

    Raises:
        ValueError: an unbalanced brace or a placeholder that does not name a field.
    """
    names = {m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1) is not None}
    rest = _PLACEHOLDER.sub("", template)
    if "{" in rest or "}" in rest:
        raise ValueError(f"bad template {template!r}: unbalanced brace; write {{field}}")
    bad = sorted(n for n in names if not _NAME.match(n))
    if bad:
        raise ValueError(
            f"bad template {template!r}: placeholders must name a field, e.g. {{id}}, not {bad}"
        )
    return names


def substitute(template: str, values: Any) -> str:
    """`template` with each `{name}` replaced by `values[name]` (already text)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)[0]
        return str(values[name])

    return _PLACEHOLDER.sub(one, template)


class StreamConfig(_Model):
    """One endpoint read as a stream of flat records."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    path: str
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    record_selector: str = Field(
        "$", description="Dotted path to the records in the body; '$' or '' for the body itself."
    )
    primary_key: KeyColumns
    fields: list[str] | None = Field(None, description="Columns reported by discover().")
    pagination: PaginationConfig = Field(default_factory=lambda: NoPagination(type="none"))
    incremental: IncrementalConfig | None = None
    batch_size: int | None = Field(
        None, ge=1, description="Records per batch (checkpoint); default one page."
    )
    write: WriteConfig | None = None

    @field_validator("pagination", mode="before")
    @classmethod
    def _short_pagination(cls, value: Any) -> Any:
        """`pagination: link_header` is short for `pagination: {type: link_header}`."""
        return {"type": value} if isinstance(value, str) else value

    @property
    def key_fields(self) -> tuple[str, ...]:
        """The primary key as a tuple."""
        key = self.primary_key
        return (key,) if isinstance(key, str) else tuple(key)

    @property
    def cursor_field(self) -> str | None:
        """The incremental cursor field, if the stream is incremental."""
        return self.incremental.cursor_field if self.incremental else None


class RestConfig(ConnectorConfig):
    """A REST API: where it is, how to log in, how fast to call it, and its streams."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: Literal["rest"]
    base_url: str
    headers: dict[str, str] = Field(default_factory=dict)
    auth: AuthConfig | None = None
    rate_limit: RateLimitConfig | None = None
    timeout: float | tuple[float, float] = Field(
        (10.0, 60.0), description="Seconds: one number, or [connect, read]."
    )
    retry: RetryConfig | None = None
    error_code_path: str | None = Field(
        None, description="Dotted path to the vendor's error code in an error body."
    )
    streams: list[StreamConfig] = Field(min_length=1)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("base_url must be an http(s) URL, e.g. https://api.example.com/v1")
        if parts.username or parts.password:
            raise ValueError("base_url must not contain credentials; use 'auth' instead")
        if parts.query:
            raise ValueError("base_url must not have a query; put parameters in a stream's params")
        return value.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _no_secret_headers(cls, value: dict[str, str]) -> dict[str, str]:
        secret = sorted(h for h in value if h.lower() in _SECRET_HEADERS)
        if secret:
            raise ValueError(
                f"header(s) {secret} carry credentials and would sit in hub.yaml in clear; "
                "use 'auth' (api_key, bearer, basic or oauth2_*) with {env: NAME} instead"
            )
        return value

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: Any) -> Any:
        values = value if isinstance(value, tuple) else (value,)
        if any(v <= 0 for v in values):
            raise ValueError("timeouts must be positive seconds, e.g. 30 or [5, 60]")
        return value

    @model_validator(mode="after")
    def _unique_streams(self) -> RestConfig:
        names = [s.name for s in self.streams]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"stream names must be unique; {doubled} appear more than once")
        return self

    def stream(self, name: str) -> StreamConfig:
        """The stream called `name`; KeyError when there is none."""
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise KeyError(name)

    @property
    def api_name(self) -> str:
        """Name of the shared rate budget: `rate_limit.api`, else the API's host."""
        if self.rate_limit is not None and self.rate_limit.api:
            return self.rate_limit.api
        return urlsplit(self.base_url).netloc
