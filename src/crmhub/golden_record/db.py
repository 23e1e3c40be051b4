"""Open the golden-record database and keep its schema at the newest migration.

SQLite (the default, one file next to hub.yaml) and PostgreSQL through psycopg 3 are supported.
The Alembic config is built in code, so an installed crmhub migrates its database without an
alembic.ini; on PostgreSQL everything, the version table included, lands in the first schema of
the connection's search_path.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from crmhub.golden_record.models import VERSION_TABLE

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
)
"""WAL lets readers (other apps, the views) work during a sync; NORMAL is durable under WAL."""


def open_database(url: str, *, migrate: bool = True) -> sa.Engine:
    """Return an engine on `url`, with the schema migrated to the newest version.

    Args:
        url: SQLAlchemy URL, ``sqlite:///path/crmhub.db`` or ``postgresql+psycopg://...``.
        migrate: apply pending migrations (the default); False only to inspect an old database.
    """
    engine = create_engine(url)
    if migrate:
        upgrade_engine(engine)
    return engine


def upgrade(url: str) -> str | None:
    """Migrate the database at `url` to the newest version and return that revision."""
    engine = create_engine(url)
    try:
        return upgrade_engine(engine)
    finally:
        engine.dispose()


def create_engine(url: str) -> sa.Engine:
    """Create an engine with crmhub's connection settings, without touching the schema."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    return _create_sqlite_engine(parsed)


def upgrade_engine(engine: sa.Engine) -> str | None:
    """Apply pending migrations on `engine`; a no-op when the schema is already current."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.begin() as conn:
        if current_revision(conn) == head:
            return head
        log.info("migrating %s to %s", engine.url.render_as_string(), head)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return head


def current_revision(conn: sa.Connection) -> str | None:
    """The schema revision recorded in the database, None when it was never migrated."""
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the shipped migrations (for `crmhub db` commands)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _create_sqlite_engine(url: sa.URL) -> sa.Engine:
    database = url.database or ""
    kwargs: dict[str, Any] = {}
    if database in ("", ":memory:") or database.startswith("file:"):
        kwargs["poolclass"] = sa.StaticPool
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, **kwargs)
    sa.event.listen(engine, "connect", _on_sqlite_connect)
    sa.event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Set the pragmas and take transaction control away from the sqlite3 module.

    The sqlite3 module's implicit BEGIN breaks transactional DDL and savepoints; SQLAlchemy's
    documented fix is to disable it here and emit BEGIN in the `begin` event.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _on_sqlite_begin(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN")
