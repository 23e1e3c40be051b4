"""Config of the `hubspot` connector: what validates, what is refused and why."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import ValidationError

from crmhub.connectors.hubspot import HubSpotConfig, HubSpotConnector
from crmhub.connectors.hubspot.config import HUBSPOT_API, HUBSPOT_TOKEN_URL, HubSpotOAuthConfig
from crmhub.connectors.registry import resolve_kind

BEARER = {"type": "bearer", "token": {"env": "HUBSPOT_TOKEN"}}


def config(**settings: Any) -> HubSpotConfig:
    return HubSpotConfig.model_validate({"type": "hubspot", "auth": BEARER, **settings})


INVALID_CONFIGS: list[tuple[dict[str, Any], str]] = [
    ({"auth": None}, "auth"),
    ({"auth": {"type": "bearer", "token": "pat-inline-secret"}}, "auth.bearer.token"),
    ({"auth": {"type": "api_key", "name": "hapikey", "value": {"env": "K"}}}, "expected tags"),
    ({"base_url": "api.hubapi.com"}, "must be an http(s) URL"),
    ({"base_url": "https://api.hubapi.com?hapikey=abc"}, "must not hold credentials"),
    ({"page_size": 101}, "less than or equal to 100"),
    ({"search_page_size": 201}, "less than or equal to 200"),
    ({"search_page_size": 50, "search_result_cap": 20}, "cannot exceed search_result_cap"),
    ({"write_batch_size": 0}, "greater than or equal to 1"),
    ({"streams": {"deals": {}}}, "'contacts' or 'companies'"),
    ({"streams": {"contacts": {"properties": ["email", "email"]}}}, "listed once"),
    ({"streams": {"contacts": {"properties": ["first name"]}}}, "internal property names"),
    ({"streams": {"contacts": {"id_property": "hs_object_id"}}}, "cannot be an upsert id"),
    ({"streams": {"contacts": {"idproperty": "email"}}}, "Extra inputs are not permitted"),
    ({"page_sise": 10}, "Extra inputs are not permitted"),
]  # fmt: skip


@pytest.mark.parametrize(("settings", "message"), INVALID_CONFIGS)
def test_invalid_configs(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        config(**settings)


def test_inline_secret_is_not_echoed() -> None:
    with pytest.raises(ValidationError) as caught:
        config(auth={"type": "bearer", "token": "pat-inline-secret"})
    assert "pat-inline-secret" not in str(caught.value)


def test_defaults() -> None:
    cfg = config()
    assert cfg.base_url == HUBSPOT_API
    assert (cfg.page_size, cfg.search_page_size, cfg.write_batch_size) == (100, 100, 100)
    assert cfg.search_result_cap == 10_000
    assert cfg.properties("companies") == (
        "name", "domain", "phone", "address", "city", "zip", "country", "hs_lastmodifieddate",
    )  # fmt: skip
    assert cfg.stream("contacts").id_property is None


def test_properties_always_include_the_cursor() -> None:
    cfg = config(streams={"contacts": {"properties": ["email"], "extra_properties": ["crmhub_id"]}})
    assert cfg.properties("contacts") == ("email", "crmhub_id", "lastmodifieddate")


def test_oauth_token_url_defaults_to_hubspot() -> None:
    cfg = config(
        auth={
            "type": "oauth2_refresh_token",
            "client_id": "id",
            "client_secret": {"env": "S"},
            "refresh_token": {"file": "secrets/hubspot-refresh"},
        }
    )
    assert isinstance(cfg.auth, HubSpotOAuthConfig)
    assert cfg.auth.token_url == HUBSPOT_TOKEN_URL


def test_registered_kind() -> None:
    assert resolve_kind("hubspot") is HubSpotConnector
    assert HubSpotConnector.default_mapping["first_name"] == "firstname"
    assert HubSpotConnector.default_mapping["source_updated_at"] == "lastmodifieddate"
