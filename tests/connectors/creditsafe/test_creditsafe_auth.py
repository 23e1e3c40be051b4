"""Login and faults: JWT renewal at expiry and after a 401, refused logins, 429/5xx, no leaks."""

from __future__ import annotations

import logging
import time

import pytest
from tests.connectors.creditsafe.creditsafe_support import PASSWORD, MakeConnector, ids_of, seed
from tests.fakes.creditsafe import CreditsafeFake, make_jwt
from tests.fakes.server import Fault

from crmhub.connectors.base import Upsert
from crmhub.connectors.creditsafe.auth import jwt_lifetime
from crmhub.errors import AuthError


def logins(fake: CreditsafeFake) -> int:
    return len(fake.calls("POST", "/v1/authenticate"))


def test_one_login_serves_a_whole_read(fake: CreditsafeFake, make_connector: MakeConnector) -> None:
    seed(fake, 3)
    connector = make_connector()
    list(connector.read("companies", None))
    assert logins(fake) == 1
    [login] = fake.calls("POST", "/v1/authenticate")
    assert login.body == {"username": "hub@example.com", "password": PASSWORD}
    token = login.header("Authorization")
    assert token is None  # the login itself carries no token
    assert all(r.header("Authorization", "").startswith("Bearer ") for r in fake.requests[1:])


def test_token_is_renewed_before_it_expires(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    seed(fake, 1)
    fake.token_lifetime = 1.5
    connector = make_connector()
    assert connector.check().ok
    time.sleep(1.5)
    assert ids_of(list(connector.read("companies", None))) == ["GB-0-00000001"]
    assert logins(fake) == 2
    assert fake.unauthorized == 0, "a request went out with an expired token"


def test_a_401_renews_the_token_once_and_goes_on(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    ids = seed(fake, 2)
    connector = make_connector()
    assert connector.check().ok
    fake.revoke_tokens()
    assert ids_of(list(connector.read("companies", None))) == ids
    assert (logins(fake), fake.unauthorized) == (2, 1)


def test_a_lasting_401_is_an_auth_error(
    fake: CreditsafeFake, make_connector: MakeConnector
) -> None:
    seed(fake, 2)
    connector = make_connector()
    assert connector.check().ok
    fake.inject(Fault(401, times=100))
    with pytest.raises(AuthError, match="refused the login"):
        list(connector.read("companies", None))


def test_wrong_password_fails_check_cleanly(
    fake: CreditsafeFake, make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDITSAFE_PASSWORD", "cs-wrong-password-1x")
    connector = make_connector()
    result = connector.check()
    assert not result.ok
    assert result.message == (
        "credit: Creditsafe refused the login (POST /authenticate -> 401): "
        "check the username and password"
    )
    with pytest.raises(AuthError):
        list(connector.read("companies", None))


def test_missing_password_variable_fails_check(
    fake: CreditsafeFake, make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDITSAFE_PASSWORD")
    result = make_connector().check()
    assert (result.ok, result.message) == (
        False,
        "credit: environment variable CREDITSAFE_PASSWORD is not set",
    )


def test_429_retry_after_is_honoured(fake: CreditsafeFake, make_connector: MakeConnector) -> None:
    seed(fake, 2)
    fake.inject(Fault(429, times=1, retry_after="1", path_prefix="/v1/companies/"))
    assert len(ids_of(list(make_connector().read("companies", None)))) == 2
    reports = [r.at for r in fake.calls("GET", "/v1/companies/")]
    assert len(reports) == 3
    assert reports[1] - reports[0] >= 1.0


def test_5xx_is_retried_also_on_login(fake: CreditsafeFake, make_connector: MakeConnector) -> None:
    seed(fake, 2)
    fake.inject(Fault(503, times=2, path_prefix="/v1/authenticate"))
    fake.inject(Fault(502, times=1, path_prefix="/v1/monitoring"))
    assert len(ids_of(list(make_connector().read("companies", None)))) == 2
    assert logins(fake) == 3


def test_jwt_lifetime_comes_from_the_exp_claim() -> None:
    now = 1_700_000_000.0
    assert jwt_lifetime(make_jwt({"exp": now + 3600}), now=now) == 3600
    assert jwt_lifetime(make_jwt({"exp": now + 99999}), now=now) == 3600  # never beyond 1 hour
    assert jwt_lifetime(make_jwt({"exp": now - 5}), now=now) is None  # skewed clock: assume 1 h
    assert jwt_lifetime("not-a-jwt") is None


def test_no_password_or_token_in_logs_or_errors(
    fake: CreditsafeFake,
    make_connector: MakeConnector,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "urllib3.connectionpool", "crmhub"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    ids = seed(fake, 2)
    fake.refuse_ids.add(ids[1])
    del fake.portfolios["777"][ids[1]]
    shown: list[str] = []
    connector = make_connector()
    shown.append(connector.check().message)
    list(connector.read("companies", None))
    report = connector.write(
        "companies",
        [Upsert(i, f"G-{n}", {"free_text": "x"}, f"k{n}") for n, i in enumerate(ids)],
    )
    shown += [r.reason for r in report.rows]
    fake.inject(Fault(401, times=100))
    with pytest.raises(AuthError) as error:
        list(connector.read("companies", None))
    shown += [str(error.value), repr(error.value)]
    fake.clear_faults()
    monkeypatch.setenv("CREDITSAFE_PASSWORD", "cs-wrong-password-2y")
    shown.append(make_connector().check().message)
    text = caplog.text + "\n".join(shown)
    assert "GET /v1/companies/" in caplog.text  # the debug log was on
    for secret in [PASSWORD, "cs-wrong-password-2y", *fake.tokens]:
        assert secret not in text
