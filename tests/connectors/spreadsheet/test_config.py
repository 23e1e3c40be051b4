"""Config of the spreadsheet connector: paths, formats and option checks."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from crmhub.connectors.spreadsheet import SpreadsheetConfig, SpreadsheetConnector

INVALID_CONFIGS: list[tuple[dict[str, Any], str]] = [
    ({"path": "a.json"}, "cannot tell the format"),
    ({"path": "a.csv", "sheet": "S"}, "'sheet' applies to xlsx"),
    ({"path": "a.xlsx", "delimiter": ";"}, "apply to csv files only"),
    ({"path": "a.csv", "encoding": "klingon"}, "unknown encoding"),
    ({"path": "a.csv", "delimiter": ";;"}, "one character"),
    ({"path": "a.csv", "key": []}, "at least one column"),
    ({"path": "a.csv", "chunk_size": 0}, "greater than or equal to 1"),
    ({"path": "a.csv", "mapping": {}}, "Extra inputs are not permitted"),
]


def validate(context: dict[str, Any] | None = None, **options: Any) -> SpreadsheetConfig:
    options.setdefault("key", "id")
    return SpreadsheetConfig.model_validate({"type": "spreadsheet", **options}, context=context)


def test_relative_path_is_anchored_at_the_config_file(tmp_path: Path) -> None:
    config = validate({"base_dir": str(tmp_path)}, path="data/c.csv")
    assert config.path == tmp_path / "data" / "c.csv"
    assert validate(path="/abs/c.csv").path == Path("/abs/c.csv")


def test_format_comes_from_the_suffix_unless_given() -> None:
    assert validate(path="c.CSV").file_format == "csv"
    assert validate(path="c.xlsx").file_format == "xlsx"
    assert validate(path="c.ods").file_format == "ods"
    assert validate(path="c.dat", format="csv").file_format == "csv"
    assert validate(path="c.csv", key=["a", "b"]).key_columns == ("a", "b")


@pytest.mark.parametrize(("options", "message"), INVALID_CONFIGS)
def test_invalid_configs(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate(**options)


def test_registered_under_its_kind() -> None:
    [entry] = [e for e in entry_points(group="crmhub.connectors") if e.name == "spreadsheet"]
    assert entry.load() is SpreadsheetConnector
    assert SpreadsheetConnector.config_model is SpreadsheetConfig
