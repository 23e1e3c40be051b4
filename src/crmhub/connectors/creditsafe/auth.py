"""Creditsafe's own login: username and password for a JWT that lives one hour.

The token is renewed shortly before its `exp` claim (read from the JWT, so a shorter-lived
sandbox token is handled too) and once after a 401; refused credentials are an `AuthError`
whose message names the call, never the password or a token.
"""

from __future__ import annotations

import base64
import json
import time

from crmhub.connectors.auth import EXPIRY_MARGIN_SECONDS, TokenAuth
from crmhub.connectors.http import HttpAuthError, HttpClient, RateBudget, RetryPolicy
from crmhub.errors import AuthError

TOKEN_LIFETIME_SECONDS = 3600.0
"""Creditsafe's documented token lifetime, used when the JWT carries no readable `exp`."""


class CreditsafeAuth(TokenAuth):
    """``POST /authenticate`` {username, password} -> {token}, sent as a bearer token."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        budget: RateBudget | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        source: str | None = None,
    ) -> None:
        super().__init__(source=source, timeout=timeout)
        self.base_url = base_url
        self._username, self._password = username, password
        self._budget, self._retry = budget, retry
        self._renew_at = 0.0
        self.logins = 0
        """Tokens fetched so far (for tests and run summaries)."""

    def token(self) -> str:
        """The current token; a new one when missing or close to its expiry."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._renew()
            assert self._token is not None
            return self._token

    def _renew(self) -> None:
        super()._renew()
        lifetime = self._expires_at - time.monotonic()
        # a 1-hour token is renewed a minute early; a short-lived one a tenth of its life early
        self._renew_at = self._expires_at - min(EXPIRY_MARGIN_SECONDS, lifetime / 10)

    def fetch_token(self) -> tuple[str, float | None]:
        """Log in; the lifetime comes from the JWT's `exp` claim when it has one."""
        with HttpClient(
            self.base_url,
            api="creditsafe",
            timeout=self.timeout,
            retry=self._retry,
            budget=self._budget,
            source=self.source,
        ) as http:
            try:
                response = http.request(
                    "POST",
                    "authenticate",
                    json={"username": self._username, "password": self._password},
                    idempotent=True,  # logging in twice is harmless
                )
            except HttpAuthError as exc:
                raise AuthError(
                    f"Creditsafe refused the login (POST /authenticate -> {exc.status}): "
                    "check the username and password",
                    source=self.source,
                ) from None
            body = http.json_of(response, "POST", "authenticate")
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("POST /authenticate answered without a token", source=self.source)
        self.logins += 1
        return token, jwt_lifetime(token)

    def secrets(self) -> list[str]:
        return [self._password, *super().secrets()]


def jwt_lifetime(token: str, now: float | None = None) -> float | None:
    """Seconds until the JWT's `exp`; None when unreadable or already past (clock skew)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        left = float(claims["exp"]) - (time.time() if now is None else now)
    except (IndexError, ValueError, KeyError, TypeError):
        return None
    return min(left, TOKEN_LIFETIME_SECONDS) if left > 0 else None
