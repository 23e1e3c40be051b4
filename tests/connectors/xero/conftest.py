"""The Xero fake behind Prism (one of each per session, emptied per test) and a connector factory.

All traffic of these tests goes through `prism proxy --errors` with Xero's OpenAPI document, so
a request Xero would refuse, or an answer of the fake that Xero would never give, fails the test.
Only the token endpoint (identity.xero.com, not in that document) is called directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.xero import CLIENT_ID, CLIENT_SECRET, XeroFake, shared_xero

from crmhub.connectors.xero import XeroConfig, XeroConnector

MakeConnector = Callable[..., XeroConnector]


@pytest.fixture
def fake() -> XeroFake:
    """The session's fake, emptied: no contacts, fresh credentials, no faults."""
    xero, _ = shared_xero()
    xero.reset()
    return xero


@pytest.fixture
def prism_url(fake: XeroFake) -> str:
    """Base URL of the Prism proxy in front of the fake's API."""
    return shared_xero()[1]


@pytest.fixture
def secrets_dir(tmp_path: Path, fake: XeroFake, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Refresh token in a file (Xero rotates it), client secret in an env var."""
    (tmp_path / "xero_refresh_token").write_text(fake.refresh_token + "\n")
    monkeypatch.setenv("XERO_TEST_CLIENT_SECRET", CLIENT_SECRET)
    return tmp_path


def config_dict(fake: XeroFake, url: str, secrets_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A valid config block for the fake behind Prism; `overrides` replace top-level keys."""
    block: dict[str, Any] = {
        "type": "xero",
        "tenant_id": fake.tenant_id,
        "base_url": url,
        "auth": {
            "type": "oauth2_refresh_token",
            "token_url": fake.token_url,
            "client_id": CLIENT_ID,
            "client_secret": {"env": "XERO_TEST_CLIENT_SECRET"},
            "refresh_token": {"file": str(secrets_dir / "xero_refresh_token")},
        },
        "calls_per_minute": None,
    }
    block.update(overrides)
    return block


@pytest.fixture
def make_connector(fake: XeroFake, prism_url: str, secrets_dir: Path) -> Iterator[MakeConnector]:
    """Build connectors for the fake; all are closed after the test."""
    made: list[XeroConnector] = []

    def make(**overrides: Any) -> XeroConnector:
        config = XeroConfig.model_validate(config_dict(fake, prism_url, secrets_dir, **overrides))
        connector = XeroConnector(config, name="accounts")
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()
