"""Auth styles against a real local token endpoint: config, renewal, rotation, refusals."""

from __future__ import annotations

import logging
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError
from tests.fakes.server import FakeServer, Fault, Request, Response

from crmhub.connectors.auth import (
    AuthConfig,
    BasicAuth,
    OAuth2RefreshToken,
    OAuth2RefreshTokenConfig,
)
from crmhub.connectors.http import HttpClient, RetryPolicy
from crmhub.errors import AuthError

CLIENT_SECRET = "cs-9d8e7f6a5b4c"
REFRESH = "rt-0001-abcdef"


class TokenServer(FakeServer):
    """An OAuth2 token endpoint that rotates refresh tokens, and an API that checks tokens."""

    def __init__(self, lifetime: int = 3600) -> None:
        super().__init__()
        self.lifetime = lifetime
        self.refresh_token = REFRESH
        self.issued: list[str] = []
        self.valid: set[str] = set()

        @self.route("POST", "/token")
        def token(request: Request, _: dict[str, str]) -> Response:
            body = request.body
            in_header = request.header("authorization") == BasicAuth("app", CLIENT_SECRET)._header
            in_body = (body.get("client_id"), body.get("client_secret")) == ("app", CLIENT_SECRET)
            if not (in_header or in_body):
                return Response(401, {"error": "invalid_client"})
            if body["grant_type"] == "refresh_token":
                if body["refresh_token"] != self.refresh_token:
                    return Response(400, {"error": "invalid_grant", "error_description": body})
                self.refresh_token = f"rt-{len(self.issued) + 2:04d}-rotated"
            access = f"at-{len(self.issued) + 1}-secret"
            self.issued.append(access)
            self.valid = {access}
            reply = {"access_token": access, "token_type": "Bearer", "expires_in": self.lifetime}
            if body["grant_type"] == "refresh_token":
                reply["refresh_token"] = self.refresh_token
            return Response(200, reply)

        @self.route("GET", "/me")
        def me(request: Request, _: dict[str, str]) -> Response:
            token = (request.header("authorization") or "").removeprefix("Bearer ")
            return Response(200, {"ok": True}) if token in self.valid else Response(401, {})


@pytest.fixture
def server() -> Iterator[TokenServer]:
    fake = TokenServer()
    with fake.running():
        yield fake


def refresh_config(server: TokenServer, secret_file: Path) -> OAuth2RefreshTokenConfig:
    secret_file.write_text(REFRESH + "\n")
    return TypeAdapter(AuthConfig).validate_python(
        {
            "type": "oauth2_refresh_token",
            "token_url": f"{server.url}/token",
            "client_id": "app",
            "client_secret": {"env": "TEST_CLIENT_SECRET"},
            "refresh_token": {"file": str(secret_file)},
        }
    )


@pytest.fixture(autouse=True)
def client_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CLIENT_SECRET", CLIENT_SECRET)


