"""OAuth2 with Intuit's rotating refresh token, 401/429/5xx handling, and no secret in logs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from qbo_support import MakeConnector
from tests.fakes.quickbooks import QuickBooksFake
from tests.fakes.server import Fault

from crmhub.connectors.base import Upsert
from crmhub.connectors.http import HttpStatusError
from crmhub.errors import AuthError, ConnectorError

OLD = datetime.now(UTC).replace(microsecond=0) - timedelta(days=90)


def read_all(connector: object) -> list[str]:
    return [r["Id"] for b in connector.read("customers", None) for r in b.records]  # type: ignore[attr-defined]


def test_rotated_refresh_token_is_saved_to_its_file(
    fake: QuickBooksFake, make_connector: MakeConnector, secrets_dir: Path
) -> None:
    first = fake.refresh_token
    fake.add(OLD, GivenName="Ada")
    assert make_connector().check().ok
    saved = (secrets_dir / "qbo_refresh_token").read_text().strip()
    assert saved == fake.refresh_token != first
    assert make_connector().check().ok  # a new process starts from the saved token


def test_an_expired_access_token_is_refreshed_once(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    fake.add(OLD, GivenName="Ada")
    connector = make_connector()
    read_all(connector)
    calls = fake.token_calls
    fake.expire_access_tokens()
    assert len(read_all(connector)) == 1
    assert fake.token_calls == calls + 1


def test_a_401_after_refreshing_is_an_auth_error(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    connector = make_connector()
    assert connector.check().ok
    calls = fake.token_calls
    fake.server.inject(Fault(401, times=2, path_prefix=fake.base))
    with pytest.raises(AuthError, match="401"):
        read_all(connector)
    assert fake.token_calls == calls + 1


def test_revoked_app_fails_check_cleanly(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    fake.revoke()
    result = make_connector().check()
    assert not result.ok
    assert "invalid_grant" in result.message
    with pytest.raises(AuthError):
        read_all(make_connector())


def test_429_retry_after_is_honoured(fake: QuickBooksFake, make_connector: MakeConnector) -> None:
    fake.add(OLD, GivenName="Ada")
    connector = make_connector()
    assert connector.check().ok
    fake.server.requests.clear()
    fake.server.inject(Fault(429, times=2, retry_after="1", path_prefix=fake.base))
    assert len(read_all(connector)) == 1
    times = [r.at for r in fake.calls("/query")]
    assert len(times) == 3
    assert times[1] - times[0] >= 1.0 and times[2] - times[1] >= 1.0


def test_server_errors_are_retried(fake: QuickBooksFake, make_connector: MakeConnector) -> None:
    fake.add(OLD, GivenName="Ada")
    fake.server.inject(Fault(503, times=3, retry_after="0", path_prefix=fake.base))
    assert len(read_all(make_connector())) == 1


def test_a_query_qbo_refuses_names_its_vendor_code(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    connector = make_connector()
    with pytest.raises(HttpStatusError) as info:
        connector._get("query", {"query": "select Id from Invoice"})
    assert info.value.vendor_code == "4000"
    assert "(vendor code 4000)" in str(info.value)
    assert "Invoice" not in str(info.value)  # query values are redacted


def test_no_secret_in_logs_or_errors(
    fake: QuickBooksFake,
    make_connector: MakeConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    cid = fake.add(OLD, GivenName="Ada")
    connector = make_connector()
    errors: list[str] = []
    read_all(connector)
    fake.expire_access_tokens()
    fake.server.inject(Fault(429, times=1, retry_after="0", path_prefix=fake.base))
    connector.write("customers", [Upsert(cid, "G-1", {"GivenName": "Augusta"}, "k1")])
    fake.server.inject(Fault(401, times=2, path_prefix=fake.base))
    with pytest.raises(ConnectorError) as info:
        read_all(connector)
    errors.append(str(info.value))
    fake.revoke()
    errors.append(make_connector().check().message)
    text = "\n".join([*errors, *(r.getMessage() for r in caplog.records)])
    assert fake.secrets() and caplog.records
    for secret in fake.secrets():
        assert secret not in text
