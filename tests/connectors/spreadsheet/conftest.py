"""Fixtures of the spreadsheet connector tests."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["csv", "xlsx", "ods"])
def fmt(request: pytest.FixtureRequest) -> str:
    """Each file format the connector reads and writes."""
    return str(request.param)
