"""The QBO fake (one server per module, emptied per test) and a connector factory around it.

Every test ends by asserting that neither the fake's answers nor the connector's bodies broke
Intuit's XSD: `fake.violations` must be empty unless a test empties it on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from qbo_support import MakeConnector
from tests.fakes.quickbooks import CLIENT_ID, CLIENT_SECRET, TOKEN_PATH, QuickBooksFake

from crmhub.connectors.quickbooks import QuickBooksConfig, QuickBooksConnector


@pytest.fixture(scope="module")
def _served() -> Iterator[QuickBooksFake]:
    fake = QuickBooksFake()
    fake.server.start()
    yield fake
    fake.server.stop()


@pytest.fixture
def fake(_served: QuickBooksFake) -> Iterator[QuickBooksFake]:
    """The fake, empty; fails the test if any XSD or protocol violation was recorded."""
    _served.reset()
    yield _served
    assert _served.violations == []


@pytest.fixture
def secrets_dir(tmp_path: Path, fake: QuickBooksFake, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Refresh token in a file (QBO rotates it), client secret in an env var."""
    (tmp_path / "qbo_refresh_token").write_text(fake.refresh_token + "\n")
    monkeypatch.setenv("QBO_CLIENT_SECRET", CLIENT_SECRET)
    return tmp_path


def config_dict(fake: QuickBooksFake, secrets_dir: Path, **overrides: Any) -> dict[str, Any]:
    """A valid config block for the fake; `overrides` replace top-level keys."""
    block: dict[str, Any] = {
        "type": "quickbooks",
        "realm_id": fake.realm_id,
        "base_url": fake.server.url,
        "auth": {
            "token_url": fake.server.url + TOKEN_PATH,
            "client_id": CLIENT_ID,
            "client_secret": {"env": "QBO_CLIENT_SECRET"},
            "refresh_token": {"file": str(secrets_dir / "qbo_refresh_token")},
        },
        "requests_per_minute": 100_000,
    }
    block.update(overrides)
    return block


@pytest.fixture
def make_connector(fake: QuickBooksFake, secrets_dir: Path) -> Iterator[MakeConnector]:
    """Build connectors for the fake; all are closed after the test."""
    made: list[QuickBooksConnector] = []

    def make(**overrides: Any) -> QuickBooksConnector:
        config = QuickBooksConfig.model_validate(config_dict(fake, secrets_dir, **overrides))
        connector = QuickBooksConnector(config, name="books")
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()
