"""The one HTTP client of every REST connector: timeouts, retries, rate budget, typed errors.

Vendors fail in the same few ways (throttling, a 5xx burst, an expired token, a payload they
reject), so that handling lives here once instead of in each connector:

* every call has a timeout; a dropped connection, 429 or 5xx is retried with exponential backoff
  and full jitter, and a `Retry-After` header (seconds or HTTP-date) is honoured;
* POST and PATCH are retried only when they carry an idempotency key (or the caller says the call
  is idempotent by nature, like a search), so a retry never creates a second record;
* a `RateBudget` per API name is shared by every client in the process, so two streams (or two
  flows in one worker) of one vendor together stay under its quota;
* errors are crmhub errors whose messages name the method, a redacted path, the status and the
  vendor's error code, and never a token, a header or a body. Secrets the client knows of are
  also masked in urllib3's debug log, which would otherwise print URLs with an API key in them.
"""

from __future__ import annotations

import email.utils
import fcntl
import json
import logging
import os
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import (
    parse_qsl,
    quote,
    quote_plus,
    urlencode,
    urljoin,
    urlsplit,
    urlunsplit,
)

import requests

from crmhub.errors import (
    AuthError,
    RetriesExhaustedError,
    SourceContractError,
    SourceUnavailableError,
)

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""Methods that may be repeated safely (RFC 9110 §9.2.2); POST and PATCH need a key."""


class Auth(Protocol):
    """How a client proves who it is; see crmhub.connectors.auth for the built-in styles."""

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        """Add credentials to an outgoing request's headers or query parameters."""

    def refresh(self) -> bool:
        """Get fresh credentials after a 401; False when this style cannot refresh."""

    def secrets(self) -> list[str]:
        """Values that must never appear in logs or messages (tokens, keys, passwords)."""


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a call again."""

    attempts: int = 5
    """Tries in all, the first included."""
    backoff: float = 0.5
    """Upper bound of the first delay in seconds; doubled for each retry (full jitter)."""
    max_backoff: float = 30.0
    statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    honour_retry_after: bool = True
    max_retry_after: float = 300.0
    """A Retry-After beyond this is not waited for: the call fails as retries exhausted."""

    def delay(self, retry: int, response: requests.Response | None) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        if response is not None and self.honour_retry_after:
            after = retry_after_seconds(response.headers.get("Retry-After"))
            if after is not None:
                return after
        ceiling = min(self.max_backoff, self.backoff * 2 ** (retry - 1))
        return random.uniform(0, ceiling)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for: delta-seconds or an HTTP-date; None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RateBudget:
    """A token bucket per API, shared by every client of that API on this machine.

    Limits per second and per minute can both apply (many vendors state both); a call waits
    until each bucket has a token. The quota is the vendor's, not the stream's: two sources of
    one HubSpot account, or two flow runs that `crmhub serve` starts in separate processes,
    spend one budget. Shared budgets keep their buckets in a small file under
    `CRMHUB_BUDGET_DIR` (default: a `crmhub-budgets` folder in the temp directory), updated
    under an exclusive lock; a budget made with `RateBudget(...)` is private to its object.
    """

    _registry: ClassVar[dict[str, RateBudget]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        *,
        per_second: float | None = None,
        per_minute: float | None = None,
        path: Path | None = None,
    ) -> None:
        self.limits: dict[float, float] = {
            period: float(rate) for rate, period in ((per_second, 1.0), (per_minute, 60.0)) if rate
        }
        self.path = path
        self._buckets: dict[float, tuple[float, float]] = {}
        """period -> (tokens, wall-clock stamp); the file's copy is used for shared budgets."""
        self._lock = threading.Lock()

    @classmethod
    def shared(
        cls, api: str, *, per_second: float | None = None, per_minute: float | None = None
    ) -> RateBudget:
        """The budget of `api`; created on first use, and tightened if asked for a lower rate."""
        with cls._registry_lock:
            budget = cls._registry.get(api)
            if budget is None:
                budget = cls._registry[api] = cls(
                    per_second=per_second, per_minute=per_minute, path=_budget_file(api)
                )
            else:
                budget._tighten(per_second, 1.0)
                budget._tighten(per_minute, 60.0)
            return budget

    def acquire(self) -> None:
        """Block until a call is allowed, then spend one token of each bucket."""
        while True:
            with self._lock, self._state() as buckets:
                now = time.time()
                wait = 0.0
                for period, rate in self.limits.items():
                    tokens, stamp = buckets.get(period, (rate, now))
                    tokens = min(rate, tokens + max(now - stamp, 0.0) * rate / period)
                    buckets[period] = (tokens, now)
                    if tokens < 1:
                        wait = max(wait, (1 - tokens) * period / rate)
                if wait <= 0:
                    for period in self.limits:
                        tokens, stamp = buckets[period]
                        buckets[period] = (tokens - 1, stamp)
                    return
            time.sleep(wait)

    @contextmanager
    def _state(self) -> Iterator[dict[float, tuple[float, float]]]:
        """The buckets, read from and written back to the shared file under a lock."""
        if self.path is None:
            yield self._buckets
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                handle.seek(0)
                buckets = _parse_buckets(handle.read())
                yield buckets
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps({str(p): list(v) for p, v in buckets.items()}))
                handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _tighten(self, rate: float | None, period: float) -> None:
        if rate:
            with self._lock:
                self.limits[period] = min(self.limits.get(period, float(rate)), float(rate))


