"""Config of the `xero` connector: valid blocks load with Xero's defaults, wrong ones say why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from crmhub.config.loader import load_hub
from crmhub.connectors.xero import XeroConfig
from crmhub.connectors.xero.config import XERO_API_URL, XERO_TOKEN_URL
from crmhub.errors import ConfigError

TENANT = "7b4a3c2e-1d0f-4e5a-9b8c-6d5e4f3a2b1c"
AUTH = {
    "type": "oauth2_refresh_token",
    "client_id": "APP",
    "client_secret": {"env": "XERO_CLIENT_SECRET"},
    "refresh_token": {"file": "secrets/xero_refresh_token"},
}


def block(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"type": "xero", "tenant_id": TENANT, "auth": dict(AUTH)}
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def test_defaults_are_xeros() -> None:
    config = XeroConfig.model_validate(block())
    assert config.base_url == XERO_API_URL
    assert config.auth.token_url == XERO_TOKEN_URL
    assert (config.page_size, config.batch_size, config.lookback_seconds) == (100, 50, 0)
    assert config.include_archived is True
    assert config.calls_per_minute == 60


def test_custom_connection_needs_no_tenant() -> None:
    auth = {"type": "oauth2_client_credentials", "client_id": "APP", "client_secret": {"env": "S"}}
    config = XeroConfig.model_validate({"type": "xero", "auth": auth})
    assert config.tenant_id is None
    assert config.auth.token_url == XERO_TOKEN_URL


def test_tenant_is_normalised() -> None:
    assert XeroConfig.model_validate(block(tenant_id=TENANT.upper())).tenant_id == TENANT


INVALID_CONFIGS = [
    (block(tenant_id="my-company"), "tenant_id", "a UUID"),
    ({"type": "xero", "auth": dict(AUTH)}, "", "tenant_id is required with oauth2_refresh_token"),
    (
        block(auth={"type": "bearer", "token": {"env": "T"}}),
        "auth",
        "does not match any of the expected tags",
    ),
    (block(page_size=0), "page_size", "greater than or equal to 1"),
    (block(page_size=5000), "page_size", "less than or equal to 1000"),
    (block(batch_size=500), "batch_size", "less than or equal to 100"),
    (block(lookback_seconds=-5), "lookback_seconds", "greater than or equal to 0"),
    (block(base_url="api.xero.com"), "base_url", "must be an http(s) URL"),
    (block(base_url="https://api.xero.com/api.xro/2.0?x=1"), "base_url", "query or fragment"),
    (block(tenant="x"), "tenant", "Extra inputs are not permitted"),
    (
        block(auth={**AUTH, "refresh_token": "plain-text-token"}),
        "auth.oauth2_refresh_token.refresh_token",
        "SecretRef",
    ),
]


@pytest.mark.parametrize(("config", "field", "message"), INVALID_CONFIGS)
def test_invalid_config_says_why(config: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        XeroConfig.model_validate(config)
    errors = caught.value.errors()
    assert any(
        (not field or field in ".".join(map(str, e["loc"]))) and message in e["msg"] for e in errors
    ), errors
    assert "plain-text-token" not in str(caught.value)


def test_hub_file_error_names_line_and_field(tmp_path: Path) -> None:
    hub = tmp_path / "hub.yaml"
    hub.write_text(
        "name: t\n"
        "database: {url: 'sqlite:///g.db'}\n"
        "sources:\n"
        "  accounts:\n"
        "    type: xero\n"
        f"    tenant_id: {TENANT}\n"
        "    auth: {type: oauth2_refresh_token, client_id: A, client_secret: {env: S},"
        " refresh_token: {file: rt}}\n"
        "    page_sise: 10\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_hub(hub)
    text = str(caught.value)
    assert "hub.yaml:8" in text and "page_sise" in text and "page_size" in text, text


def test_example_config_loads() -> None:
    example = Path(__file__).parents[3] / "examples" / "xero.yaml"
    hub = load_hub(example)
    source = hub.sources["accounts"]
    assert source.settings.mapping["email"] == "EmailAddress"
    assert source.settings.writeback.golden_id_field == "AccountNumber"
