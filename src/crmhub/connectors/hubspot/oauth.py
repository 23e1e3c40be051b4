"""OAuth2 refresh-token auth as HubSpot's token endpoint wants it.

HubSpot reads `client_id` and `client_secret` from the form body of `POST /oauth/v1/token`;
the shared refresh-token auth sends them in a Basic header only, so this subclass adds them to
the body (the header stays: RFC 6749 servers that prefer it still find it). HubSpot does not
rotate refresh tokens today; if it ever does, the base class saves the new one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmhub.connectors.auth import OAuth2RefreshToken, _resolve

if TYPE_CHECKING:
    from crmhub.connectors.hubspot.config import HubSpotOAuthConfig


class HubSpotRefreshToken(OAuth2RefreshToken):
    """Refresh-token grant with the client credentials in the form body."""

    @classmethod
    def from_config(
        cls, config: HubSpotOAuthConfig, *, source: str | None = None
    ) -> HubSpotRefreshToken:
        """Resolve the config's secrets now and build the auth."""
        return cls(
            config.token_url,
            config.client_id,
            _resolve(config.client_secret, source),
            _resolve(config.refresh_token, source),
            refresh_token_file=config.refresh_token.file,
            source=source,
        )

    def fetch_token(self) -> tuple[str, float | None]:
        data = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self._secret,
            "refresh_token": self._refresh_token,
        }
        # HubSpot keeps the refresh token valid after a grant, so a lost answer may be retried
        body = self.post_token_request(
            self.token_url, data, (self.client_id, self._secret), idempotent=True
        )
        rotated = body.get("refresh_token")
        if rotated and rotated != self._refresh_token:
            self._old_refresh_tokens.append(self._refresh_token)
            self._refresh_token = str(rotated)
            self._save_rotated()
        lifetime = body.get("expires_in")
        return str(body["access_token"]), float(lifetime) if lifetime else None
