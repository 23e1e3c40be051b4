"""`crmhub lookup` as a user meets it: the 360 table, exit 1 when nobody matches, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from tests.golden_record.test_lookup import CUSTOMERS, insert_customers
from typer.testing import CliRunner

from crmhub.cli_lookup import lookup
from crmhub.golden_record.customer_lookup import refresh_lookup_keys
from crmhub.golden_record.db import open_database

runner = CliRunner(env={"COLUMNS": "200"})

app = typer.Typer()
app.command()(lookup)


@app.callback()
def _main() -> None:
    """Keeps `lookup` a subcommand, as it is under `crmhub`."""


HUB = """\
sources:
  crm:
    type: spreadsheet
    path: crm.csv
    key: id
database:
  url: sqlite:///golden/crmhub.db
matching:
  default_region: {region}
"""


def make_hub(directory: Path, *, region: str = "US", keys: bool = True) -> Path:
    """hub.yaml next to a golden-record DB (relative URL, as the demo writes it)."""
    config = directory / "hub.yaml"
    config.write_text(HUB.format(region=region), encoding="utf-8")
    engine = open_database(f"sqlite:///{directory}/golden/crmhub.db")
    with engine.begin() as conn:
        insert_customers(conn, CUSTOMERS)
        if keys:
            refresh_lookup_keys(conn)
    engine.dispose()
    return config


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_hub(tmp_path_factory.mktemp("lookup-cli"))


def test_phone_lookup_prints_golden_values_and_every_source(hub: Path) -> None:
    result = runner.invoke(app, ["lookup", str(hub), "--phone", "(646) 555-0199"])
    assert result.exit_code == 0, result.output
    assert "golden customer GSMITH" in result.output
    for text in ("crm C-1", "webshop W-9", "WSmith+shop@Gmail.com", "Brooklyn", "matched by phone"):
        assert text in result.output


def test_name_lookup_with_a_nickname_lists_the_customer(hub: Path) -> None:
    result = runner.invoke(app, ["lookup", str(hub), "--name", "Billy Smith"])
    assert result.exit_code == 0, result.output
    assert "GSMITH" in result.output
    assert "GOTHER" not in result.output


def test_nobody_found_exits_1_with_a_clear_message(hub: Path) -> None:
    result = runner.invoke(app, ["lookup", str(hub), "--email", "nobody@example.com"])
    assert result.exit_code == 1
    assert "no golden customer found with e-mail 'nobody@example.com'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give a phone number, an e-mail address or a name"),
        (["--phone", "12"], "'12' is not a valid phone number"),
        (["--name", "Smith"], "needs a first and a last name"),
    ],
)
def test_unusable_query_exits_2(hub: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["lookup", str(hub), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_phone_region_comes_from_hub_yaml(tmp_path: Path) -> None:
    config = make_hub(tmp_path, region="GB")
    result = runner.invoke(app, ["lookup", str(config), "--phone", "001 646 555 0199"])
    assert result.exit_code == 0, result.output
    assert "GSMITH" in result.output


def test_missing_database_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(HUB.format(region="US"), encoding="utf-8")
    result = runner.invoke(app, ["lookup", str(config), "--phone", "718 436 4217"])
    assert result.exit_code == 1
    assert "no golden-record DB at" in result.output
    assert not (tmp_path / "golden" / "crmhub.db").exists()


def test_keys_not_built_yet_says_what_to_run(tmp_path: Path) -> None:
    config = make_hub(tmp_path, keys=False)
    result = runner.invoke(app, ["lookup", str(config), "--phone", "718 436 4217"])
    assert result.exit_code == 1
    assert "run `crmhub sync` once" in result.output
