"""Credentials, quota and faults: 401, OAuth2 refresh, 429 with Retry-After, and no leaks."""

from __future__ import annotations

import logging
from contextlib import closing

import pytest
from tests.connectors.google_sheets.conftest import SID, TAB, Make, customers
from tests.fakes.google_sheets import FakeSheets
from tests.fakes.server import Fault

from crmhub.errors import AuthError, RetriesExhaustedError

SECRETS = [
    "sheets-access-token",
    "sheets-wrong-token",
    "sheets-api-key",
    "sheets-client-secret",
    "sheets-refresh-token",
]
RESOURCE_EXHAUSTED = {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}


def oauth(fake: FakeSheets) -> dict[str, object]:
    """OAuth2 refresh-token auth against the fake's token endpoint (not proxied: not Sheets)."""
    return {
        "type": "oauth2_refresh_token",
        "token_url": f"{fake.server.url}/token",
        "client_id": "crmhub-client",
        "client_secret": {"env": "GS_CLIENT_SECRET"},
        "refresh_token": {"env": "GS_REFRESH_TOKEN"},
    }


def assert_no_secret(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    shown = [r.getMessage() for r in caplog.records] + list(texts)
    leaked = [(s, t) for t in shown for s in SECRETS if s in t]
    assert not leaked, leaked


def test_refused_token_fails_check_cleanly(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(1))
    result = make(auth={"type": "bearer", "token": {"env": "GS_BAD_TOKEN"}}).check()
    assert not result.ok
    assert "401 Unauthorized (vendor code UNAUTHENTICATED)" in result.message
    assert "credentials refused" in result.message


def test_401_during_a_read_is_an_auth_error(
    sheets: FakeSheets, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sheets.add_tab(SID, TAB, customers(1))
    connector = make()
    connector.discover()
    sheets.server.inject(Fault(401, times=10))
    with pytest.raises(AuthError) as caught:
        list(connector.read(TAB, None))
    assert_no_secret(caplog, str(caught.value))


def test_oauth2_gets_a_token_and_refreshes_it_once_after_a_401(
    sheets: FakeSheets, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sheets.add_tab(SID, TAB, customers(2))
    connector = make(auth=oauth(sheets))
    assert connector.check().ok
    sheets.server.inject(Fault(401, times=1, path_prefix="/v4/"))
    assert len([r for b in connector.read(TAB, None) for r in b.records]) == 2
    tokens = [r for r in sheets.server.requests if r.path == "/token"]
    assert len(tokens) == 2  # the first token, then one refresh after the 401
    assert (tokens[0].header("authorization") or "").startswith("Basic ")
    assert_no_secret(caplog)


def test_a_refused_refresh_token_is_an_auth_error(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(1))
    sheets.refresh_tokens.clear()
    result = make(auth=oauth(sheets)).check()
    assert not result.ok
    assert "refused the grant" in result.message and "invalid_grant" in result.message


def test_429_waits_for_retry_after(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(2))
    connector = make()
    connector.discover()
    before = len(sheets.server.requests)
    sheets.server.inject(Fault(429, times=1, retry_after="1", body=RESOURCE_EXHAUSTED))
    assert len([r for b in connector.read(TAB, None) for r in b.records]) == 2
    first, retry = sheets.server.requests[before : before + 2]
    assert first.path == retry.path
    assert retry.at - first.at >= 1.0


def test_the_read_quota_is_honoured(sheets: FakeSheets, make: Make) -> None:
    """The fake's per-minute read quota (here: 3 reads per 2 s) answers 429 + Retry-After."""
    sheets.add_tab(SID, TAB, customers(4), row_count=5)
    sheets.quota(reads=3, window=2.0)
    batches = list(make(batch_size=1).read(TAB, None))
    assert len([r for b in batches for r in b.records]) == 4
    gets = [r for r in sheets.server.requests if r.method == "GET"]
    assert gets[-1].at - gets[0].at >= 2.0


def test_faults_that_outlive_the_retries_are_reported(
    sheets: FakeSheets, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sheets.add_tab(SID, TAB, customers(1))
    connector = make()
    sheets.server.inject(Fault(503, times=50))
    connector.api.http.retry = type(connector.api.http.retry)(attempts=2, backoff=0.01)
    with pytest.raises(RetriesExhaustedError, match="503 Service Unavailable after 2 attempts"):
        connector.discover()
    assert_no_secret(caplog)


def test_an_api_key_reads_public_sheets_and_never_shows(
    sheets: FakeSheets, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """Straight to the fake: the Sheets document declares only OAuth2, so Prism refuses keys.

    urllib3 logs every URL with its query at DEBUG, `key=` included; the client masks it.
    """
    caplog.set_level(logging.DEBUG)
    sheets.add_tab(SID, TAB, customers(2))
    auth = {"type": "api_key", "name": "key", "value": {"env": "GS_API_KEY"}, "location": "query"}
    with closing(make(auth=auth, base_url=sheets.server.url)) as connector:
        assert connector.check().ok
        assert len([r for b in connector.read(TAB, None) for r in b.records]) == 2
        sheets.server.inject(Fault(400, body={"error": {"status": "INVALID_ARGUMENT"}}))
        with pytest.raises(Exception) as caught:
            connector.discover()
    assert sheets.server.requests[0].param("key") == "sheets-api-key"
    urllib3_lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("key=***" in line for line in urllib3_lines), urllib3_lines
    assert_no_secret(caplog, str(caught.value))
