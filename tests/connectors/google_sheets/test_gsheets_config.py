"""Config of the google_sheets connector: ids, column spans, auth styles and option checks."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pytest
from pydantic import ValidationError

from crmhub.connectors.google_sheets import GoogleSheetsConfig, GoogleSheetsConnector
from crmhub.connectors.google_sheets.a1 import block, column_index, column_letters, parse_columns

BEARER = {"type": "bearer", "token": {"env": "GS_TOKEN"}}

INVALID_CONFIGS: list[tuple[dict[str, Any], str]] = [
    ({"spreadsheet_id": "short"}, "not a spreadsheet id"),
    ({"spreadsheet_id": "1AbC/../evil-0123456"}, "not a spreadsheet id"),
    ({"columns": "A1:Z"}, "not a column span"),
    ({"columns": "Z:A"}, "ends before it starts"),
    ({"sheet": ""}, "at least 1 character"),
    ({"key": []}, "at least one column"),
    ({"cursor": "Customer No"}, "cannot also be a key column"),
    ({"batch_size": 0}, "greater than or equal to 1"),
    ({"header_row": 0}, "greater than or equal to 1"),
    ({"value_render": "FORMULA"}, "UNFORMATTED_VALUE"),
    ({"auth": {"type": "basic", "username": "u", "password": {"env": "P"}}}, "basic auth"),
    (
        {
            "auth": {
                "type": "oauth2_client_credentials",
                "token_url": "https://oauth2.googleapis.com/token",
                "client_id": "c",
                "client_secret": {"env": "S"},
            }
        },
        "does not take oauth2_client_credentials auth",
    ),
    (
        {"auth": {"type": "api_key", "name": "X-API-Key", "value": {"env": "K"}}},
        "goes in the query as 'key'",
    ),
    ({"auth": {"type": "magic"}}, "does not match any of the expected tags"),
    ({"mapping": {}}, "Extra inputs are not permitted"),
]


def validate(**options: Any) -> GoogleSheetsConfig:
    block = {
        "type": "google_sheets",
        "spreadsheet_id": "1CrmHubTestSheet-0123456789",
        "sheet": "Customers",
        "key": "Customer No",
        "auth": BEARER,
        **options,
    }
    return GoogleSheetsConfig.model_validate(block)


@pytest.mark.parametrize(("options", "message"), INVALID_CONFIGS)
def test_invalid_configs(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate(**options)


def test_defaults() -> None:
    config = validate()
    assert config.columns == "A:ZZ"
    assert config.column_span == (0, 701)
    assert config.batch_size == 5000
    assert config.value_render == "UNFORMATTED_VALUE"
    assert config.add_missing_columns is True
    assert config.requests_per_minute == 60
    assert config.base_url == "https://sheets.googleapis.com"
    assert not config.is_read_only


def test_the_id_is_taken_from_a_pasted_url() -> None:
    url = "https://docs.google.com/spreadsheets/d/1AbCdEfGhIjKlMnOp_q-r/edit#gid=0"
    assert validate(spreadsheet_id=url).spreadsheet_id == "1AbCdEfGhIjKlMnOp_q-r"


def test_api_key_in_the_query_is_read_only() -> None:
    auth = {"type": "api_key", "name": "key", "value": {"env": "K"}, "location": "query"}
    assert validate(auth=auth).is_read_only
    header = {"type": "api_key", "name": "X-Goog-Api-Key", "value": {"env": "K"}}
    assert validate(auth=header).is_read_only


def test_secrets_stay_references() -> None:
    text = repr(validate(auth=BEARER))
    assert "GS_TOKEN" in text


def test_columns_are_normalised() -> None:
    assert validate(columns="b:az").columns == "B:AZ"
    assert validate(key=["Region", "Customer No"]).key_columns == ("Region", "Customer No")


@pytest.mark.parametrize(
    ("letters", "index"), [("A", 0), ("Z", 25), ("AA", 26), ("AZ", 51), ("ZZ", 701), ("AAA", 702)]
)
def test_column_letters_round_trip(letters: str, index: int) -> None:
    assert column_index(letters) == index
    assert column_letters(index) == letters


def test_ranges_quote_the_sheet_name() -> None:
    assert parse_columns("C:F") == (2, 5)
    assert block("Customers", 0, 2, 25, 5001) == "'Customers'!A2:Z5001"
    assert block("Bob's 2024!", 1, 1, 1, 1) == "'Bob''s 2024!'!B1:B1"


def test_registered_under_its_kind() -> None:
    [entry] = [e for e in entry_points(group="crmhub.connectors") if e.name == "google_sheets"]
    assert entry.load() is GoogleSheetsConnector
    assert GoogleSheetsConnector.config_model is GoogleSheetsConfig


def test_registry_verifies_the_class() -> None:
    from crmhub.connectors.registry import resolve_kind

    assert resolve_kind("google_sheets") is GoogleSheetsConnector
