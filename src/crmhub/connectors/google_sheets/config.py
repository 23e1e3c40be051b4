"""Config of the `google_sheets` connector: one tab of a Google spreadsheet as one stream.

The tab's first row (or `header_row`) names the columns, as in the file-based `spreadsheet`
connector. Credentials are an `auth` block from `crmhub.connectors.auth`: an OAuth2 refresh
token, a bearer access token, or an API key for public sheets, which Google allows to read
but never to write.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from crmhub.connectors.auth import (
    ApiKeyConfig,
    AuthConfig,
    BasicConfig,
    OAuth2ClientCredentialsConfig,
)
from crmhub.connectors.base import ConnectorConfig, KeyColumns
from crmhub.connectors.google_sheets.a1 import parse_columns

SHEETS_URL = "https://sheets.googleapis.com"

_SPREADSHEET_ID = re.compile(r"^[A-Za-z0-9_-]{10,}$")
_URL_ID = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")

ValueRender = Literal["UNFORMATTED_VALUE", "FORMATTED_VALUE"]


class GoogleSheetsConfig(ConnectorConfig):
    """Which tab to read, its key (and cursor) columns, and how to log in.

    `columns` bounds the columns read (a span such as ``A:Z``); rows above `header_row` are
    ignored. Without a `cursor` a read returns only the row windows whose content changed
    since the last read, and nothing when the tab is unchanged.
    """

    type: Literal["google_sheets"]
    spreadsheet_id: str = Field(description="The id in the sheet's URL (/spreadsheets/d/<id>/).")
    sheet: str = Field(min_length=1, description="The tab's name, e.g. Customers.")
    key: KeyColumns
    cursor: str | None = None
    columns: str = "A:ZZ"
    header_row: int = Field(1, ge=1)
    batch_size: int = Field(5000, ge=1, le=100_000)
    value_render: ValueRender = "UNFORMATTED_VALUE"
    add_missing_columns: bool = True
    auth: AuthConfig
    base_url: str = SHEETS_URL
    requests_per_minute: float = Field(60.0, gt=0)
    timeout: float = Field(60.0, gt=0)

    @field_validator("spreadsheet_id", mode="before")
    @classmethod
    def _take_id_from_url(cls, value: object) -> object:
        """Accept the whole sheet URL people copy from the browser, keep only the id."""
        if isinstance(value, str):
            found = _URL_ID.search(value)
            if found:
                return found.group(1)
        return value

    @field_validator("spreadsheet_id", mode="after")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _SPREADSHEET_ID.match(value):
            raise ValueError(
                "not a spreadsheet id: copy the part between /spreadsheets/d/ and /edit "
                "of the sheet's URL (letters, digits, '-' and '_')"
            )
        return value

    @field_validator("columns", mode="after")
    @classmethod
    def _check_columns(cls, value: str) -> str:
        parse_columns(value)
        return value.upper()

    @field_validator("auth", mode="after")
    @classmethod
    def _check_auth(cls, value: AuthConfig) -> AuthConfig:
        """Google takes OAuth2 tokens or an API key (`key=` or X-Goog-Api-Key), never basic."""
        if isinstance(value, BasicConfig | OAuth2ClientCredentialsConfig):
            raise ValueError(
                f"Google Sheets does not take {value.type} auth; use oauth2_refresh_token, "
                "bearer (an access token, e.g. a service account's) or, read-only for public "
                "sheets, api_key"
            )
        if isinstance(value, ApiKeyConfig) and (value.location, value.name.lower()) not in {
            ("query", "key"),
            ("header", "x-goog-api-key"),
        }:
            raise ValueError(
                "a Google API key goes in the query as 'key' "
                "({type: api_key, name: key, location: query, value: {env: NAME}})"
            )
        return value

    @model_validator(mode="after")
    def _check_cursor(self) -> GoogleSheetsConfig:
        if self.cursor is not None and self.cursor in self.key_columns:
            raise ValueError("the cursor column cannot also be a key column")
        return self

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The key as a tuple, whether the config gave one column or several."""
        return (self.key,) if isinstance(self.key, str) else tuple(self.key)

    @property
    def column_span(self) -> tuple[int, int]:
        """First and last 0-based column of `columns`."""
        return parse_columns(self.columns)

    @property
    def is_read_only(self) -> bool:
        """True with an API key: Google refuses every write made with one."""
        return isinstance(self.auth, ApiKeyConfig)
