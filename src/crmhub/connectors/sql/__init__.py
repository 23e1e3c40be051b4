"""The `sql` connector: a table or SELECT of any SQLAlchemy database as one stream."""

from __future__ import annotations

from crmhub.connectors.sql.config import SqlConfig
from crmhub.connectors.sql.connector import SqlConnector

__all__ = ["SqlConfig", "SqlConnector"]
