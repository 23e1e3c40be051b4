"""Conformance targets of the `sql` kind: an SQLite file, a PostgreSQL schema, a MariaDB database.

Each target creates its own table (PostgreSQL: schema and login role; MariaDB: database and
user) and drops it in `close()`. The servers are the ones tests/conftest.py uses, at the same
admin URLs; a missing server fails the test, it never skips.

The connector logs in as a role of its own whose password comes from a secret file, so the
suite can search logs and errors for that password. The key column is nullable on purpose: the
bad row is a customer without a key.
"""

from __future__ import annotations

import os
import secrets
import uuid
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crmhub.connectors.base import Capability, Connector, Upsert
from crmhub.connectors.sql import SqlConfig, SqlConnector
from crmhub.testing import ConformanceTarget, Fault, SampleRow

# the same servers and variables as tests/conftest.py
PG_ADMIN_URL = os.environ.get(
    "CRMHUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_ADMIN_URL = os.environ.get(
    "CRMHUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
TABLE = "customers"
GOLDEN_FIELD = "crmhub_id"

_engines: dict[str, sa.Engine] = {}


def admin_engine(url: str, what: str) -> sa.Engine:
    """One admin engine per server for the session; fails the test when it is unreachable."""
    if url not in _engines:
        engine = sa.create_engine(url, pool_pre_ping=True)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as exc:
            engine.dispose()
            pytest.fail(f"{what} is required for this test and is not reachable at {url}: {exc}")
        _engines[url] = engine
    return _engines[url]


def customers_table(schema: str | None) -> sa.Table:
    """The customers table; `id` may be NULL so that a row without a key can exist."""
    return sa.Table(
        TABLE,
        sa.MetaData(),
        sa.Column("id", sa.String(20), nullable=True),
        sa.Column("first_name", sa.String(100)),
        sa.Column("last_name", sa.String(100)),
        sa.Column("email", sa.String(200)),
        sa.Column("updated_at", sa.DateTime),
        sa.Column(GOLDEN_FIELD, sa.String(40)),
        schema=schema,
    )


def as_values(row: SampleRow) -> dict[str, Any]:
    """A sample row as column values (the timestamp as naive UTC, as a DATETIME holds it)."""
    return {
        "id": row.id,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "email": row.email,
        "updated_at": row.updated_at.astimezone(UTC).replace(tzinfo=None),
    }


class SqlTarget(ConformanceTarget):
    """The customers table on one database; subclasses say where and as whom."""

    kind = "sql"

    def __init__(self, engine: sa.Engine, schema: str | None) -> None:
        self.engine = engine
        self.schema = schema
        self.table = customers_table(schema)
        self.table.create(engine)

    def connector(
        self, *, bad_credentials: bool = False, batch_size: int | None = None
    ) -> Connector:
        options: dict[str, Any] = {
            "type": "sql",
            "table": TABLE,
            "key": "id",
            "cursor": "updated_at",
            "write_columns": [GOLDEN_FIELD],
            **self.login(bad_credentials=bad_credentials),
        }
        if self.schema is not None:
            options["db_schema"] = self.schema
        if batch_size is not None:
            options["batch_size"] = batch_size
        return SqlConnector(SqlConfig.model_validate(options), name="conformance")

    @abstractmethod
    def login(self, *, bad_credentials: bool) -> dict[str, Any]:
        """The `url` (and `password`) entries of the config."""

    def seed(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(self.table))
            conn.execute(sa.insert(self.table), [as_values(r) for r in rows])
        return {r.id: r.id for r in rows}

    def change(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        with self.engine.begin() as conn:
            for row in rows:
                values = as_values(row)
                done = conn.execute(
                    sa.update(self.table).where(self.table.c.id == row.id).values(values)
                )
                if done.rowcount == 0:
                    conn.execute(sa.insert(self.table).values(values))
        return {r.id: r.id for r in rows}

    def add_bad_row(self) -> None:
        """A customer whose key is NULL."""
        values = {"id": None, "first_name": "No", "last_name": "Key", "email": "nokey@example.com"}
        with self.engine.begin() as conn:
            conn.execute(sa.insert(self.table).values(updated_at=datetime(2024, 5, 1), **values))

    def upserts(self, ids: Mapping[str, str]) -> list[Upsert]:
        return [
            Upsert(src, f"g-{sid}", {GOLDEN_FIELD: f"g-{sid}"}, f"{sid}:{GOLDEN_FIELD}")
            for sid, src in ids.items()
        ]

    def secrets(self) -> list[str]:
        return []


class SqliteTarget(SqlTarget):
    """An SQLite file in the test's temporary directory."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "conformance.db"
        super().__init__(sa.create_engine(f"sqlite:///{self.path}"), None)

    def login(self, *, bad_credentials: bool) -> dict[str, Any]:
        if bad_credentials:
            raise NotImplementedError("SQLite has no credentials to refuse")
        return {"url": f"sqlite:///{self.path}"}

    def skip_reason(self, capability: Capability) -> str | None:
        if capability is Capability.AUTH and capability in self.capabilities:
            return "sql on SQLite has no logins, so there are no credentials to refuse"
        return super().skip_reason(capability)

    def close(self) -> None:
        self.engine.dispose()


class ServerTarget(SqlTarget):
    """A fresh schema or database on a server, reached as a login of its own."""

    def __init__(self, tmp_path: Path, admin: sa.Engine) -> None:
        self.admin = admin
        self.name = f"conf_{uuid.uuid4().hex[:10]}"
        self.password = f"pw-{secrets.token_hex(12)}"
        self.bad_password = f"bad-{secrets.token_hex(12)}"
        self.secret_file = tmp_path / "db-password"
        self.secret_file.write_text(self.password, encoding="utf-8")
        self.bad_secret_file = tmp_path / "bad-db-password"
        self.bad_secret_file.write_text(self.bad_password, encoding="utf-8")
        try:
            self.create_login()
            super().__init__(admin, self.name)
            self.grant()
        except BaseException:
            self.close()
            raise

    @abstractmethod
    def create_login(self) -> None:
        """Create the schema/database and the login the connector uses."""

    def grant(self) -> None:
        """Let the login read and write the table."""

    def url_for(self, user: str) -> str:
        return self.admin.url.set(username=user, password=None).render_as_string()

    def inject(self, fault: Fault) -> None:
        """A 401 is the login being revoked: every later connection is refused.

        A database has no 429 or 5xx to inject; only the login can fail on demand.
        """
        if fault.status != 401:
            raise NotImplementedError(f"a database cannot answer {fault.status}")
        self.revoke_login()

    @abstractmethod
    def revoke_login(self) -> None:
        """Make the server refuse the connector's login from now on."""

    def secrets(self) -> list[str]:
        return [self.password, self.bad_password]


class PostgresTarget(ServerTarget):
    """A schema and a login role of its own on the PostgreSQL server.

    The server of the test setup trusts 127.0.0.1 (any password is accepted), so bad
    credentials are an unknown role with a wrong password: refused whatever pg_hba says.
    """

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, admin_engine(PG_ADMIN_URL, "PostgreSQL"))

    def create_login(self) -> None:
        with self.admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{self.name}"'))
            # hex digits only, so the password can be a literal (utility statements take none)
            conn.execute(sa.text(f"CREATE ROLE \"{self.name}\" LOGIN PASSWORD '{self.password}'"))
            conn.execute(sa.text(f'GRANT USAGE ON SCHEMA "{self.name}" TO "{self.name}"'))

    def grant(self) -> None:
        with self.admin.begin() as conn:
            conn.execute(sa.text(f'GRANT ALL ON "{self.name}".{TABLE} TO "{self.name}"'))

    def login(self, *, bad_credentials: bool) -> dict[str, Any]:
        if bad_credentials:
            user, secret = f"{self.name}_unknown", self.bad_secret_file
        else:
            user, secret = self.name, self.secret_file
        return {"url": self.url_for(user), "password": {"file": str(secret)}}

    def revoke_login(self) -> None:
        with self.admin.begin() as conn:
            conn.execute(sa.text(f'ALTER ROLE "{self.name}" NOLOGIN'))
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :u"
                ),
                {"u": self.name},
            )

    def close(self) -> None:
        with self.admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{self.name}"'))


