"""Names the QBO connector tests share (conftest modules are not imported by tests)."""

from __future__ import annotations

from collections.abc import Callable

from crmhub.connectors.quickbooks import QuickBooksConnector

MakeConnector = Callable[..., QuickBooksConnector]
"""`make_connector(**config_overrides)`: a connector for the fake, closed after the test."""
