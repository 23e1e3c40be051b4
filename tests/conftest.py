"""Session fixtures: real PostgreSQL and MariaDB databases, a private Prefect home.

A test that needs a server gets a fresh, empty schema (PostgreSQL) or database (MariaDB) for its
module and fails loudly when the server is missing: these tests never skip.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator

import pytest

# before anything imports the conformance suite, so its plain asserts explain their failures
pytest.register_assert_rewrite("crmhub.testing")

import sqlalchemy as sa  # noqa: E402 - after the rewrite hook on purpose

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="crmhub-prefect-"))
os.environ.setdefault("CRMHUB_BUDGET_DIR", tempfile.mkdtemp(prefix="crmhub-budgets-"))

PG_ADMIN_URL = os.environ.get(
    "CRMHUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MARIADB_ADMIN_URL = os.environ.get(
    "CRMHUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)


def _connect_or_fail(url: str, what: str) -> sa.Engine:
    engine = sa.create_engine(url, pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"{what} is required for this test and is not reachable at {url}: {exc}")
    return engine


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL schema (search_path set), dropped after the module."""
    admin = _connect_or_fail(PG_ADMIN_URL, "PostgreSQL")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_ADMIN_URL else "?"
    yield f"{PG_ADMIN_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="module")
def mariadb_url() -> Iterator[str]:
    """URL of a fresh MariaDB database, dropped after the module."""
    admin = _connect_or_fail(MARIADB_ADMIN_URL, "MariaDB")
    name = f"t_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    yield MARIADB_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP DATABASE `{name}`"))
    admin.dispose()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for the whole session (starting one per test is slow)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