class MariaDbTarget(ServerTarget):
    """A database and a user of its own on the MariaDB server; a wrong password is refused."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, admin_engine(MARIADB_ADMIN_URL, "MariaDB"))

    def create_login(self) -> None:
        with self.admin.begin() as conn:
            conn.execute(sa.text(f"CREATE DATABASE `{self.name}`"))
            conn.execute(
                sa.text(f"CREATE USER '{self.name}'@'%' IDENTIFIED BY :pw"), {"pw": self.password}
            )
            conn.execute(sa.text(f"GRANT ALL ON `{self.name}`.* TO '{self.name}'@'%'"))

    def url_for(self, user: str) -> str:
        url = self.admin.url.set(username=user, password=None, database=self.name)
        return url.render_as_string()

    def login(self, *, bad_credentials: bool) -> dict[str, Any]:
        secret = self.bad_secret_file if bad_credentials else self.secret_file
        return {"url": self.url_for(self.name), "password": {"file": str(secret)}}

    def revoke_login(self) -> None:
        with self.admin.begin() as conn:
            conn.execute(
                sa.text(f"ALTER USER '{self.name}'@'%' IDENTIFIED BY :pw"),
                {"pw": self.bad_password[::-1]},
            )
            sessions = conn.execute(
                sa.text("SELECT id FROM information_schema.processlist WHERE user = :u"),
                {"u": self.name},
            )
            for (session,) in sessions.all():
                conn.execute(sa.text(f"KILL CONNECTION {int(session)}"))

    def close(self) -> None:
        with self.admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{self.name}`"))
            conn.execute(sa.text(f"DROP USER IF EXISTS '{self.name}'@'%'"))


TARGETS: list[tuple[str, Callable[[Path], ConformanceTarget]]] = [
    ("sql-sqlite", SqliteTarget),
    ("sql-postgresql", PostgresTarget),
    ("sql-mariadb", MariaDbTarget),
]
