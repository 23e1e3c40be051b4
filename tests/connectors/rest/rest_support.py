"""Helpers of the `rest` connector tests: hub.yaml-like config blocks for the fake API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmhub.connectors.rest import RestConnector

MakeConnector = Callable[..., RestConnector]


def stream_block(**changes: Any) -> dict[str, Any]:
    """The customers stream as a hub.yaml block would give it, with `changes` applied."""
    block: dict[str, Any] = {
        "name": "customers",
        "path": "/customers",
        "record_selector": "data.items",
        "primary_key": "id",
        "pagination": {"type": "page_number", "page_size": 3},
    }
    block.update(changes)
    return block


def config_block(url: str, **changes: Any) -> dict[str, Any]:
    """A connector block for the fake at `url` (API key in a header), with `changes` applied."""
    block: dict[str, Any] = {
        "type": "rest",
        "base_url": url,
        "auth": {"type": "api_key", "name": "X-API-Key", "value": {"env": "CRM_API_KEY"}},
        "retry": {"backoff": 0.01, "max_backoff": 0.05},
        "streams": [stream_block()],
    }
    block.update(changes)
    return block
