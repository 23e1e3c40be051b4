"""Auth styles of REST APIs, as hub.yaml config models and the objects that apply them.

A connector's config model declares `auth: AuthConfig`; `auth.build()` gives the object the HTTP
client calls before every request (`apply`) and after a 401 (`refresh`). Secrets stay
`SecretRef`s in the config and are resolved only when a request needs them, so a config can be
printed or logged safely. OAuth2 tokens are renewed shortly before they expire and once after a
401; a refresh token that the vendor rotates (Xero, QuickBooks) is written back to its `{file:}`
reference, because the old one stops working as soon as the new one is issued.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field

from crmhub.config.secrets import SecretRef
from crmhub.errors import AuthError

log = logging.getLogger(__name__)

EXPIRY_MARGIN_SECONDS = 60.0
"""Renew a token this long before it expires (at most half its lifetime), so no request goes
out with a dying one and a short-lived token is not renewed before every call."""


class AuthBase(ABC):
    """Runtime auth: adds credentials to requests and renews them when it can."""

    @abstractmethod
    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        """Add credentials to an outgoing request."""

    def refresh(self) -> bool:
        """Get fresh credentials after a 401; False when there is nothing to refresh."""
        return False

    @abstractmethod
    def secrets(self) -> list[str]:
        """Values that must never appear in logs or messages."""


class ApiKeyAuth(AuthBase):
    """A static key in a header (e.g. X-API-Key) or a query parameter (e.g. ?key=)."""

    def __init__(self, name: str, value: str, location: Literal["header", "query"]) -> None:
        self.name, self._value, self.location = name, value, location

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        (headers if self.location == "header" else params)[self.name] = self._value

    def secrets(self) -> list[str]:
        return [self._value]


class BearerAuth(AuthBase):
    """A static bearer token (a HubSpot private-app token, a personal access token)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        headers["Authorization"] = f"Bearer {self._token}"

    def secrets(self) -> list[str]:
        return [self._token]


class BasicAuth(AuthBase):
    """HTTP basic auth (RFC 7617)."""

    def __init__(self, username: str, password: str) -> None:
        self._header = requests.auth._basic_auth_str(username, password)
        self._password = password

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        headers["Authorization"] = self._header

    def secrets(self) -> list[str]:
        return [self._password, self._header.removeprefix("Basic ")]


class TokenAuth(AuthBase):
    """A bearer token fetched from somewhere and renewed before it expires.

    Subclasses implement `fetch_token()`; this class keeps the token, its expiry, and makes one
    fetch serve every thread of the process that shares the object.
    """

    def __init__(
        self,
        *,
        source: str | None = None,
        timeout: float = 30.0,
        client_auth: Literal["basic", "body"] = "basic",
    ) -> None:
        self.source = source
        self.timeout = timeout
        self.client_auth = client_auth
        """How the client id and secret reach the token endpoint (RFC 6749 §2.3.1)."""
        self._token: str | None = None
        self._expires_at = 0.0
        self._lifetime = 3600.0
        self._lock = threading.Lock()
        self._spent: list[str] = []

    @abstractmethod
    def fetch_token(self) -> tuple[str, float | None]:
        """A new access token and its lifetime in seconds (None: unknown, assume an hour)."""

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        headers["Authorization"] = f"Bearer {self.token()}"

    def token(self) -> str:
        """The current access token, fetched or renewed when missing or about to expire."""
        with self._lock:
            margin = min(EXPIRY_MARGIN_SECONDS, self._lifetime / 2)
            if self._token is None or time.monotonic() >= self._expires_at - margin:
                self._renew()
            assert self._token is not None
            return self._token

    def refresh(self) -> bool:
        with self._lock:
            self._renew()
        return True

    def secrets(self) -> list[str]:
        return [s for s in [self._token, *self._spent] if s]

    def _renew(self) -> None:
        if self._token:
            self._spent.append(self._token)
        token, lifetime = self.fetch_token()
        self._token = token
        self._lifetime = 3600.0 if lifetime is None else max(lifetime, 0.0)
        self._expires_at = time.monotonic() + self._lifetime

    def post_token_request(
        self, url: str, data: dict[str, str], client: tuple[str, str], *, idempotent: bool
    ) -> Any:
        """POST a token request through the shared client; a refusal is an AuthError.

        Only grants that can be repeated safely are retried: a refresh token that the vendor
        rotates is spent by the first request, even if its answer was lost.
        """
        from crmhub.connectors.http import HttpClient, HttpStatusError

        client_auth: AuthBase | None = BasicAuth(*client)
        if self.client_auth == "body":
            data = {**data, "client_id": client[0], "client_secret": client[1]}
            client_auth = None
        with HttpClient(
            url,
            api=f"oauth2:{_host(url)}",
            auth=client_auth,
            timeout=self.timeout,
            source=self.source,
            vendor_code=_oauth_error,
        ) as http:
            try:
                response = http.request("POST", url, data=data, idempotent=idempotent)
            except HttpStatusError as exc:
                raise AuthError(
                    f"token endpoint {_host(url)} refused the grant -> {exc.status}"
                    + (f" ({exc.vendor_code})" if exc.vendor_code else ""),
                    source=self.source,
                ) from None
        try:
            body = response.json()
            str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise AuthError(
                f"token endpoint {_host(url)} answered without an access_token", source=self.source
            ) from None
        return body