def _budget_file(api: str) -> Path:
    default = Path(tempfile.gettempdir()) / "crmhub-budgets"
    root = Path(os.environ.get("CRMHUB_BUDGET_DIR") or default)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", api)[:100]
    return root / f"{safe}.json"


def _parse_buckets(text: str) -> dict[float, tuple[float, float]]:
    try:
        data = json.loads(text) if text.strip() else {}
        return {float(p): (float(v[0]), float(v[1])) for p, v in data.items()}
    except (ValueError, TypeError, IndexError, AttributeError):
        return {}  # a damaged budget file costs one burst; the limits hold again after it


class HttpStatusError(SourceContractError):
    """The API answered with a status that is neither success nor worth a retry (4xx).

    `response` is kept for the caller (a connector reads per-row validation errors from it);
    it is never part of the message.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        path: str,
        vendor_code: str | None,
        response: requests.Response,
        source: str | None = None,
    ) -> None:
        super().__init__(message, source=source)
        self.status = status
        self.method = method
        self.path = path
        self.vendor_code = vendor_code
        self.response = response


class HttpAuthError(AuthError):
    """Credentials were refused (401/403) and could not be refreshed."""

    def __init__(self, message: str, *, status: int, source: str | None = None) -> None:
        super().__init__(message, source=source)
        self.status = status


class HttpClient:
    """A requests Session bound to one API: base URL, auth, retry policy and rate budget."""

    def __init__(
        self,
        base_url: str,
        *,
        api: str,
        auth: Auth | None = None,
        timeout: float | tuple[float, float] = (10.0, 60.0),
        retry: RetryPolicy | None = None,
        budget: RateBudget | None = None,
        headers: Mapping[str, str] | None = None,
        source: str | None = None,
        vendor_code: Callable[[requests.Response], str | None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.api = api
        self.auth = auth
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.budget = budget
        self.source = source
        self._vendor_code = vendor_code
        self._sleep = sleep
        self._session = _CredentialSafeSession()
        self._session.headers.update({"Accept": "application/json", **(headers or {})})
        self._session.headers["User-Agent"] = "crmhub"
        self.calls = 0
        """Requests sent, retries included (for benchmarks and run summaries)."""

    # -- public -----------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        idempotency_header: str = "Idempotency-Key",
        idempotent: bool | None = None,
        ok: Container[int] = range(200, 300),
    ) -> requests.Response:
        """Send one call, retrying passing faults; return the response when its status is `ok`.

        Args:
            path: relative to the base URL, or an absolute URL (a next-page link).
            idempotency_key: sent in `idempotency_header`; makes a POST/PATCH safe to retry.
            idempotent: True for a call that is safe to repeat whatever its method (a search
                sent as POST); default: by method and idempotency key.
            ok: statuses returned to the caller instead of raised.

        Raises:
            HttpAuthError: 401 and the credentials could not be refreshed, or 403 (the
                credentials lack access; no refresh can help).
            RetriesExhaustedError: a retryable fault outlived every attempt.
            HttpStatusError: any other status outside `ok`.
            SourceUnavailableError: the host cannot be reached at all and retrying is not allowed.
        """
        method = method.upper()
        url = self._url(path)
        shown = self.redact_path(url)
        extra = dict(headers or {})
        if idempotency_key is not None:
            extra[idempotency_header] = idempotency_key
        retry_safe = (
            idempotent
            if idempotent is not None
            else (method in IDEMPOTENT_METHODS or idempotency_key is not None)
        )
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            attempts = self.retry.attempts if retry_safe else 1
            response = self._send(method, url, shown, params, json, data, extra, attempt, attempts)
            if response is not None and response.status_code in ok:
                return response
            if response is not None and _not_processed(response):
                attempts = self.retry.attempts  # the server did nothing: a repeat is safe
            if response is not None and response.status_code in (401, 403):
                if (
                    response.status_code == 401
                    and not refreshed
                    and self.auth is not None
                    and self.auth.refresh()
                ):
                    refreshed = True
                    attempt -= 1  # a refreshed token is a new start, not a spent retry
                    continue
                raise HttpAuthError(
                    f"{method} {shown} -> {_status_text(response.status_code)}"
                    f"{self._code_suffix(response)}: credentials refused; check the "
                    "token, key or password this source uses",
                    status=response.status_code,
                    source=self.source,
                )
            transient = response is None or response.status_code in self.retry.statuses
            if not transient:
                assert response is not None
                raise self._status_error(method, shown, response)
            if attempt >= attempts:
                repeated = retry_safe or (response is not None and _not_processed(response))
                raise self._exhausted(method, shown, response, attempts, repeated)
            delay = self.retry.delay(attempt, response)
            if delay > self.retry.max_retry_after:
                status = "" if response is None else _status_text(response.status_code)
                code = "" if response is None else self._code_suffix(response)
                raise RetriesExhaustedError(
                    f"{method} {shown} -> {status}{code}"
                    f": the API asks to wait {delay:.0f} s, more than max_retry_after "
                    f"({self.retry.max_retry_after:.0f} s); try again later",
                    source=self.source,
                )
            log.debug(
                "%s %s: %s, retry %d of %d in %.1f s",
                method,
                shown,
                "no response" if response is None else response.status_code,
                attempt,
                attempts - 1,
                delay,
            )
            self._sleep(delay)

    def get_json(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET `path` and return its JSON body (a contract error if the body is not JSON)."""
        response = self.request("GET", path, params=params, headers=headers)
        return self.json_of(response, "GET", path)

    def json_of(self, response: requests.Response, method: str, path: str) -> Any:
        """The JSON body of `response`, or a contract error naming the call."""
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise SourceContractError(
                f"{method} {self.redact_path(self._url(path))} -> {response.status_code}: "
                "the body is not JSON",
                source=self.source,
            ) from None

    def redact_path(self, url: str) -> str:
        """The URL's path with query values elided and every known secret masked."""
        parts = urlsplit(url)
        query = "&".join(f"{name}=…" for name, _ in parse_qsl(parts.query, keep_blank_values=True))
        text = parts.path + (f"?{query}" if query else "")
        return self.redact(text)

    def redact(self, text: str) -> str:
        """`text` with every secret of this client's auth replaced by ***, also URL-encoded."""
        return _mask(text, self._secrets())

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return urljoin(self.base_url, path.lstrip("/"))

    def _send(
        self,
        method: str,
        url: str,
        shown: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Any,
        headers: dict[str, str],
        attempt: int,
        attempts: int,
    ) -> requests.Response | None:
        """One attempt; None when the connection failed in a way worth retrying."""
        call_headers = dict(headers)
        call_params = dict(params or {})
        if self.auth is not None:
            before = set(call_headers)
            self.auth.apply(call_headers, call_params)
            self._session.credential_headers = set(call_headers) - before
            _mask_in_urllib3_log(self.auth.secrets())
        if self.budget is not None:
            self.budget.acquire()
        self.calls += 1
        try:
            return self._session.request(
                method,
                url,
                params=call_params or None,
                json=json,
                data=data,
                headers=call_headers,
                timeout=self.timeout,
            )
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            reason = "timed out" if isinstance(exc, requests.Timeout) else "connection failed"
            if attempt >= attempts and attempts == 1:
                raise SourceUnavailableError(
                    f"{method} {shown}: {reason} ({urlsplit(url).netloc})", source=self.source
                ) from None
            return None
        except requests.RequestException as exc:
            raise SourceContractError(
                f"{method} {shown}: {type(exc).__name__}", source=self.source
            ) from None

    def _status_error(
        self, method: str, shown: str, response: requests.Response
    ) -> HttpStatusError:
        code = self._code(response)
        status = _status_text(response.status_code)
        return HttpStatusError(
            f"{method} {shown} -> {status}{self._code_suffix(response)}",
            status=response.status_code,
            method=method,
            path=shown,
            vendor_code=code,
            response=response,
            source=self.source,
        )

    def _exhausted(
        self,
        method: str,
        shown: str,
        response: requests.Response | None,
        attempts: int,
        retry_safe: bool,
    ) -> RetriesExhaustedError:
        what = "no response" if response is None else _status_text(response.status_code)
        suffix = "" if response is None else self._code_suffix(response)
        if not retry_safe:
            hint = "; not retried: a repeat could apply it twice (no idempotency key)"
        else:
            hint = f" after {attempts} attempts"
        return RetriesExhaustedError(
            f"{method} {shown} -> {what}{suffix}{hint}", source=self.source
        )

    def _code(self, response: requests.Response) -> str | None:
        if self._vendor_code is None:
            return None
        try:
            code = self._vendor_code(response)
        except Exception:  # a vendor's odd error body must not hide the real error
            return None
        return None if code is None else self.redact(str(code))[:80]

    def _code_suffix(self, response: requests.Response) -> str:
        code = self._code(response)
        return f" (vendor code {code})" if code else ""

    def _secrets(self) -> list[str]:
        return [s for s in (self.auth.secrets() if self.auth is not None else []) if s]


