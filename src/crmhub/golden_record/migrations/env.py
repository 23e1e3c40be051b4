"""Alembic environment: runs on the connection `crmhub.golden_record.db` hands over.

No alembic.ini is needed: `db.alembic_config()` builds the config in code and passes an open
connection in `config.attributes["connection"]`, so the migrations run in the schema that
connection sees (on PostgreSQL, the first schema of its search_path).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from crmhub.golden_record.models import VERSION_TABLE, Base


def _configure_and_run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _configure_and_run(conn)
        conn.commit()
    engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
