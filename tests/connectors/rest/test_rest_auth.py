"""Auth styles: each logs in, bad credentials fail check() cleanly, OAuth2 renews itself,
and no secret reaches a log record or an error message."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rest_support import MakeConnector
from tests.fakes.rest_api import (
    API_KEY,
    BASIC_PASSWORD,
    BASIC_USER,
    BEARER_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    EPOCH,
    FIRST_REFRESH_TOKEN,
    RestApiFake,
    customer,
)
from tests.fakes.server import Fault

from crmhub.errors import AuthError


def auth_config(style: str, fake: RestApiFake, tmp_path: Path) -> dict[str, Any]:
    token_url = f"{fake.url}/oauth/token"
    refresh_file = tmp_path / "refresh-token"
    if not refresh_file.exists():
        refresh_file.write_text(FIRST_REFRESH_TOKEN, encoding="utf-8")
    return {
        "api_key_header": {"type": "api_key", "name": "X-API-Key", "value": {"env": "CRM_API_KEY"}},
        "api_key_query": {
            "type": "api_key",
            "name": "api_key",
            "value": {"env": "CRM_API_KEY"},
            "location": "query",
        },
        "bearer": {"type": "bearer", "token": {"env": "CRM_TOKEN"}},
        "basic": {"type": "basic", "username": BASIC_USER, "password": {"env": "CRM_PASSWORD"}},
        "oauth2_client_credentials": {
            "type": "oauth2_client_credentials",
            "token_url": token_url,
            "client_id": CLIENT_ID,
            "client_secret": {"env": "CRM_CLIENT_SECRET"},
            "scopes": ["customers.read"],
        },
        "oauth2_refresh_token": {
            "type": "oauth2_refresh_token",
            "token_url": token_url,
            "client_id": CLIENT_ID,
            "client_secret": {"env": "CRM_CLIENT_SECRET"},
            "refresh_token": {"file": str(refresh_file)},
        },
    }[style]


FAKE_AUTH = {
    "api_key_header": "api_key",
    "api_key_query": "api_key",
    "bearer": "bearer",
    "basic": "basic",
    "oauth2_client_credentials": "oauth2",
    "oauth2_refresh_token": "oauth2",
}
BAD_ENV = {
    "api_key_header": "CRM_API_KEY",
    "api_key_query": "CRM_API_KEY",
    "bearer": "CRM_TOKEN",
    "basic": "CRM_PASSWORD",
    "oauth2_client_credentials": "CRM_CLIENT_SECRET",
    "oauth2_refresh_token": "CRM_CLIENT_SECRET",
}
SECRETS = [
    API_KEY,
    BEARER_TOKEN,
    BASIC_PASSWORD,
    CLIENT_SECRET,
    FIRST_REFRESH_TOKEN,
    base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode(),
    base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode(),
    "wrong-7c3e-secret",
]


def all_secrets(fake: RestApiFake) -> list[str]:
    return [*SECRETS, *fake.access_tokens, *fake.refresh_tokens]


def assert_no_secret(text: str, fake: RestApiFake) -> None:
    leaked = [s for s in all_secrets(fake) if s in text]
    assert not leaked, f"secret(s) leaked: {leaked}"


@pytest.fixture(params=list(FAKE_AUTH))
def style(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def seed(fake: RestApiFake) -> None:
    fake.seed([customer("c1", "Ada", "L", "ada@example.com", EPOCH)])


def test_each_auth_style_logs_in_and_reads(
    fake: RestApiFake, make_connector: MakeConnector, style: str, tmp_path: Path
) -> None:
    seed(fake)
    fake.auth = FAKE_AUTH[style]
    connector = make_connector(auth=auth_config(style, fake, tmp_path))
    assert connector.check().ok
    assert [r["id"] for b in connector.read("customers", None) for r in b.records] == ["c1"]


def test_bad_credentials_fail_check_naming_the_auth_never_the_secret(
    fake: RestApiFake,
    make_connector: MakeConnector,
    style: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed(fake)
    fake.auth = FAKE_AUTH[style]
    monkeypatch.setenv(BAD_ENV[style], "wrong-7c3e-secret")
    caplog.set_level(logging.DEBUG)
    connector = make_connector(auth=auth_config(style, fake, tmp_path))
    result = connector.check()
    assert not result.ok
    assert result.message.startswith("crm: authentication failed (")
    assert style.removesuffix("_header").removesuffix("_query") in result.message
    with pytest.raises(AuthError) as info:
        list(connector.read("customers", None))
    assert_no_secret(result.message + str(info.value), fake)
    assert_no_secret("\n".join(r.getMessage() for r in caplog.records), fake)


def test_missing_environment_variable_fails_check_naming_it(
    fake: RestApiFake, make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRM_API_KEY")
    result = make_connector().check()
    assert not result.ok
    assert "CRM_API_KEY is not set" in result.message


@pytest.mark.parametrize("style", ["oauth2_client_credentials", "oauth2_refresh_token"])
def test_oauth2_token_is_renewed_after_it_expires(
    fake: RestApiFake,
    make_connector: MakeConnector,
    style: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.seed(
        [
            customer(f"c{i}", "Ada", "L", f"a{i}@example.com", EPOCH + timedelta(seconds=i))
            for i in range(6)
        ]
    )
    fake.auth = "oauth2"
    connector = make_connector(auth=auth_config(style, fake, tmp_path))
    batches = connector.read("customers", None)
    first = next(batches)
    fake.expire_tokens()  # the access token dies between two pages
    rest = list(batches)
    assert len(first.records) + sum(len(b.records) for b in rest) == 6
    assert len(fake.token_grants) == 2
    statuses = [r.path for r in fake.requests]
    assert statuses.count("/oauth/token") == 2
    if style == "oauth2_refresh_token":
        saved = (tmp_path / "refresh-token").read_text(encoding="utf-8").strip()
        assert saved in fake.refresh_tokens and saved != FIRST_REFRESH_TOKEN
    assert_no_secret("\n".join(r.getMessage() for r in caplog.records), fake)


def test_api_key_in_query_is_masked_in_debug_logs_and_errors(
    fake: RestApiFake,
    make_connector: MakeConnector,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed(fake)
    caplog.set_level(logging.DEBUG)
    connector = make_connector(auth=auth_config("api_key_query", fake, tmp_path))
    fake.inject(Fault(503, times=1))
    fake.inject(Fault(404, times=1))
    with pytest.raises(Exception) as info:
        list(connector.read("customers", None))
    assert "404" in str(info.value)
    assert any(API_KEY in (r.query.get("api_key") or [""])[0] for r in fake.requests)
    assert_no_secret(str(info.value), fake)
    assert_no_secret("\n".join(r.getMessage() for r in caplog.records), fake)


def test_401_during_a_read_is_an_auth_error(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    seed(fake)
    fake.inject(Fault(401, times=1))
    with pytest.raises(AuthError, match="credentials refused"):
        list(make_connector().read("customers", None))


def test_config_repr_shows_no_secret(make_connector: MakeConnector) -> None:
    connector = make_connector()
    assert API_KEY not in repr(connector.config)
