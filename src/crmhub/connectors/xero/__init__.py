"""The `xero` connector: one Xero organisation's Contacts, read incrementally and written back."""

from __future__ import annotations

from crmhub.connectors.xero.config import XeroConfig
from crmhub.connectors.xero.connector import XeroConnector

__all__ = ["XeroConfig", "XeroConnector"]
