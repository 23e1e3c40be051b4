"""Fixtures of the google_sheets tests: the Sheets fake behind a Prism proxy, and connectors.

Every call goes through `prism proxy --errors` against Google's published Sheets v4 document,
so a request or answer the real API would not accept fails the test. The one exception is
API-key auth: the document declares only OAuth2 security, and Prism answers 401 itself to a
request without a bearer token, so API-key tests talk to the fake directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.fakes.google_sheets import FakeSheets, shared_sheets

from crmhub.connectors.google_sheets import GoogleSheetsConfig, GoogleSheetsConnector

SID = "1CrmHubTestSheet-0123456789"
TAB = "Customers"
HEADER = ["Customer No", "First Name", "Last Name", "Email", "Updated"]

Make = Callable[..., GoogleSheetsConnector]


def customers(count: int, *, start: int = 1001) -> list[list[Any]]:
    """The header and `count` rows: numbers as numbers, as Sheets stores them."""
    rows: list[list[Any]] = [list(HEADER)]
    for i in range(count):
        number = start + i
        rows.append(
            [number, f"First{number}", f"Last{number}", f"c{number}@example.com", "2024-05-01"]
        )
    return rows


@pytest.fixture
def sheets(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSheets]:
    """The shared fake, emptied, with the credentials the connectors reference set."""
    fake, _ = shared_sheets()
    fake.reset()
    monkeypatch.setenv("GS_TOKEN", "sheets-access-token")
    monkeypatch.setenv("GS_BAD_TOKEN", "sheets-wrong-token")
    monkeypatch.setenv("GS_API_KEY", "sheets-api-key")
    monkeypatch.setenv("GS_CLIENT_SECRET", "sheets-client-secret")
    monkeypatch.setenv("GS_REFRESH_TOKEN", "sheets-refresh-token")
    yield fake
    fake.reset()


@pytest.fixture
def proxy_url(sheets: FakeSheets) -> str:
    """Base URL of the Prism proxy in front of the fake."""
    return shared_sheets()[1]


def config(base_url: str, **overrides: Any) -> GoogleSheetsConfig:
    """A validated config for the test sheet; `overrides` replace or add keys."""
    block: dict[str, Any] = {
        "type": "google_sheets",
        "spreadsheet_id": SID,
        "sheet": TAB,
        "key": "Customer No",
        "base_url": base_url,
        "auth": {"type": "bearer", "token": {"env": "GS_TOKEN"}},
        "requests_per_minute": 1_000_000,
    }
    block.update(overrides)
    return GoogleSheetsConfig.model_validate(block)


@pytest.fixture
def make(proxy_url: str) -> Iterator[Make]:
    """`make(**overrides)` -> a connector through Prism; all are closed after the test."""
    made: list[GoogleSheetsConnector] = []

    def build(**overrides: Any) -> GoogleSheetsConnector:
        base = overrides.pop("base_url", proxy_url)
        connector = GoogleSheetsConnector(config(base, **overrides), name="sheet")
        made.append(connector)
        return connector

    yield build
    for connector in made:
        connector.close()


def data_ranges(fake: FakeSheets) -> list[str]:
    """The decoded ranges of every values.get the fake served, in order."""
    from urllib.parse import unquote

    return [
        unquote(r.path.rsplit("/", 1)[-1])
        for r in fake.server.requests
        if r.method == "GET" and "/values/" in r.path
    ]
