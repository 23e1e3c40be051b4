"""Config of the `hubspot` connector: HubSpot CRM v3 contacts and companies.

Credentials are a private-app token (`{type: bearer, token: {env: ..}}`) or an OAuth2 refresh
token; both stay secret references until a request needs them. Each object type is one stream,
and a hub source reads one of them (`stream: contacts`), so one config block describes both.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crmhub.connectors.auth import (
    AuthBase,
    BearerConfig,
    OAuth2RefreshToken,
    OAuth2RefreshTokenConfig,
    _resolve,
)
from crmhub.connectors.base import ConnectorConfig
from crmhub.connectors.hubspot.streams import READ_ONLY_PROPERTIES, STREAMS

StreamName = Literal["contacts", "companies"]

HUBSPOT_API = "https://api.hubapi.com"
HUBSPOT_TOKEN_URL = "https://api.hubapi.com/oauth/v1/token"
SEARCH_RESULT_CAP = 10_000
"""HubSpot's search endpoints page through at most this many results per query."""

_INTERNAL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class HubSpotOAuthConfig(OAuth2RefreshTokenConfig):
    """`{type: oauth2_refresh_token, client_id, client_secret, refresh_token}` of a HubSpot app.

    `token_url` defaults to HubSpot's token endpoint, which takes the client id and secret in
    the form body (not only in a Basic header), so the built auth sends them there too.
    """

    token_url: str = HUBSPOT_TOKEN_URL
    client_auth: Literal["basic", "body"] = "body"

    def build(self, *, source: str | None = None) -> AuthBase:
        # HubSpot keeps a refresh token valid after a grant, so a lost answer may be retried
        return OAuth2RefreshToken(
            self.token_url,
            self.client_id,
            _resolve(self.client_secret, source),
            _resolve(self.refresh_token, source),
            refresh_token_file=self.refresh_token.file,
            source=source,
            client_auth=self.client_auth,
            rotates=False,
        )


HubSpotAuthConfig = Annotated[BearerConfig | HubSpotOAuthConfig, Field(discriminator="type")]
"""A private-app token (`bearer`) or an app's OAuth2 refresh token."""


class HubSpotStreamConfig(BaseModel):
    """Which properties one object type reads, and how write-back finds objects to create."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    properties: list[str] | None = Field(
        default=None,
        description="Properties to read instead of the defaults (the modified date is always "
        "added, it is the cursor).",
    )
    extra_properties: list[str] = Field(
        default_factory=list,
        description="Properties read in addition to `properties` or the defaults, e.g. crmhub_id.",
    )
    id_property: str | None = Field(
        default=None,
        description="Unique property that write-back upserts by when a row has no HubSpot id "
        "(email, or a custom unique property such as crmhub_id); unset: such rows are rejected.",
    )

    @field_validator("properties", "extra_properties")
    @classmethod
    def _names(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        bad = [name for name in value if not _INTERNAL_NAME.match(name)]
        if bad:
            raise ValueError(
                f"{bad}: give HubSpot's internal property names (letters, digits and _, "
                "e.g. firstname or crmhub_id), not their labels"
            )
        if len(set(value)) != len(value):
            raise ValueError("each property may be listed once")
        return value

    @field_validator("id_property")
    @classmethod
    def _unique_property(cls, value: str | None) -> str | None:
        if value in READ_ONLY_PROPERTIES:
            raise ValueError(
                f"{value!r} cannot be an upsert id: rows with a HubSpot id are updated by it "
                "anyway; name a unique property such as email or crmhub_id, or leave it unset"
            )
        return value


class HubSpotConfig(ConnectorConfig):
    """One HubSpot account; streams `contacts` and `companies`."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: Literal["hubspot"]
    base_url: str = Field(HUBSPOT_API, description="API root; a fake or proxy in tests.")
    auth: HubSpotAuthConfig
    streams: dict[StreamName, HubSpotStreamConfig] = Field(
        default_factory=dict,
        description="Per object type settings; a type not listed reads its default properties.",
    )
    page_size: int = Field(100, ge=1, le=100, description="Objects per list page (max 100).")
    search_page_size: int = Field(100, ge=1, le=200, description="Objects per search page.")
    search_result_cap: int = Field(
        SEARCH_RESULT_CAP,
        ge=1,
        description="Results one search query can page through before it must be restarted.",
    )
    write_batch_size: int = Field(100, ge=1, le=100, description="Rows per batch call.")
    requests_per_second: float = Field(10.0, gt=0, description="Budget of all calls.")
    search_requests_per_second: float = Field(5.0, gt=0, description="Budget of searches.")
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for an answer.")

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("base_url must be an http(s) URL, e.g. https://api.hubapi.com")
        if parts.username or parts.password or parts.query:
            raise ValueError("base_url must not hold credentials or a query; use 'auth'")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _search_page_fits_cap(self) -> HubSpotConfig:
        if self.search_page_size > self.search_result_cap:
            raise ValueError("search_page_size cannot exceed search_result_cap")
        return self

    def stream(self, name: str) -> HubSpotStreamConfig:
        """Settings of one object type (defaults when the config does not list it)."""
        return self.streams.get(cast(StreamName, name)) or HubSpotStreamConfig()

    def properties(self, name: str) -> tuple[str, ...]:
        """Properties read for stream `name`: chosen or default, extras, and the cursor."""
        spec = STREAMS[name]
        settings = self.stream(name)
        chosen = settings.properties if settings.properties is not None else spec.default_properties
        names = [*chosen, *settings.extra_properties, spec.modified_property]
        return tuple(dict.fromkeys(names))
