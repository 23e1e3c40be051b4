"""Fixtures of the `rest` connector tests: a running fake API and a connector factory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_support import MakeConnector, config_block
from tests.fakes.rest_api import (
    API_KEY,
    BASIC_PASSWORD,
    BEARER_TOKEN,
    CLIENT_SECRET,
    RestApiFake,
)

from crmhub.connectors.rest import RestConfig, RestConnector


@pytest.fixture(autouse=True)
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake's secrets, as hub.yaml would reference them."""
    monkeypatch.setenv("CRM_API_KEY", API_KEY)
    monkeypatch.setenv("CRM_TOKEN", BEARER_TOKEN)
    monkeypatch.setenv("CRM_PASSWORD", BASIC_PASSWORD)
    monkeypatch.setenv("CRM_CLIENT_SECRET", CLIENT_SECRET)


@pytest.fixture
def fake() -> Iterator[RestApiFake]:
    """A fresh fake API for one test (API-key auth, page-number paging)."""
    api = RestApiFake()
    api.start()
    yield api
    api.stop()


@pytest.fixture
def make_connector(fake: RestApiFake) -> Iterator[MakeConnector]:
    """`make_connector(**config_changes)` -> a RestConnector for the fake, closed afterwards."""
    made: list[RestConnector] = []

    def make(**changes: Any) -> RestConnector:
        config = RestConfig.model_validate(config_block(fake.url, **changes))
        connector = RestConnector(config, name="crm")
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()
