"""A default mapping that does not fit the stream says where it came from and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmhub.config.loader import SourceDefinition, load_hub
from crmhub.connectors.base import StreamSpec
from crmhub.connectors.google_sheets import GoogleSheetsConnector
from crmhub.errors import SourceContractError
from crmhub.pipeline import _check_mapping

SHEET = """
sources:
  sheet:
    type: google_sheets
    spreadsheet_id: 1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdef
    sheet: Customers
    key: Customer No
    auth: {{type: bearer, token: {{env: SHEETS_TOKEN}}}}
{mapping}
"""


def source(tmp_path: Path, mapping: str = "") -> SourceDefinition:
    (tmp_path / "hub.yaml").write_text(SHEET.format(mapping=mapping), encoding="utf-8")
    return load_hub(tmp_path / "hub.yaml").sources["sheet"]


def spec(*columns: str) -> StreamSpec:
    return StreamSpec("Customers", ("Customer No",), None, ("Customer No", *columns))


def test_the_template_headers_are_the_default(tmp_path: Path) -> None:
    sheet = source(tmp_path)
    assert sheet.settings.mapping == dict(GoogleSheetsConnector.default_mapping)
    _check_mapping(sheet, spec(*GoogleSheetsConnector.default_mapping.values()))


def test_a_sheet_without_the_template_headers_is_told_to_give_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(SourceContractError) as caught:
        _check_mapping(source(tmp_path), spec("Vorname", "Nachname"))
    message = str(caught.value)
    assert "has no column 'First Name'" in message
    assert "default mapping of google_sheets" in message
    assert "give 'mapping'" in message


def test_an_own_mapping_is_checked_without_the_default_hint(tmp_path: Path) -> None:
    own = source(tmp_path, "    mapping: {first_name: Vorname}")
    with pytest.raises(SourceContractError) as caught:
        _check_mapping(own, spec("Nachname"))
    assert "default mapping" not in str(caught.value)
