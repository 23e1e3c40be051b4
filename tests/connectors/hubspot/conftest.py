"""Fixtures of the `hubspot` connector tests: a running HubSpot fake and connectors on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hubspot_support import TOKEN, TOKEN_ENV, ConnectorFactory
from tests.fakes.hubspot import HubSpotFake

from crmhub.connectors.hubspot import HubSpotConfig, HubSpotConnector


@pytest.fixture
def fake() -> Iterator[HubSpotFake]:
    """A fresh HubSpot fake, serving for the test."""
    fake = HubSpotFake(tokens={TOKEN})
    with fake.running():
        yield fake


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """The private-app token, in the environment variable the configs name."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return TOKEN_ENV


@pytest.fixture
def connect(fake: HubSpotFake, token_env: str) -> Iterator[ConnectorFactory]:
    """`connect(**settings)`: a connector on the fake, its config validated like hub.yaml's."""
    made: list[HubSpotConnector] = []

    def factory(**settings: Any) -> HubSpotConnector:
        block = {
            "type": "hubspot",
            "base_url": fake.server.url,
            "auth": {"type": "bearer", "token": {"env": token_env}},
            **settings,
        }
        connector = HubSpotConnector(HubSpotConfig.model_validate(block), name="crm")
        made.append(connector)
        return connector

    yield factory
    for connector in made:
        connector.close()
