"""CreditsafeConfig validation: table-driven invalid configs, search parameters, mapping files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from crmhub.connectors.creditsafe import CreditsafeConfig, CreditsafeConnector

VALID: dict[str, Any] = {
    "type": "creditsafe",
    "username": "hub@example.com",
    "password": {"env": "CREDITSAFE_PASSWORD"},
    "portfolio_id": 1234,
}

INVALID_CONFIGS = [
    ({"portfolio_id": None}, "", "exactly one of 'portfolio_id'"),
    ({"search": {"countries": ["GB"]}}, "", "exactly one of 'portfolio_id'"),
    ({"password": "plain-text"}, "password", "Input should be a valid dictionary"),
    ({"password": {"env": "A", "file": "b"}}, "password", "exactly one of 'env: NAME'"),
    ({"page_size": 1001}, "page_size", "less than or equal to 1000"),
    ({"page_size": 0}, "page_size", "greater than or equal to 1"),
    ({"max_reports": 0}, "max_reports", "greater than or equal to 1"),
    ({"requests_per_second": 0}, "requests_per_second", "greater than 0"),
    ({"base_url": "connect.creditsafe.com/v1"}, "base_url", "http(s) URL"),
    ({"portfolio_id": None, "search": {"reg_no": "1"}}, "search.countries", "Field required"),
    ({"portfolio_id": None, "search": {"countries": "GBR"}}, "search.countries", "alpha-2"),
    (
        {"portfolio_id": None, "search": {"countries": "GB", "regNo": "1"}},
        "search.regNo",
        "Extra inputs",
    ),
    ({"extra_fields": {"city": "report.x"}}, "", "clash with assessment fields"),
    ({"extra_fields": {"turnover": "report..x"}}, "", "bad path"),
    ({"report_mapping": "/no/such/mapping.yaml"}, "", "cannot read report_mapping"),
    ({"mapping": {"company": "company_name"}}, "mapping", "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("change", "field", "message"), INVALID_CONFIGS)
def test_invalid_configs_are_rejected_with_a_fix(
    change: dict[str, Any], field: str, message: str
) -> None:
    block = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    with pytest.raises(ValidationError) as info:
        CreditsafeConfig.model_validate(block)
    error = info.value.errors()[0]
    assert ".".join(map(str, error["loc"])) == field
    assert message in error["msg"]


def test_defaults() -> None:
    config = CreditsafeConfig.model_validate(VALID)
    assert config.base_url == "https://connect.creditsafe.com/v1"
    assert (config.portfolio_id, config.target_portfolio) == ("1234", "1234")
    assert (config.page_size, config.max_reports, config.language) == (100, 1000, "en")


def test_write_portfolio_overrides_the_read_portfolio() -> None:
    config = CreditsafeConfig.model_validate({**VALID, "write_portfolio_id": 99})
    assert config.target_portfolio == "99"


def test_search_criteria_become_creditsafe_parameters() -> None:
    config = CreditsafeConfig.model_validate(
        {
            **VALID,
            "portfolio_id": None,
            "search": {
                "countries": "gb, ie",
                "reg_no": "01234567",
                "post_code": "EC1A 1BB",
                "exact": True,
            },
        }
    )
    assert config.search is not None
    assert config.search.params() == {
        "countries": "GB,IE",
        "regNo": "01234567",
        "postCode": "EC1A 1BB",
        "exact": "true",
    }


def test_a_report_mapping_file_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "bureau.yaml").write_text(
        "bureau: custom\nfields:\n  company_id: report.companyId\n  company_name: report.name\n"
    )
    config = CreditsafeConfig.model_validate(
        {**VALID, "report_mapping": "bureau.yaml"}, context={"base_dir": str(tmp_path)}
    )
    assert config.report_mapping == tmp_path / "bureau.yaml"
    assert config.bureau_mapping().bureau == "custom"


def test_extra_fields_become_columns() -> None:
    config = CreditsafeConfig.model_validate(
        {**VALID, "extra_fields": {"website": "report.contactInformation.websites.0"}}
    )
    columns = CreditsafeConnector(config).discover()[0].columns
    assert columns[-4:] == ("website", "personal_reference", "free_text", "personal_limit")


def test_discover_search_has_no_cursor_portfolio_has_assessed_at() -> None:
    portfolio = CreditsafeConnector(CreditsafeConfig.model_validate(VALID)).discover()[0]
    assert (portfolio.name, portfolio.key, portfolio.cursor) == (
        "companies",
        ("company_id",),
        "assessed_at",
    )
    search = CreditsafeConfig.model_validate(
        {**VALID, "portfolio_id": None, "search": {"countries": ["DE"], "name": "Acme"}}
    )
    spec = CreditsafeConnector(search).discover()[0]
    assert spec.cursor is None
    assert "personal_reference" not in spec.columns


def test_default_mapping_names_record_columns() -> None:
    columns = CreditsafeConnector(CreditsafeConfig.model_validate(VALID)).discover()[0].columns
    for canonical, field in CreditsafeConnector.default_mapping.items():
        assert field in columns, f"{canonical} -> {field} is not a column"


def test_password_reference_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITSAFE_PASSWORD", "pw-9f8e7d6c")
    config = CreditsafeConfig.model_validate(VALID)
    assert "pw-9f8e7d6c" not in repr(config)
    assert "pw-9f8e7d6c" not in str(config.model_dump())
