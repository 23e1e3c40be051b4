"""hub.yaml loading: every problem at once, each with file:line:column, field path and a fix."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import ClassVar

import pytest

from crmhub.config.loader import load_hub
from crmhub.config.secrets import SecretRef
from crmhub.errors import ConfigError

VALID = """\
database:
  url: sqlite:///golden.db
sources:
  crm:
    type: spreadsheet
    path: crm.csv
    key: id
    trust: 2
    mapping: {first_name: First, last_name: Last, street: [No, Street]}
    writeback: {golden_id_field: crmhub_id}
schedule: {cron: "0 * * * *"}
"""

INVALID_CONFIGS = [
    # (yaml, expected error text)
    (
        VALID.replace("    path: crm.csv", "    pth: crm.csv"),
        "hub.yaml:6:5 sources.crm.pth: unknown field; did you mean 'path'?",
    ),
    (
        VALID.replace("trust: 2", "trusst: 2"),
        "sources.crm.trusst: unknown field; did you mean 'trust'?",
    ),
    (
        VALID.replace("schedule:", "schedul:"),
        "hub.yaml:11:1 schedul: unknown field; did you mean 'schedule'?",
    ),
    (VALID.replace("type: spreadsheet", "type: spreadshet"), "did you mean 'spreadsheet'?"),
    (
        VALID.replace("first_name: First", "frist_name: First"),
        "mapping keys must be canonical fields",
    ),
    (
        VALID.replace("trust: 2", "trust: -1"),
        "sources.crm.trust: Input should be greater than or equal to 0",
    ),
    (VALID.replace("    key: id\n", ""), "sources.crm.key: required field is missing"),
    ("sources: {}\n", "hub.yaml:1:1 sources: no sources: add at least one"),
    ("sources: [a\n", "invalid YAML"),
    ("", "the file is empty"),
]


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "expected"), INVALID_CONFIGS)
def test_invalid_config_names_file_line_field_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_hub(write_config(tmp_path, text))
    assert expected in str(caught.value)
    assert str(caught.value).startswith("hub.yaml")


def test_yaml_no_and_on_stay_strings(tmp_path: Path) -> None:
    text = VALID.replace("street: [No, Street]", "street: [No, On]")
    hub = load_hub(write_config(tmp_path, text))
    assert hub.sources["crm"].settings.mapping["street"] == ["No", "On"]


def test_all_problems_are_reported_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = VALID.replace("path: crm.csv", "pth: crm.csv").replace("schedule:", "schedul:")
    with pytest.raises(ConfigError) as caught:
        load_hub(write_config(tmp_path, text))
    paths = [p.path for p in caught.value.problems]
    assert "sources.crm.pth" in paths
    assert "schedul" in paths


def test_valid_config_resolves_paths_next_to_the_file(tmp_path: Path) -> None:
    hub = load_hub(write_config(tmp_path, VALID))
    crm = hub.sources["crm"]
    assert crm.settings.trust == 2
    assert crm.settings.mapping["street"] == ["No", "Street"]
    assert Path(crm.connector_config.path) == tmp_path / "crm.csv"  # type: ignore[attr-defined]
    assert hub.database_url == f"sqlite:///{tmp_path / 'golden.db'}"


def test_default_database_is_sqlite_next_to_config(tmp_path: Path) -> None:
    hub = load_hub(write_config(tmp_path, VALID.replace("  url: sqlite:///golden.db\n", "")))
    assert hub.database_url == f"sqlite:///{tmp_path / 'crmhub.db'}"


def test_missing_file_is_one_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_hub(tmp_path / "nope.yaml")


def test_secret_reference_never_shows_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMHUB_TEST_SECRET", "s3cr3t-value")
    ref = SecretRef(env="CRMHUB_TEST_SECRET")
    assert ref.resolve().get_secret_value() == "s3cr3t-value"
    assert "s3cr3t" not in repr(ref) + str(ref) + repr(ref.resolve()) + str(ref.resolve())


def test_secret_file_is_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "pw.txt").write_text("hunter2\n", encoding="utf-8")
    ref = SecretRef.model_validate({"file": "pw.txt"}, context={"base_dir": str(tmp_path)})
    assert ref.resolve().get_secret_value() == "hunter2"


def test_secret_reference_needs_exactly_one_place() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SecretRef.model_validate({"env": "A", "file": "b"})


def test_default_mapping_of_the_kind_applies_when_none_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crmhub.connectors.sql.connector import SqlConnector

    class WithDefaults(SqlConnector):
        default_mapping: ClassVar[dict[str, str | list[str]]] = {
            "email": "mail",
            "street": ["house", "road"],
        }

    monkeypatch.setattr(
        "crmhub.config.loader.resolve_kind", lambda kind: WithDefaults if kind == "sql" else None
    )
    config = write_config(
        tmp_path,
        """
        sources:
          defaults: {type: sql, url: "sqlite:///a.db", table: t, key: id}
          own: {type: sql, url: "sqlite:///a.db", table: t, key: id, mapping: {email: e}}
        """,
    )
    hub = load_hub(config)
    assert hub.sources["defaults"].settings.mapping == {
        "email": "mail",
        "street": ["house", "road"],
    }
    assert hub.sources["own"].settings.mapping == {"email": "e"}


def test_schema_drift_policy_is_a_hub_key_with_choices(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        """
        sources:
          a: {type: sql, url: "sqlite:///a.db", table: t, key: id, schema_drift: freeze}
        """,
    )
    assert load_hub(config).sources["a"].settings.schema_drift == "freeze"
    bad = write_config(
        tmp_path,
        """
        sources:
          a: {type: sql, url: "sqlite:///a.db", table: t, key: id, schema_drift: ignore}
        """,
    )
    with pytest.raises(ConfigError, match=r"sources\.a\.schema_drift"):
        load_hub(bad)
