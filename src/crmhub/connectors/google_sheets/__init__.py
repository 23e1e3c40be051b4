"""The `google_sheets` connector: a tab of a Google spreadsheet as a keyed, incremental stream."""

from __future__ import annotations

from crmhub.connectors.google_sheets.config import GoogleSheetsConfig
from crmhub.connectors.google_sheets.connector import GoogleSheetsConnector

__all__ = ["GoogleSheetsConfig", "GoogleSheetsConnector"]
