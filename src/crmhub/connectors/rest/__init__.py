"""The declarative `rest` connector: a JSON REST API described entirely in hub.yaml."""

from __future__ import annotations

from crmhub.connectors.rest.config import RestConfig
from crmhub.connectors.rest.connector import RestConnector

__all__ = ["RestConfig", "RestConnector"]