def test_refresh_token_is_rotated_and_saved_to_its_file(
    server: TokenServer, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secrets" / "refresh"
    secret_file.parent.mkdir()
    auth = refresh_config(server, secret_file).build(source="xero")
    with HttpClient(server.url, api="t-rotate", auth=auth) as http:
        assert http.get_json("/me") == {"ok": True}
    assert secret_file.read_text().strip() == server.refresh_token != REFRESH
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    again = refresh_config(server, tmp_path / "other").build()
    with pytest.raises(AuthError, match=r"refused the grant -> 400 \(invalid_grant\)"):
        again.apply({}, {})  # the old refresh token is spent


def test_expired_access_token_is_renewed_after_a_401(server: TokenServer, tmp_path: Path) -> None:
    auth = refresh_config(server, tmp_path / "rt").build()
    with HttpClient(server.url, api="t-renew", auth=auth) as http:
        http.get_json("/me")
        server.valid = set()  # the vendor revoked or expired the token early
        assert http.get_json("/me") == {"ok": True}
    assert len(server.issued) == 2


def test_token_close_to_expiry_is_renewed_before_use(tmp_path: Path) -> None:
    server = TokenServer(lifetime=2)  # renewed once less than half its lifetime is left
    with server.running():
        auth = refresh_config(server, tmp_path / "rt").build()
        with HttpClient(server.url, api="t-expiry", auth=auth) as http:
            http.get_json("/me")
            http.get_json("/me")
            assert len(server.issued) == 1  # a short-lived token still serves several calls
            time.sleep(1.1)
            http.get_json("/me")
    assert len(server.issued) == 2


def test_two_sources_sharing_a_rotating_refresh_token_file(
    server: TokenServer, tmp_path: Path
) -> None:
    secret_file = tmp_path / "refresh"
    first = refresh_config(server, secret_file).build(source="contacts")
    second = OAuth2RefreshTokenConfig.model_validate(
        refresh_config(server, secret_file).model_dump()
    ).build(source="invoices")  # built before the first one rotates the token
    secret_file.write_text(REFRESH + "\n")
    with HttpClient(server.url, api="t-share-1", auth=first) as http:
        assert http.get_json("/me") == {"ok": True}
    rotated = secret_file.read_text().strip()
    assert rotated != REFRESH
    with HttpClient(server.url, api="t-share-2", auth=second) as http:
        assert http.get_json("/me") == {"ok": True}  # it started from the saved token
    assert secret_file.read_text().strip() not in (REFRESH, rotated)


def test_client_credentials_grant(server: TokenServer) -> None:
    auth = (
        TypeAdapter(AuthConfig)
        .validate_python(
            {
                "type": "oauth2_client_credentials",
                "token_url": f"{server.url}/token",
                "client_id": "app",
                "client_secret": {"env": "TEST_CLIENT_SECRET"},
                "scopes": ["contacts.read"],
            }
        )
        .build()
    )
    with HttpClient(server.url, api="t-cc", auth=auth) as http:
        assert http.get_json("/me") == {"ok": True}
    token_request = next(r for r in server.requests if r.path == "/token")
    assert token_request.body == {"grant_type": "client_credentials", "scope": "contacts.read"}


def test_wrong_client_secret_is_an_auth_error_without_secrets(
    server: TokenServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TEST_CLIENT_SECRET", "wrong-secret-value")
    auth = refresh_config(server, tmp_path / "rt").build(source="qbo")
    with pytest.raises(AuthError) as caught:
        HttpClient(server.url, api="t-bad", auth=auth).get_json("/me")
    message = str(caught.value)
    assert message.startswith("qbo: POST /token -> 401 Unauthorized")
    for secret in ("wrong-secret-value", REFRESH):
        assert secret not in message and secret not in caplog.text


def test_token_endpoint_5xx_is_retried_for_client_credentials(server: TokenServer) -> None:
    server.inject(Fault(503, times=1, path_prefix="/token"))
    auth = (
        TypeAdapter(AuthConfig)
        .validate_python(
            {
                "type": "oauth2_client_credentials",
                "token_url": f"{server.url}/token",
                "client_id": "app",
                "client_secret": {"env": "TEST_CLIENT_SECRET"},
            }
        )
        .build()
    )
    http = HttpClient(server.url, api="t-cc5", auth=auth, retry=RetryPolicy(backoff=0.01))
    assert http.get_json("/me") == {"ok": True}


def test_rotated_token_without_a_file_is_kept_in_memory_with_a_warning(
    server: TokenServer, caplog: pytest.LogCaptureFixture
) -> None:
    auth = OAuth2RefreshToken(f"{server.url}/token", "app", CLIENT_SECRET, REFRESH, source="crm")
    auth.apply({}, {})
    auth.refresh()
    assert len(server.issued) == 2  # the in-memory rotated token kept working
    assert "give refresh_token as {file: path}" in caplog.text
    assert REFRESH not in caplog.text


def test_auth_config_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(AuthConfig).validate_python({"type": "api_key", "name": "X-Key"})
    assert caught.value.errors()[0]["loc"] == ("api_key", "value")
    with pytest.raises(ValidationError, match="oauth2_refresh_token"):
        TypeAdapter(AuthConfig).validate_python({"type": "oauth"})


def test_secret_reference_repr_shows_no_value(monkeypatch: pytest.MonkeyPatch) -> None:
    config = TypeAdapter(AuthConfig).validate_python(
        {"type": "bearer", "token": {"env": "TEST_CLIENT_SECRET"}}
    )
    assert CLIENT_SECRET not in repr(config)
    assert config.build().secrets() == [CLIENT_SECRET]


def test_client_credentials_can_go_in_the_form_body(server: TokenServer) -> None:
    auth = TypeAdapter(AuthConfig).validate_python(
        {
            "type": "oauth2_refresh_token",
            "token_url": f"{server.url}/token",
            "client_id": "app",
            "client_secret": {"env": "TEST_CLIENT_SECRET"},
            "refresh_token": {"env": "TEST_REFRESH"},
            "client_auth": "body",
        }
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEST_REFRESH", REFRESH)
        with HttpClient(server.url, api="t-body", auth=auth.build()) as http:
            assert http.get_json("/me") == {"ok": True}
    token_request = next(r for r in server.requests if r.path == "/token")
    assert token_request.header("authorization") is None
    assert token_request.body["client_secret"] == CLIENT_SECRET
