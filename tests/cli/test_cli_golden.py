"""`crmhub golden resolve` and `crmhub db grant-reader` as a user meets them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import PG_ADMIN_URL
from typer.testing import CliRunner

from crmhub import pipeline
from crmhub.cli import app
from crmhub.demo import SILO_OF_SOURCE, create_demo
from crmhub.golden_record.models import GoldenCustomer

runner = CliRunner()
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _sync(config: Path) -> sa.Engine:
    run = pipeline.start_run(str(config))
    for silo in SILO_OF_SOURCE.values():
        pipeline.extract_source(str(config), silo, run)
    pipeline.match_and_build(str(config), run)
    return pipeline.golden_database(pipeline.load_hub(str(config)).database_url)


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, sa.Engine]:
    config = create_demo(tmp_path_factory.mktemp("cli-golden"), customers=40, seed=13)
    return config, _sync(config)


def test_resolve_prints_an_active_id_itself(synced: tuple[Path, sa.Engine]) -> None:
    config, engine = synced
    with engine.connect() as conn:
        golden_id = conn.execute(sa.text("SELECT min(golden_id) FROM golden_customers")).scalar()
    result = runner.invoke(app, ["golden", "resolve", str(config), golden_id])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == golden_id
    assert "is active" in lines[1]


def test_resolve_follows_a_merge_chain_to_the_survivor(synced: tuple[Path, sa.Engine]) -> None:
    config, engine = synced
    old, middle = "G0000000000A1", "G0000000000A2"
    with engine.begin() as conn:
        survivor = conn.execute(sa.text("SELECT min(golden_id) FROM golden_customers")).scalar()
        conn.execute(
            sa.insert(GoldenCustomer.__table__),
            [
                {
                    "golden_id": gid,
                    "provenance": {},
                    "version": 1,
                    "status": "retired",
                    "merged_into": into,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for gid, into in ((middle, survivor), (old, middle))
            ],
        )
    result = runner.invoke(app, ["golden", "resolve", str(config), old])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [survivor, f"merged: {old} -> {middle} -> {survivor}"]


def test_resolve_of_an_unknown_id_is_one_line(synced: tuple[Path, sa.Engine]) -> None:
    config, _ = synced
    result = runner.invoke(app, ["golden", "resolve", str(config), "GNOSUCHID0000"])
    assert result.exit_code == 1
    assert "no golden record has ever had the id 'GNOSUCHID0000'" in result.output
    assert "Traceback" not in result.output


def test_grant_reader_on_sqlite_explains_why_not(synced: tuple[Path, sa.Engine]) -> None:
    config, _ = synced
    result = runner.invoke(app, ["db", "grant-reader", str(config), "billing"])
    assert result.exit_code == 1
    assert "SQLite has no logins" in result.output
    assert "Traceback" not in result.output


@pytest.mark.postgres
def test_grant_reader_takes_the_password_from_the_environment(pg_url: str, tmp_path: Path) -> None:
    config = create_demo(tmp_path, customers=10, seed=3)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("url: sqlite:///crmhub.db", f"url: {pg_url}"), "utf-8")
    name = f"billing_{uuid.uuid4().hex[:8]}"
    secret = f"s3cret-{uuid.uuid4().hex}"
    admin = sa.create_engine(PG_ADMIN_URL)
    try:
        missing = runner.invoke(
            app, ["db", "grant-reader", str(config), name, "--password-env", "NO_SUCH_VAR_X"]
        )
        assert missing.exit_code == 1
        assert "set NO_SUCH_VAR_X to the password of role" in missing.output

        result = runner.invoke(
            app,
            ["db", "grant-reader", str(config), name, "--password-env", "BILLING_PW"],
            env={"BILLING_PW": secret},
        )
        assert result.exit_code == 0, result.output
        assert f"role {name} created" in result.output
        assert "customer_360" in result.output
        assert secret not in result.output

        bad = runner.invoke(app, ["db", "grant-reader", str(config), "Bad-Name"], env={})
        assert bad.exit_code == 1
        assert "invalid role name" in bad.output
    finally:
        with admin.begin() as conn:
            if conn.execute(
                sa.text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}
            ).scalar():
                conn.execute(sa.text(f'DROP OWNED BY "{name}"'))
                conn.execute(sa.text(f'DROP ROLE "{name}"'))
        admin.dispose()