def with_query(url: str, params: Mapping[str, Any]) -> str:
    """`url` with `params` merged into its query string (for next-page links that lack them)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update({k: str(v) for k, v in params.items()})
    return urlunsplit(parts._replace(query=urlencode(query)))


def _not_processed(response: requests.Response) -> bool:
    """Whether the server says it did not act on the request, so any method may be repeated.

    A 429 is refused before processing (RFC 6585); a 503 that names a Retry-After is the
    server asking to come back later. Other 5xx may have half-applied a POST.
    """
    return response.status_code == 429 or (
        response.status_code == 503 and "Retry-After" in response.headers
    )


def _status_text(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


class _SecretMask(logging.Filter):
    """Masks known secrets in urllib3's records, which log full URLs at DEBUG."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = _mask(record.getMessage(), self.secrets), None
        return True


def _mask(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret replaced by ***, as written and as a URL would carry it."""
    for secret in secrets:
        if not secret:
            continue
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, "***")
    return text


class _CredentialSafeSession(requests.Session):
    """A session that drops every credential header on a redirect to another origin.

    requests drops only `Authorization` there; an API key in `X-API-Key` would otherwise reach
    whatever host a redirect names.
    """

    def __init__(self) -> None:
        super().__init__()
        self.credential_headers: set[str] = set()

    def rebuild_auth(self, prepared_request: Any, response: requests.Response) -> None:
        super().rebuild_auth(prepared_request, response)
        if self.should_strip_auth(response.request.url, prepared_request.url):
            for name in self.credential_headers:
                prepared_request.headers.pop(name, None)


_MASK = _SecretMask()
_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.connection")


def _mask_in_urllib3_log(secrets: list[str]) -> None:
    new = {s for s in secrets if s} - _MASK.secrets
    if not new:
        return
    _MASK.secrets.update(new)
    for name in _URLLIB3_LOGGERS:
        logger = logging.getLogger(name)
        if _MASK not in logger.filters:
            logger.addFilter(_MASK)
