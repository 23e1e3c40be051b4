"""The `sql` connector's targets: one SQLite file, one PostgreSQL schema, one MariaDB database.

Every behaviour test runs once per target through the parametrised `db` fixture; each test gets
its own freshly created table, so tests never see each other's rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sql_support import Database


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of an SQLite file for the module (the file exists, as a real silo would)."""
    path: Path = tmp_path_factory.mktemp("sql") / "silo.db"
    sa.create_engine(f"sqlite:///{path}").connect().close()
    return f"sqlite:///{path}"


@pytest.fixture(
    scope="module",
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """The same tests on SQLite, PostgreSQL and MariaDB."""
    fixture = {"sqlite": "sqlite_url", "postgres": "pg_url", "mariadb": "mariadb_url"}
    url = request.getfixturevalue(fixture[request.param])
    engine = sa.create_engine(url)
    yield Database(request.param, url, engine)
    engine.dispose()
