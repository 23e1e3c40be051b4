"""Faults: refused tokens, throttling as HubSpot does it, 5xx, OAuth renewal, no leaked token."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from hubspot_support import TOKEN, ConnectorFactory, assert_shape
from tests.fakes.hubspot import HubSpotFake, RateLimit
from tests.fakes.server import Fault

from crmhub.connectors.hubspot import HubSpotConfig, HubSpotConnector
from crmhub.errors import AuthError, RetriesExhaustedError


def test_401_raises_auth_error_without_the_token(
    fake: HubSpotFake, connect: ConnectorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add("contacts", {"email": "a@example.com"})
    fake.tokens.clear()
    with pytest.raises(AuthError) as caught:
        list(connect().read("contacts", None))
    message = str(caught.value)
    assert message.startswith("crm: GET /crm/v3/objects/contacts -> 401")
    assert "401 Unauthorized (vendor code INVALID_AUTHENTICATION)" in message
    assert TOKEN not in message
    assert TOKEN not in caplog.text


def test_check_reports_a_refused_token(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    fake.tokens.clear()
    result = connect().check()
    assert not result.ok
    assert "credentials refused" in result.message
    assert "\n" not in result.message and TOKEN not in result.message


def test_check_reports_a_missing_token_variable(
    fake: HubSpotFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRMHUB_TEST_HUBSPOT_NOT_SET", raising=False)
    config = HubSpotConfig.model_validate(
        {
            "type": "hubspot",
            "base_url": fake.server.url,
            "auth": {"type": "bearer", "token": {"env": "CRMHUB_TEST_HUBSPOT_NOT_SET"}},
        }
    )
    result = HubSpotConnector(config, name="crm").check()
    assert not result.ok
    assert "CRMHUB_TEST_HUBSPOT_NOT_SET is not set" in result.message


def test_check_succeeds(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    result = connect().check()
    assert result.ok, result.message
    assert result.message == "contacts, companies readable"
    assert {r.path for r in fake.requests} == {
        "/crm/v3/objects/contacts",
        "/crm/v3/objects/companies",
        "/crm/v3/properties/contacts",
        "/crm/v3/properties/companies",
    }


def test_check_passes_with_one_object_type_granted(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    fake.missing_scopes.add("companies")
    result = connect().check()
    assert result.ok
    assert result.message.startswith("contacts readable; crm: GET /crm/v3/objects/companies -> 403")
    fake.missing_scopes.add("contacts")
    result = connect().check()
    assert not result.ok
    assert "MISSING_SCOPES" in result.message


def test_check_names_unknown_properties(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    conn = connect(streams={"contacts": {"extra_properties": ["fistname", "crmhub_idd", "zzz"]}})
    result = conn.check()
    assert not result.ok
    assert result.message == (
        "crm: contacts has no properties 'fistname' (did you mean 'firstname'?), "
        "'crmhub_idd' (did you mean 'crmhub_id'?), 'zzz'"
    )


def test_check_without_schema_scope_says_names_are_unchecked(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    fake.schema_scope_missing = True
    result = connect(streams={"contacts": {"extra_properties": ["fistname"]}}).check()
    assert result.ok
    assert "contacts property names not checked (no schema read scope)" in result.message


def test_properties_answer_has_the_sdk_shape(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    import hubspot.crm.properties.models as property_models

    answer = connect().http.get_json("crm/v3/properties/contacts")
    assert_shape(answer, "CollectionResponsePropertyNoPaging", property_models)


def gaps(fake: HubSpotFake) -> list[float]:
    return [b.at - a.at for a, b in pairwise(fake.requests)]


def test_429_retry_after_is_honoured(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    fake.add("contacts", {"email": "a@example.com"})
    fake.rate_limit(RateLimit(times=2, retry_after="1"))
    [batch] = list(connect().read("contacts", None))
    assert len(batch.records) == 1
    assert len(fake.requests) == 3
    assert all(g >= 1.0 for g in gaps(fake))


def test_429_without_retry_after_waits_the_rate_limit_window(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    """HubSpot's 429 names its window in X-HubSpot-RateLimit-Interval-Milliseconds."""
    fake.add("contacts", {"email": "a@example.com"})
    fake.rate_limit(RateLimit(times=1, interval_ms=800))
    list(connect().read("contacts", None))
    assert len(fake.requests) == 2
    assert gaps(fake)[0] >= 0.8


