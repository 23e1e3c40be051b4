"""The `quickbooks` connector: QuickBooks Online Customers of one company (realm)."""

from __future__ import annotations

from crmhub.connectors.quickbooks.config import QuickBooksConfig
from crmhub.connectors.quickbooks.connector import QuickBooksConnector

__all__ = ["QuickBooksConfig", "QuickBooksConnector"]
