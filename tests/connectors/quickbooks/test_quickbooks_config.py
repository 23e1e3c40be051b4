"""QuickBooksConfig validation: Intuit defaults, table-driven invalid configs, registry entry."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from crmhub.connectors.quickbooks import QuickBooksConfig, QuickBooksConnector
from crmhub.connectors.quickbooks.config import INTUIT_API_URL, INTUIT_TOKEN_URL
from crmhub.connectors.registry import resolve_kind

AUTH = {
    "client_id": "app",
    "client_secret": {"env": "QBO_CLIENT_SECRET"},
    "refresh_token": {"file": "secrets/qbo_refresh_token"},
}
VALID: dict[str, Any] = {"type": "quickbooks", "realm_id": "9341452512345678", "auth": AUTH}

INVALID_CONFIGS = [
    ({"realm_id": None}, "realm_id", "valid string"),
    ({"realm_id": "acme"}, "realm_id", "should match pattern"),
    ({"page_size": 0}, "page_size", "greater than or equal to 1"),
    ({"page_size": 1001}, "page_size", "less than or equal to 1000"),
    ({"write_batch_size": 31}, "write_batch_size", "less than or equal to 30"),
    ({"minor_version": 0}, "minor_version", "greater than or equal to 1"),
    ({"base_url": "quickbooks.api.intuit.com"}, "base_url", "http(s) URL"),
    ({"base_url": "https://quickbooks.api.intuit.com/v3/company/1"}, "base_url", "host only"),
    ({"golden_id_column": "Notes"}, "", "already a customer column"),
    ({"golden_id_store": "DisplayName"}, "golden_id_store", "'Notes', 'AcctNum' or 'ResaleNum'"),
    ({"requests_per_minute": 0}, "requests_per_minute", "greater than 0"),
    ({"auth": {**AUTH, "client_id": None}}, "auth.client_id", "valid string"),
    ({"auth": {**AUTH, "type": "bearer"}}, "auth.type", "'oauth2_refresh_token'"),
    ({"auth": {**AUTH, "refresh_token": "rt-plain"}}, "auth.refresh_token", "valid dictionary"),
    ({"base_ur": "https://x"}, "base_ur", "Extra inputs are not permitted"),
    ({"mapping": {}}, "mapping", "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("change", "field", "message"), INVALID_CONFIGS)
def test_invalid_configs_are_rejected_with_a_fix(
    change: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        QuickBooksConfig.model_validate({**VALID, **change})
    error = info.value.errors()[0]
    assert ".".join(map(str, error["loc"])) == field
    assert message in error["msg"]


def test_intuit_endpoints_and_limits_are_the_defaults() -> None:
    config = QuickBooksConfig.model_validate(VALID)
    assert config.base_url == INTUIT_API_URL
    assert config.auth.token_url == INTUIT_TOKEN_URL
    assert config.auth.type == "oauth2_refresh_token"
    assert (config.page_size, config.requests_per_minute) == (1000, 500)
    assert (config.golden_id_column, config.golden_id_store) == ("crmhub_id", "Notes")
    assert config.minor_version >= 75


def test_a_plain_refresh_token_never_appears_in_the_error() -> None:
    with pytest.raises(ValidationError) as info:
        QuickBooksConfig.model_validate({**VALID, "auth": {**AUTH, "refresh_token": "rt-s3cr3t"}})
    assert "rt-s3cr3t" not in str(info.value)


def test_registered_under_its_kind_with_auth_and_retry() -> None:
    cls = resolve_kind("quickbooks")
    assert cls is QuickBooksConnector
    assert {"read", "incremental", "write", "auth", "retry"} == set(cls.capabilities)
    assert cls.default_mapping["email"] == "PrimaryEmailAddr"
    assert cls.default_mapping["source_updated_at"] == "LastUpdatedTime"