def test_spent_daily_quota_is_not_waited_for(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    fake.add("contacts", {"email": "a@example.com"})
    fake.inject(Fault(429, times=5))
    conn = connect()
    original = fake.server._send

    def with_daily_header(handler, response):  # type: ignore[no-untyped-def]
        if response.status == 429:
            response.headers["X-HubSpot-RateLimit-Daily-Remaining"] = "0"
        original(handler, response)

    fake.server._send = with_daily_header  # type: ignore[method-assign]
    with pytest.raises(RetriesExhaustedError, match="429 Too Many Requests"):
        list(conn.read("contacts", None))
    assert len(fake.requests) == 1


def test_daily_limit_named_in_the_body_is_not_waited_for(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    fake.rate_limit(RateLimit(times=3, policy="DAILY"))
    with pytest.raises(RetriesExhaustedError, match="429 Too Many Requests"):
        list(connect().read("contacts", None))
    assert len(fake.requests) == 1


def test_5xx_is_retried(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    fake.add("contacts", {"email": "a@example.com"})
    fake.inject(Fault(503, times=2))
    [batch] = list(connect().read("contacts", None))
    assert len(batch.records) == 1
    assert len(fake.requests) == 3


def test_search_is_retried_although_it_is_a_post(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    fake.add("contacts", {"email": "a@example.com"}, modified=datetime(2024, 5, 1, tzinfo=UTC))
    state = list(connect().read("contacts", None))[-1].state_after
    fake.add("contacts", {"email": "b@example.com"})
    fake.inject(Fault(502, times=1, path_prefix="/crm/v3/objects/contacts/search"))
    [batch] = list(connect().read("contacts", state))
    assert len(batch.records) == 1
    assert len(fake.requests_to("POST", "/contacts/search")) == 2


@pytest.fixture
def oauth_env(fake: HubSpotFake, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    fake.oauth_clients["app-client"] = "client-secret-value-1"
    fake.refresh_tokens.add("refresh-token-value-1")
    monkeypatch.setenv("CRMHUB_TEST_HS_SECRET", "client-secret-value-1")
    monkeypatch.setenv("CRMHUB_TEST_HS_REFRESH", "refresh-token-value-1")
    return {"secret": "client-secret-value-1", "refresh": "refresh-token-value-1"}


def oauth_connector(fake: HubSpotFake) -> HubSpotConnector:
    config = HubSpotConfig.model_validate(
        {
            "type": "hubspot",
            "base_url": fake.server.url,
            "auth": {
                "type": "oauth2_refresh_token",
                "token_url": f"{fake.server.url}/oauth/v1/token",
                "client_id": "app-client",
                "client_secret": {"env": "CRMHUB_TEST_HS_SECRET"},
                "refresh_token": {"env": "CRMHUB_TEST_HS_REFRESH"},
            },
        }
    )
    return HubSpotConnector(config, name="crm")


def test_oauth_refresh_token_and_renewal_after_401(
    fake: HubSpotFake, oauth_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add("contacts", {"email": "a@example.com"})
    conn = oauth_connector(fake)
    assert conn.check().ok
    [grant] = fake.requests_to("POST", "/oauth/v1/token")
    assert grant.body["client_id"] == "app-client"
    assert grant.body["grant_type"] == "refresh_token"
    fake.tokens.clear()  # the access token expired early
    [batch] = list(conn.read("contacts", None))
    assert len(batch.records) == 1
    assert len(fake.requests_to("POST", "/oauth/v1/token")) == 2
    conn.close()
    for secret in oauth_env.values():
        assert secret not in caplog.text


def test_oauth_refused_grant_is_an_auth_error(fake: HubSpotFake, oauth_env: dict[str, str]) -> None:
    fake.refresh_tokens.clear()
    result = oauth_connector(fake).check()
    assert not result.ok
    assert "refused the grant" in result.message
    assert oauth_env["refresh"] not in result.message


def test_no_token_in_debug_logs_of_a_whole_run(
    fake: HubSpotFake, connect: ConnectorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    oid = fake.add("contacts", {"email": "a@example.com"})
    conn = connect()
    conn.check()
    state = list(conn.read("contacts", None))[-1].state_after
    fake.update("contacts", oid, {"city": "Oslo"})
    fake.inject(Fault(503, times=1))
    list(conn.read("contacts", state))
    from crmhub.connectors.base import Upsert

    conn.write("contacts", [Upsert(oid, "G1", {"crmhub_id": "G1"}, "k1")])
    assert caplog.records, "expected debug output to search"
    assert TOKEN not in caplog.text
    assert all(TOKEN not in repr(r.args) for r in caplog.records)
