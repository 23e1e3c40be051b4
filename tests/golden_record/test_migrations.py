"""Migrations create the documented schema on a fresh database, and the models agree with it."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from crmhub.golden_record.db import alembic_config, current_revision, open_database, upgrade
from crmhub.golden_record.models import VERSION_TABLE, Base

TABLES = {
    "run",
    "stream_schema",
    "source_record",
    "golden_customer",
    "customer_xref",
    "match_evidence",
    "golden_event",
    "sync_state",
    "quarantine",
    "writeback_log",
    "golden_lookup_key",
    "steward_decision",
    VERSION_TABLE,
}
VIEWS = {"golden_customers", "customer_sources", "customer_360", "golden_history", "golden_id_map"}
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
"""The newest migration, so adding one does not mean editing these tests."""


def _schema_diff(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    return [d for d in diff if not (d[0] == "remove_table" and d[1].name == VERSION_TABLE)]


def test_fresh_sqlite_file_is_migrated_with_pragmas(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path}/deep/dir/crmhub.db")
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert set(inspector.get_table_names()) == TABLES
        assert set(inspector.get_view_names()) == VIEWS
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert current_revision(conn) == HEAD
    assert _schema_diff(engine) == []
    engine.dispose()


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crmhub.db"
    assert upgrade(url) == HEAD
    assert upgrade(url) == HEAD


@pytest.mark.postgres
def test_postgresql_schema_lands_in_search_path_schema(pg_url: str) -> None:
    engine = open_database(pg_url)
    schema = pg_url.rsplit("%3D", 1)[1]
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert set(inspector.get_table_names(schema=schema)) == TABLES
        assert set(inspector.get_view_names(schema=schema)) == VIEWS
        assert "source_record" not in inspector.get_table_names(schema="public")
        assert current_revision(conn) == HEAD
    assert _schema_diff(engine) == []
    engine.dispose()


def test_views_read_active_golden_records(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM golden_customers WHERE 1 = 0"))
        assert {"email", "golden_id"} <= set(rows.keys())
        rows = conn.execute(sa.text("SELECT * FROM customer_sources WHERE 1 = 0"))
        assert {"golden_id", "source", "stream", "source_id", "record_id"} <= set(rows.keys())


def test_a_0001_database_is_upgraded_in_place(tmp_path: Path) -> None:
    from alembic import command

    from crmhub.golden_record.db import alembic_config

    url = f"sqlite:///{tmp_path}/old.db"
    command.upgrade(alembic_config(url), "0001")
    assert upgrade(url) == HEAD
    engine = sa.create_engine(url)
    assert "stream_schema" in sa.inspect(engine).get_table_names()
    assert _schema_diff(engine) == []
    engine.dispose()
