"""Config of the `xero` connector: one Xero organisation's contacts.

Xero's auth is fixed by the vendor: an OAuth2 app with a refresh token (which Xero rotates on
every refresh, so it belongs in a `{file:}` secret that crmhub can rewrite), or a custom
connection using the client-credentials grant. Requests name the organisation in the
`xero-tenant-id` header, so the tenant is part of the config, not of the URL.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator, model_validator

from crmhub.connectors.auth import OAuth2ClientCredentialsConfig, OAuth2RefreshTokenConfig
from crmhub.connectors.base import ConnectorConfig

XERO_API_URL = "https://api.xero.com/api.xro/2.0"
XERO_TOKEN_URL = "https://identity.xero.com/connect/token"
XERO_PAGE_SIZE = 100
"""Contacts per page when `pageSize` is not sent; Xero accepts up to 1000."""

XeroAuthConfig = Annotated[
    OAuth2RefreshTokenConfig | OAuth2ClientCredentialsConfig, Field(discriminator="type")
]
"""`oauth2_refresh_token` (an app a user connected) or `oauth2_client_credentials` (a custom
connection); `token_url` defaults to Xero's identity server."""


class XeroConfig(ConnectorConfig):
    """Reads the Contacts of one organisation (tenant) and writes chosen fields back."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: Literal["xero"]
    tenant_id: str | None = Field(
        None, description="Organisation id sent as xero-tenant-id (from GET /connections)."
    )
    auth: XeroAuthConfig
    base_url: str = XERO_API_URL
    page_size: int = Field(XERO_PAGE_SIZE, ge=1, le=1000)
    lookback_seconds: int = Field(0, ge=0, le=86_400)
    include_archived: bool = True
    batch_size: int = Field(50, ge=1, le=100)
    calls_per_minute: float | None = Field(60.0, gt=0)
    retry_attempts: int = Field(5, ge=1, le=10)
    timeout_seconds: float = Field(60.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _default_token_url(cls, data: Any) -> Any:
        """Fill in Xero's token endpoint, so a config only names the app and its secrets."""
        if isinstance(data, dict) and isinstance(data.get("auth"), dict):
            auth = data["auth"]
            if "token_url" not in auth:
                data = {**data, "auth": {**auth, "token_url": XERO_TOKEN_URL}}
        return data

    @field_validator("tenant_id", mode="after")
    @classmethod
    def _check_tenant(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            raise ValueError(
                "tenant_id must be the organisation's Xero tenant id, a UUID such as "
                "'6f0c1a3e-...' (GET https://api.xero.com/connections lists them)"
            ) from None

    @field_validator("base_url", mode="after")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an http(s) URL, e.g. {XERO_API_URL}")
        if parts.query or parts.fragment:
            raise ValueError("base_url cannot have a query or fragment")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_tenant_needed(self) -> XeroConfig:
        if self.tenant_id is None and self.auth.type == "oauth2_refresh_token":
            raise ValueError(
                "tenant_id is required with oauth2_refresh_token auth: an app can be connected "
                "to several organisations, and Xero needs to know which one"
            )
        return self
