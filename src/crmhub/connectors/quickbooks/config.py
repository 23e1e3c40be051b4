"""Config of the `quickbooks` connector: one QuickBooks Online company (realm), its Customers.

Intuit's endpoints are the defaults, so a production config names only the realm and the OAuth2
app credentials; tests and the sandbox override `base_url` and `auth.token_url`.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator, model_validator

from crmhub.connectors.auth import OAuth2RefreshTokenConfig
from crmhub.connectors.base import ConnectorConfig
from crmhub.connectors.quickbooks.records import stable_columns

INTUIT_API_URL = "https://quickbooks.api.intuit.com"
INTUIT_TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
MAX_PAGE_SIZE = 1000
"""QBO's ceiling for MAXRESULTS; CDC also returns at most this many entities per type."""
CDC_MAX_ENTITIES = 1000
"""CDC answers at most this many entities per type and has no paging: reaching it means cut."""
CDC_MAX_DAYS = 30
BATCH_MAX_ITEMS = 30
"""QBO's limit of operations in one /batch call."""
BATCH_PER_MINUTE = 40
"""QBO's limit of /batch calls per minute per company."""
"""CDC only answers for changes in the last 30 days."""

GoldenIdStore = Literal["Notes", "AcctNum", "ResaleNum"]
"""QBO Customer fields that can hold the golden id (QBO v3 has no custom fields)."""


class QuickBooksAuthConfig(OAuth2RefreshTokenConfig):
    """OAuth2 refresh-token grant against Intuit; `type` and `token_url` have Intuit defaults.

    Intuit rotates the refresh token (at least once a day), so give `refresh_token` as
    `{file: path}`: the new one is saved there after every refresh.
    """

    type: Literal["oauth2_refresh_token"] = "oauth2_refresh_token"
    token_url: str = INTUIT_TOKEN_URL


class QuickBooksConfig(ConnectorConfig):
    """The Customers of one QBO company, read incrementally and updated with sparse updates."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: Literal["quickbooks"]
    realm_id: str = Field(pattern=r"^\d{1,32}$", description="Company id (realmId), digits only.")
    auth: QuickBooksAuthConfig
    base_url: str = Field(
        INTUIT_API_URL, description="API host; https://sandbox-quickbooks.api.intuit.com for tests."
    )
    minor_version: int = Field(75, ge=1, description="Sent as ?minorversion= on every call.")
    page_size: int = Field(
        MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="MAXRESULTS of each query page."
    )
    use_cdc: bool = Field(True, description="Change data capture for bookmarks under 30 days.")
    include_inactive: bool = Field(True, description="Also read customers made inactive.")
    golden_id_column: str = Field(
        "crmhub_id",
        min_length=1,
        pattern=r"^[A-Za-z_][\w]*$",
        description="Record column of the golden id; the hub's writeback.golden_id_field.",
    )
    golden_id_store: GoldenIdStore = Field(
        "Notes", description="QBO field keeping the golden id (Notes: as one tagged line)."
    )
    write_batch_size: int = Field(
        BATCH_MAX_ITEMS,
        ge=1,
        le=BATCH_MAX_ITEMS,
        description="Changed customers per /batch call; 1 sends one POST each.",
    )
    requests_per_minute: float = Field(
        500, gt=0, description="Rate budget of this company, shared on this machine."
    )
    timeout: float = Field(60, gt=0, description="Read timeout of each call, in seconds.")

    @field_validator("base_url", mode="after")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                "base_url must be an http(s) URL, e.g. https://quickbooks.api.intuit.com "
                "or https://sandbox-quickbooks.api.intuit.com"
            )
        if parts.query or parts.path.strip("/"):
            raise ValueError("base_url is the host only; the /v3/company/<realm> path is added")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_golden_column(self) -> QuickBooksConfig:
        taken = set(stable_columns("")) - {""}
        if self.golden_id_column in taken:
            raise ValueError(
                f"golden_id_column {self.golden_id_column!r} is already a customer column; "
                "pick a new name such as crmhub_id (golden_id_store says where it is kept)"
            )
        return self
