"""Logins and faults through Prism: token rotation, expiry, refusals, 429/5xx, no leaked secret."""

from __future__ import annotations

import logging
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest
from tests.fakes.server import Fault
from tests.fakes.xero import XeroFake

from crmhub.connectors.base import Upsert
from crmhub.connectors.xero import XeroConnector
from crmhub.errors import AuthError, RetriesExhaustedError

MakeConnector = Callable[..., XeroConnector]
TENANT_B = "00000000-0000-4000-8000-00000000000b"


def read_all(connector: XeroConnector) -> list[str]:
    return [r["ContactID"] for b in connector.read("contacts", None) for r in b.records]


def test_rotated_refresh_token_is_saved_to_its_file(
    fake: XeroFake, make_connector: MakeConnector, secrets_dir: Path
) -> None:
    fake.add_contact(Name="Alpha")
    first_token = fake.refresh_token
    assert len(read_all(make_connector())) == 1
    saved = (secrets_dir / "xero_refresh_token").read_text().strip()
    assert saved == fake.refresh_token != first_token
    # a new process starts from the saved token; the spent one would be refused
    assert len(read_all(make_connector())) == 1
    assert fake.refreshes == 2


def test_expired_token_is_refreshed_once(fake: XeroFake, make_connector: MakeConnector) -> None:
    fake.add_contact(Name="Alpha")
    connector = make_connector()
    assert connector.check().ok
    fake.expire_tokens()
    assert len(read_all(connector)) == 1
    assert fake.refreshes == 2
    assert (
        len(fake.api_requests("/Contacts", "GET")) == 3
    )  # check, the refused read, the read with the new token


def test_revoked_app_is_an_auth_error(fake: XeroFake, make_connector: MakeConnector) -> None:
    connector = make_connector()
    assert connector.check().ok
    fake.revoke()
    with pytest.raises(AuthError) as caught:
        read_all(connector)
    assert "refused the grant" in str(caught.value) and "invalid_grant" in str(caught.value)
    result = make_connector().check()
    assert not result.ok and "invalid_grant" in result.message


def test_401_after_refresh_is_an_auth_error(fake: XeroFake, make_connector: MakeConnector) -> None:
    connector = make_connector()
    assert connector.check().ok
    body = {"Type": None, "Title": "Unauthorized", "Status": 401, "Detail": "TokenExpired"}
    fake.api.inject(Fault(401, times=5, body=body))
    with pytest.raises(AuthError, match=r"401 Unauthorized \(vendor code TokenExpired\)"):
        read_all(connector)


def test_wrong_tenant_fails_check(fake: XeroFake, make_connector: MakeConnector) -> None:
    result = make_connector(tenant_id=TENANT_B).check()
    assert not result.ok
    assert "403 Forbidden" in result.message and "AuthenticationUnsuccessful" in result.message


def test_wrong_client_secret_fails_check(
    fake: XeroFake, make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XERO_TEST_CLIENT_SECRET", "not-the-secret-123")
    result = make_connector().check()
    assert not result.ok and "401" in result.message
    assert "not-the-secret-123" not in result.message


def test_custom_connection_uses_client_credentials(
    fake: XeroFake, make_connector: MakeConnector
) -> None:
    fake.add_contact(Name="Alpha")
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": fake.token_url,
        "client_id": fake.client_id,
        "client_secret": {"env": "XERO_TEST_CLIENT_SECRET"},
    }
    assert len(read_all(make_connector(auth=auth))) == 1


def test_429_waits_for_retry_after(fake: XeroFake, make_connector: MakeConnector) -> None:
    fake.add_contact(Name="Alpha")
    connector = make_connector()
    assert connector.check().ok
    before = len(fake.api.requests)
    fake.api.inject(Fault(429, times=2, retry_after="1", body={"Status": 429}))
    assert len(read_all(connector)) == 1
    times = [r.at for r in fake.api.requests[before:]]
    assert len(times) == 3
    assert all(gap >= 1.0 for gap in (b - a for a, b in pairwise(times))), times


def test_5xx_burst_is_retried_then_exhausted(fake: XeroFake, make_connector: MakeConnector) -> None:
    fake.add_contact(Name="Alpha")
    connector = make_connector(retry_attempts=3)
    assert connector.check().ok
    fake.api.inject(Fault(503, times=2, retry_after="0"))
    assert len(read_all(connector)) == 1
    fake.api.inject(Fault(503, times=3, retry_after="0"))
    with pytest.raises(RetriesExhaustedError, match="503 Service Unavailable after 3 attempts"):
        read_all(connector)


def test_no_secret_in_logs_or_errors(
    fake: XeroFake,
    make_connector: MakeConnector,
    secrets_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    a = fake.add_contact(Name="Alpha")
    connector = make_connector()
    errors: list[str] = [connector.check().message]
    read_all(connector)
    connector.write("contacts", [Upsert(a, "G-1", {"AccountNumber": "G-1"}, "k1")])
    fake.expire_tokens()
    read_all(connector)
    for fault in (Fault(503, times=9, retry_after="0"), Fault(401, times=9)):
        fake.api.inject(fault)
        with pytest.raises((AuthError, RetriesExhaustedError)) as caught:
            read_all(make_connector(retry_attempts=2))
        errors.append(str(caught.value))
        fake.api.clear_faults()
    fake.revoke()
    errors.append(make_connector().check().message)
    shown = "\n".join([*errors, *(r.getMessage() for r in caplog.records)])
    assert len(caplog.records) > 3
    leaked = [s for s in fake.secrets() if s in shown]
    assert not leaked, leaked
