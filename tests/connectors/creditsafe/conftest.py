"""Fixtures of the `creditsafe` tests: a running fake with one portfolio, a connector factory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.connectors.creditsafe.creditsafe_support import (
    PASSWORD,
    PORTFOLIO,
    USERNAME,
    MakeConnector,
    config_block,
)
from tests.fakes.creditsafe import CreditsafeFake

from crmhub.connectors.creditsafe import CreditsafeConfig, CreditsafeConnector


@pytest.fixture(autouse=True)
def password_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The account's password, as hub.yaml would reference it."""
    monkeypatch.setenv("CREDITSAFE_PASSWORD", PASSWORD)


@pytest.fixture
def fake() -> Iterator[CreditsafeFake]:
    """A fresh Creditsafe fake with an empty portfolio PORTFOLIO."""
    server = CreditsafeFake(username=USERNAME, password=PASSWORD)
    server.add_portfolio(PORTFOLIO, "Key accounts")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_connector(fake: CreditsafeFake) -> Iterator[MakeConnector]:
    """Build connectors on the fake (closed after the test); keyword args change the block."""
    made: list[CreditsafeConnector] = []

    def make(**changes: Any) -> CreditsafeConnector:
        config = CreditsafeConfig.model_validate(config_block(fake.url, **changes))
        connector = CreditsafeConnector(config, name="credit")
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()
