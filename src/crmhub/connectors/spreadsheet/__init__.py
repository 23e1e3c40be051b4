"""The `spreadsheet` connector: CSV, XLSX and ODS files as keyed, incremental streams."""

from __future__ import annotations

from crmhub.connectors.spreadsheet.config import SpreadsheetConfig
from crmhub.connectors.spreadsheet.connector import SpreadsheetConnector

__all__ = ["SpreadsheetConfig", "SpreadsheetConnector"]
