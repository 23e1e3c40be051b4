"""Seed data and helpers shared by the `sql` connector tests (see conftest.py for fixtures)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from crmhub.connectors.base import Batch
from crmhub.connectors.sql import SqlConfig, SqlConnector

BASE_TIME = datetime(2024, 3, 1, 9, 30)
ROWS = 26
SAME_CURSOR = 7
"""Rows per cursor value: with batch_size 5, groups straddle every batch boundary."""


def seed_rows(count: int = ROWS) -> list[dict[str, Any]]:
    """Customers whose `updated_at` repeats in runs of SAME_CURSOR; two have no cursor."""
    rows = []
    for i in range(1, count + 1):
        stamp = None if i in (4, 19) else BASE_TIME + timedelta(minutes=i // SAME_CURSOR)
        rows.append(
            {
                "id": i,
                "first_name": f"Name{i}",
                "email": f"user{i}@example.com",
                "balance": Decimal(f"{i}.50"),
                "updated_at": stamp,
            }
        )
    return rows


@dataclass
class Database:
    """A real database to test against and helpers to create and inspect tables."""

    backend: str
    url: str
    engine: sa.Engine

    def unique_name(self, prefix: str) -> str:
        """A table name no other test uses."""
        return f"{prefix}_{uuid.uuid4().hex[:8]}"

    def create_customers(self, name: str | None = None, rows: Sequence[dict[str, Any]] = ()) -> str:
        """Create (and fill) a customers table; returns its name."""
        name = name or self.unique_name("customers")
        table = customers_table(name)
        table.create(self.engine)
        if rows:
            with self.engine.begin() as conn:
                conn.execute(table.insert(), list(rows))
        return name

    def rows(self, name: str, order_by: str = "id") -> list[dict[str, Any]]:
        """Every row of table `name` as dicts."""
        # SELECT * rather than reflection: MySQL reflection mangles names containing a backtick
        query = sa.select(sa.literal_column("*")).select_from(sa.table(name))
        with self.engine.connect() as conn:
            result = conn.execute(query.order_by(sa.column(order_by)))
            return [dict(row._mapping) for row in result]

    def config(self, **overrides: Any) -> SqlConfig:
        """A connector config for this database; `overrides` set table, key, cursor, ..."""
        base: dict[str, Any] = {"type": "sql", "url": self.url, "key": "id"}
        return SqlConfig.model_validate({**base, **overrides})

    def connector(self, **overrides: Any) -> SqlConnector:
        """A connector on this database, named like a hub source."""
        return SqlConnector(self.config(**overrides), name="accounting")

    def has_table(self, name: str) -> bool:
        """Whether table `name` exists (to prove injected SQL did not run)."""
        return sa.inspect(self.engine).has_table(name)


def customers_table(name: str, metadata: sa.MetaData | None = None) -> sa.Table:
    """The seeded customers table: integer key, text, decimal and a timestamp cursor."""
    return sa.Table(
        name,
        metadata or sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("first_name", sa.String(100)),
        sa.Column("email", sa.String(200)),
        sa.Column("balance", sa.Numeric(12, 2)),
        sa.Column("updated_at", sa.DateTime, nullable=True),
    )


def ids(batches: Sequence[Batch]) -> list[int]:
    """The `id` of every record of `batches`, in read order."""
    return [int(record["id"]) for batch in batches for record in batch.records]
