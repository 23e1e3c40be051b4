"""Golden-record fixtures: every test runs on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from crmhub.golden_record.db import open_database
from crmhub.golden_record.store import start_run

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[sa.Engine]:
    """A migrated golden-record database; PostgreSQL uses the module's fresh schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db')}/nested/crmhub.db"
    else:
        url = request.getfixturevalue("pg_url")
    eng = open_database(url)
    yield eng
    eng.dispose()


@pytest.fixture
def source() -> str:
    """A source name of its own, so tests sharing a PostgreSQL schema never collide."""
    return f"src_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def now() -> datetime:
    """A fixed timestamp for rows written by a test."""
    return NOW


@pytest.fixture
def run_id(engine: sa.Engine) -> int:
    """A run row to write under."""
    return start_run(engine, now=NOW)
