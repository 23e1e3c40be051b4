"""The command line as a user meets it: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from crmhub.cli import app
from crmhub.demo import create_demo

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_demo(tmp_path_factory.mktemp("cli-demo"), customers=60, seed=11)


def test_check_reports_every_connection_ok(demo_config: Path) -> None:
    result = runner.invoke(app, ["check", str(demo_config)])
    assert result.exit_code == 0, result.output
    for name in ("accounting", "sales", "credit", "marketing", "golden-record DB"):
        assert name in result.output


def test_check_names_the_broken_source_in_one_line(tmp_path: Path) -> None:
    config = create_demo(tmp_path, customers=20, seed=2)
    (tmp_path / "silos" / "credit.xlsx").unlink()
    result = runner.invoke(app, ["check", str(config)])
    assert result.exit_code == 1
    assert "credit.xlsx" in result.output
    assert "Traceback" not in result.output


def test_bad_config_exits_2_with_file_line_and_fix(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(
        "sources:\n  crm:\n    type: spreadsheet\n    pth: a.csv\n    key: id\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["check", str(config)])
    assert result.exit_code == 2
    assert "hub.yaml:4:5 sources.crm.pth: unknown field; did you mean 'path'?" in result.output


def test_schema_describes_each_connector_kind(tmp_path: Path) -> None:
    out = tmp_path / "hub.schema.json"
    result = runner.invoke(app, ["schema", "--out", str(out)])
    assert result.exit_code == 0, result.output
    schema = json.loads(out.read_text(encoding="utf-8"))
    variants = schema["properties"]["sources"]["additionalProperties"]["oneOf"]
    names = [v["$ref"].split("/")[-1] for v in variants]
    kinds = {schema["$defs"][name]["properties"]["type"]["const"] for name in names}
    assert {"sql", "spreadsheet"} <= kinds
    sql = schema["$defs"]["Source_sql"]["properties"]
    assert {"url", "table", "key", "mapping", "trust", "writeback"} <= set(sql)


def test_db_upgrade_creates_the_golden_record_db(demo_config: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade", str(demo_config)])
    assert result.exit_code == 0, result.output
    assert (demo_config.parent / "crmhub.db").exists()


def test_unreachable_golden_db_is_one_line(demo_config: Path, tmp_path: Path) -> None:
    text = demo_config.read_text(encoding="utf-8").replace(
        "url: sqlite:///crmhub.db", "url: postgresql+psycopg://nobody@127.0.0.1:9/none"
    )
    config = demo_config.parent / "hub-unreachable.yaml"
    config.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["sync", str(config)])
    assert result.exit_code == 1
    assert "golden-record DB postgresql+psycopg://nobody@127.0.0.1:9/none" in result.output
    assert "Traceback" not in result.output


def test_dedupe_gives_every_row_a_cluster_id(tmp_path: Path) -> None:
    from crmhub.demo_data import generate_customers

    people = generate_customers(400, seed=4)
    source = tmp_path / "people.csv"
    people.drop(columns=["entity_id"]).to_csv(source, index=False)
    out = tmp_path / "clusters.csv"
    result = runner.invoke(app, ["dedupe", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    clusters = pd.read_csv(out, dtype=str)
    assert list(clusters.columns) == ["source", "source_id", "cluster_id"]
    assert len(clusters) == len(people) and clusters["cluster_id"].notna().all()
    assert clusters["cluster_id"].nunique() < len(people)


def test_dedupe_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dedupe", str(tmp_path / "nope.csv"), "--out", "x.csv"])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_connectors_lists_every_installed_kind_with_capabilities() -> None:
    from crmhub.connectors.registry import available_kinds

    result = runner.invoke(app, ["connectors"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for kind in available_kinds():
        assert any(line.split("│")[1].strip() == kind for line in lines if "│" in line), kind
    sql_row = next(line for line in lines if "crmhub.connectors.sql" in line)
    assert sql_row.count("yes") >= 3  # read, incremental, write


def test_blocking_shows_pairs_per_rule_for_a_csv(tmp_path: Path) -> None:
    data = tmp_path / "people.csv"
    data.write_text(
        "first_name,last_name,email\nAnn,Lee,ann@x.com\nAnn,Lee,ann@x.com\nBo,Ng,\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["blocking", "--csv", str(data)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "blocking on 3" in result.output
    email_row = next(line for line in result.output.splitlines() if line.startswith("│ email "))
    assert [cell.strip() for cell in email_row.split("│")[2:4]] == ["1", "1"]
    assert "email: 2 x (ann@x.com)" in result.output


def test_blocking_needs_a_hub_or_a_csv() -> None:
    result = runner.invoke(app, ["blocking"])
    assert result.exit_code == 2
    assert "give hub.yaml or --csv FILE" in result.output