class OAuth2ClientCredentials(TokenAuth):
    """OAuth2 client-credentials grant (RFC 6749 §4.4): machine-to-machine APIs."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scopes: list[str],
        *,
        source: str | None = None,
        client_auth: Literal["basic", "body"] = "basic",
    ) -> None:
        super().__init__(source=source, client_auth=client_auth)
        self.token_url, self.client_id, self._secret, self.scopes = (
            token_url,
            client_id,
            client_secret,
            scopes,
        )

    def fetch_token(self) -> tuple[str, float | None]:
        data = {"grant_type": "client_credentials"}
        if self.scopes:
            data["scope"] = " ".join(self.scopes)
        body = self.post_token_request(
            self.token_url, data, (self.client_id, self._secret), idempotent=True
        )
        return str(body["access_token"]), _lifetime(body)

    def secrets(self) -> list[str]:
        return [self._secret, *super().secrets()]


class OAuth2RefreshToken(TokenAuth):
    """OAuth2 refresh-token grant (RFC 6749 §6), saving a rotated refresh token to its file."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        refresh_token_file: Path | None = None,
        source: str | None = None,
        client_auth: Literal["basic", "body"] = "basic",
        rotates: bool = True,
    ) -> None:
        super().__init__(source=source, client_auth=client_auth)
        self.token_url, self.client_id = token_url, client_id
        self._secret, self._refresh_token = client_secret, refresh_token
        self.rotates = rotates
        """False for vendors that keep the refresh token valid: a lost answer may be retried."""
        self._file = refresh_token_file
        self._old_refresh_tokens: list[str] = []

    def fetch_token(self) -> tuple[str, float | None]:
        """Grant a new access token; with a token file, one process at a time does it.

        Several sources (two streams of one Xero organisation, two flow runs) may share one
        refresh-token file. A vendor that rotates refresh tokens spends the old one at each
        grant, so a grant holds an exclusive lock on the file and starts from the token saved
        there, which another source may have rotated since this one read it.
        """
        with self._exclusive():
            self._adopt_saved()
            data = {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
            body = self.post_token_request(
                self.token_url, data, (self.client_id, self._secret), idempotent=not self.rotates
            )
            rotated = body.get("refresh_token")
            if rotated and rotated != self._refresh_token:
                self._old_refresh_tokens.append(self._refresh_token)
                self._refresh_token = str(rotated)
                self._save_rotated()
        return str(body["access_token"]), _lifetime(body)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        if self._file is None:
            yield
            return
        lock = self._file.with_name(f".{self._file.name}.lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _adopt_saved(self) -> None:
        """Take the refresh token saved in the file when another source rotated it."""
        if self._file is None:
            return
        try:
            saved = self._file.read_text(encoding="utf-8").strip()
        except OSError:
            return
        if saved and saved != self._refresh_token:
            self._old_refresh_tokens.append(self._refresh_token)
            self._refresh_token = saved

    def secrets(self) -> list[str]:
        return [self._secret, self._refresh_token, *self._old_refresh_tokens, *super().secrets()]

    def _save_rotated(self) -> None:
        if self._file is None:
            log.warning(
                "%s: the token endpoint rotated the refresh token; it is kept for this process "
                "only: give refresh_token as {file: path} so crmhub can save it",
                self.source or "oauth2",
            )
            return
        _write_secret_file(self._file, self._refresh_token)


# -- config models ----------------------------------------------------------------------------
class _AuthModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    def build(self, *, source: str | None = None) -> AuthBase:
        """The runtime auth object for this config (secrets resolved now)."""
        raise NotImplementedError


class ApiKeyConfig(_AuthModel):
    """`{type: api_key, name: X-API-Key, value: {env: KEY}, location: header}`."""

    type: Literal["api_key"]
    name: str = Field(description="Header or query parameter name, e.g. X-API-Key or key.")
    value: SecretRef
    location: Literal["header", "query"] = "header"

    def build(self, *, source: str | None = None) -> AuthBase:
        return ApiKeyAuth(self.name, _resolve(self.value, source), self.location)


class BearerConfig(_AuthModel):
    """`{type: bearer, token: {env: TOKEN}}`."""

    type: Literal["bearer"]
    token: SecretRef

    def build(self, *, source: str | None = None) -> AuthBase:
        return BearerAuth(_resolve(self.token, source))


class BasicConfig(_AuthModel):
    """`{type: basic, username: user, password: {env: PASSWORD}}`."""

    type: Literal["basic"]
    username: str
    password: SecretRef

    def build(self, *, source: str | None = None) -> AuthBase:
        return BasicAuth(self.username, _resolve(self.password, source))


class OAuth2ClientCredentialsConfig(_AuthModel):
    """`{type: oauth2_client_credentials, token_url, client_id, client_secret: {env: ..}}`."""

    type: Literal["oauth2_client_credentials"]
    token_url: str
    client_id: str
    client_secret: SecretRef
    scopes: list[str] = Field(default_factory=list)
    client_auth: Literal["basic", "body"] = Field(
        default="basic",
        description="Send the client id and secret in a Basic header, or in the form body.",
    )

    def build(self, *, source: str | None = None) -> AuthBase:
        return OAuth2ClientCredentials(
            self.token_url,
            self.client_id,
            _resolve(self.client_secret, source),
            self.scopes,
            source=source,
            client_auth=self.client_auth,
        )


class OAuth2RefreshTokenConfig(_AuthModel):
    """`{type: oauth2_refresh_token, token_url, client_id, client_secret, refresh_token}`.

    Give `refresh_token` as `{file: path}` for vendors that rotate it (Xero, QuickBooks): the
    new one is saved there after every refresh.
    """

    type: Literal["oauth2_refresh_token"]
    token_url: str
    client_id: str
    client_secret: SecretRef
    refresh_token: SecretRef
    client_auth: Literal["basic", "body"] = Field(
        default="basic",
        description="Send the client id and secret in a Basic header, or in the form body.",
    )

    def build(self, *, source: str | None = None) -> AuthBase:
        return OAuth2RefreshToken(
            self.token_url,
            self.client_id,
            _resolve(self.client_secret, source),
            _resolve(self.refresh_token, source),
            refresh_token_file=self.refresh_token.file,
            source=source,
            client_auth=self.client_auth,
        )


AuthConfig = Annotated[
    ApiKeyConfig
    | BearerConfig
    | BasicConfig
    | OAuth2ClientCredentialsConfig
    | OAuth2RefreshTokenConfig,
    Field(discriminator="type"),
]
"""Any auth style, chosen by its `type` key."""


def _resolve(ref: SecretRef, source: str | None) -> str:
    try:
        return ref.resolve().get_secret_value()
    except AuthError:
        raise
    except Exception as exc:  # a missing env var or unreadable file: a config problem
        raise AuthError(str(exc), source=source) from None


def _lifetime(body: dict[str, Any]) -> float | None:
    try:
        return float(body["expires_in"])
    except (KeyError, TypeError, ValueError):
        return None


def _oauth_error(response: requests.Response) -> str | None:
    """The RFC 6749 `error` code only (never the description, which may echo input)."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error[:60] if isinstance(error, str) else None


def _host(url: str) -> str:
    return requests.utils.urlparse(url).netloc


def _write_secret_file(path: Path, value: str) -> None:
    """Replace `path` atomically with `value`, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash, not only the bytes
        finally:
            os.close(directory)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
