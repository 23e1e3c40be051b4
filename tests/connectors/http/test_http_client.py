"""The shared HTTP client against a real local server: retries, budgets, errors, redaction."""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from tests.fakes.server import FakeServer, Fault, Request, Response

from crmhub.connectors.auth import ApiKeyAuth, BearerAuth
from crmhub.connectors.http import (
    HttpAuthError,
    HttpClient,
    HttpStatusError,
    RateBudget,
    RetryPolicy,
    retry_after_seconds,
)
from crmhub.errors import RetriesExhaustedError, SourceContractError, SourceUnavailableError

SECRET = "sk-live-4f9a8b7c6d5e"

FAST = RetryPolicy(backoff=0.01, max_backoff=0.05)


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    created: list[object] = []

    @server.route("GET", "/items")
    def items(request: Request, _: dict[str, str]) -> Response:
        return Response(200, {"items": [1, 2], "key": request.param("key")})

    @server.route("POST", "/items")
    def create(request: Request, _: dict[str, str]) -> Response:
        if request.body.get("name") == "":
            return Response(422, {"error": {"code": "NAME_EMPTY", "token": SECRET}})
        created.append(request.body)
        return Response(201, {"id": len(created)})

    server.created = created  # type: ignore[attr-defined]
    with server.running():
        yield server


def client(fake: FakeServer, **kwargs: object) -> HttpClient:
    kwargs.setdefault("retry", FAST)
    return HttpClient(fake.url, api=f"test-{id(fake)}", source="crm", **kwargs)  # type: ignore[arg-type]


def test_get_json_returns_the_body(fake: FakeServer) -> None:
    with client(fake) as http:
        assert http.get_json("/items")["items"] == [1, 2]


def test_429_and_5xx_are_retried_until_the_call_succeeds(fake: FakeServer) -> None:
    fake.inject(Fault(429, times=1))
    fake.inject(Fault(503, times=2))
    with client(fake) as http:
        assert http.get_json("/items")["items"] == [1, 2]
    assert [r.method for r in fake.requests] == ["GET"] * 4


def test_retry_after_in_seconds_is_honoured(fake: FakeServer) -> None:
    fake.inject(Fault(429, times=1, retry_after="1"))
    with client(fake) as http:
        http.get_json("/items")
    first, second = fake.requests
    assert second.at - first.at >= 1.0


def test_retry_after_as_http_date_is_honoured(fake: FakeServer) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    fake.inject(Fault(503, times=1, retry_after=when))
    with client(fake) as http:
        http.get_json("/items")
    first, second = fake.requests
    assert second.at - first.at >= 0.9  # HTTP-dates have whole seconds


def test_retry_after_parsing() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_exhausted_retries_raise_with_the_status(fake: FakeServer) -> None:
    fake.inject(Fault(503, times=10))
    http = client(fake, retry=RetryPolicy(attempts=3, backoff=0.01))
    with pytest.raises(RetriesExhaustedError, match=r"GET /items -> 503 .* after 3 attempts"):
        http.get_json("/items")
    assert len(fake.requests) == 3


def test_post_without_idempotency_key_is_sent_once(fake: FakeServer) -> None:
    fake.inject(Fault(503, times=1))
    with client(fake) as http, pytest.raises(RetriesExhaustedError, match="no idempotency key"):
        http.request("POST", "/items", json={"name": "a"})
    assert len(fake.requests) == 1


def test_post_with_idempotency_key_is_retried_with_the_key(fake: FakeServer) -> None:
    fake.inject(Fault(503, times=2))
    with client(fake) as http:
        response = http.request("POST", "/items", json={"name": "a"}, idempotency_key="k-1")
    assert response.status_code == 201
    assert [r.header("idempotency-key") for r in fake.requests] == ["k-1"] * 3
    assert fake.created == [{"name": "a"}]  # type: ignore[attr-defined]


def test_a_read_only_post_can_be_marked_idempotent(fake: FakeServer) -> None:
    fake.inject(Fault(502, times=1))
    with client(fake) as http:
        http.request("POST", "/items", json={"name": "b"}, idempotent=True)
    assert len(fake.requests) == 2


def test_4xx_is_a_contract_error_with_vendor_code_and_no_body(fake: FakeServer) -> None:
    def code(response: object) -> str:
        return response.json()["error"]["code"]  # type: ignore[attr-defined]

    with client(fake, vendor_code=code) as http, pytest.raises(HttpStatusError) as caught:
        http.request("POST", "/items?dry=1", json={"name": ""})
    error = caught.value
    assert isinstance(error, SourceContractError)
    assert str(error) == (
        "crm: POST /items?dry=… -> 422 Unprocessable Entity (vendor code NAME_EMPTY)"
    )
    assert (error.status, error.vendor_code) == (422, "NAME_EMPTY")
    assert SECRET not in str(error) and SECRET not in repr(error)


def test_401_without_refresh_is_an_auth_error(fake: FakeServer) -> None:
    fake.inject(Fault(401, times=5))
    http = client(fake, auth=BearerAuth(SECRET))
    with pytest.raises(HttpAuthError, match="GET /items -> 401 Unauthorized"):
        http.get_json("/items")


class CountingRefresh(BearerAuth):
    def __init__(self) -> None:
        super().__init__(SECRET)
        self.refreshed = 0

    def refresh(self) -> bool:
        self.refreshed += 1
        return True


def test_401_refreshes_once_then_succeeds(fake: FakeServer) -> None:
    auth = CountingRefresh()
    fake.inject(Fault(401, times=1))
    with client(fake, auth=auth) as http:
        assert http.get_json("/items")["items"] == [1, 2]
    assert auth.refreshed == 1


def test_unreachable_host_names_the_host_only() -> None:
    http = HttpClient("http://127.0.0.1:9", api="nowhere", retry=RetryPolicy(attempts=1))
    with pytest.raises(SourceUnavailableError, match=r"GET /x: connection failed \(127.0.0.1:9\)"):
        http.get_json("/x")


def test_unreachable_host_is_retried_when_allowed() -> None:
    http = HttpClient("http://127.0.0.1:9", api="nowhere", retry=RetryPolicy(attempts=2, backoff=0))
    with pytest.raises(RetriesExhaustedError, match="no response after 2 attempts"):
        http.get_json("/x")


def test_api_key_in_query_is_masked_in_debug_logs_and_errors(
    fake: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")  # other libraries may have raised it
    fake.inject(Fault(429, times=1))
    with client(fake, auth=ApiKeyAuth("key", SECRET, "query")) as http:
        assert http.get_json("/items")["key"] == SECRET  # the key did reach the server
        fake.inject(Fault(404, times=1))
        with pytest.raises(HttpStatusError) as caught:
            http.get_json("/items")
    assert "key=***" in caplog.text
    assert SECRET not in caplog.text
    assert SECRET not in str(caught.value)


def test_rate_budget_is_shared_by_clients_of_one_api(fake: FakeServer) -> None:
    api = f"shared-{time.monotonic()}"
    budget = RateBudget.shared(api, per_second=10)
    assert RateBudget.shared(api) is budget
    first = HttpClient(fake.url, api=api, budget=budget)
    second = HttpClient(fake.url, api=api, budget=RateBudget.shared(api))
    start = time.monotonic()
    for _ in range(10):  # the initial burst of 10 is spent...
        first.get_json("/items")
    for _ in range(10):  # ...so the other client waits for refills: about 1 s for 10 more
        second.get_json("/items")
    assert time.monotonic() - start >= 0.9


def _spend(api: str, calls: int, barrier: Any, results: Any) -> None:
    budget = RateBudget.shared(api, per_second=10)
    barrier.wait(30)  # both processes are up; now they compete for one budget
    start = time.monotonic()
    for _ in range(calls):
        budget.acquire()
    results.put(time.monotonic() - start)


def test_rate_budget_is_shared_by_processes_on_one_machine() -> None:
    api = f"processes-{time.monotonic()}"
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_spend, args=(api, 10, barrier, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    durations = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(10)
    # alone, each process would spend its 10 calls in the initial burst of 10 at once; sharing
    # one budget, the second 10 wait for refills at 10 per second
    assert max(durations) >= 0.9


def test_private_budget_ignores_the_shared_file() -> None:
    budget = RateBudget(per_second=1000)
    assert budget.path is None
    start = time.monotonic()
    for _ in range(100):
        budget.acquire()
    assert time.monotonic() - start < 0.5


def test_rate_budget_per_minute_tightens_an_existing_budget() -> None:
    api = f"tight-{time.monotonic()}"
    budget = RateBudget.shared(api, per_second=100)
    RateBudget.shared(api, per_second=5, per_minute=600)
    start = time.monotonic()
    for _ in range(7):
        budget.acquire()
    assert time.monotonic() - start >= 0.3  # 5 at once, then 2 at 5 per second


def test_a_redirect_to_another_host_gets_no_credential_header(fake: FakeServer) -> None:
    other = FakeServer()

    @other.route("GET", "/landing")
    def landing(request: Request, _: dict[str, str]) -> Response:
        return Response(200, {"saw_key": request.header("x-api-key")})

    with other.running() as other_url:
        other_origin = other_url.replace("127.0.0.1", "localhost")

        @fake.route("GET", "/moved")
        def moved(request: Request, _: dict[str, str]) -> Response:
            return Response(302, None, {"Location": f"{other_origin}/landing"})

        @fake.route("GET", "/here")
        def here(request: Request, _: dict[str, str]) -> Response:
            return Response(302, None, {"Location": "/items"})

        with client(fake, auth=ApiKeyAuth("X-API-Key", SECRET, "header")) as http:
            assert http.get_json("/moved") == {"saw_key": None}
            assert http.get_json("/here")["items"] == [1, 2]  # same origin: key kept
    assert fake.requests[-1].header("x-api-key") == SECRET


def test_url_encoded_secrets_are_masked_in_logs_and_messages(
    fake: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")  # other libraries may have raised it
    key = "abc+def/ghi=="
    with client(fake, auth=ApiKeyAuth("key", key, "query")) as http:
        assert http.get_json("/items")["key"] == key
        assert http.redact("/x?key=abc%2Bdef%2Fghi%3D%3D") == "/x?key=***"
    assert "abc%2Bdef%2Fghi%3D%3D" not in caplog.text and key not in caplog.text


def test_a_connection_dropped_mid_body_is_retried() -> None:
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    served: list[int] = []

    def serve() -> None:
        for attempt in range(2):
            conn, _ = listener.accept()
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            if attempt == 0:
                conn.sendall(head + b'40\r\n{"ok": tr')  # the chunk is cut short
            else:
                conn.sendall(head + b'9\r\n{"ok": 1}\r\n0\r\n\r\n')
            served.append(attempt)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    http = HttpClient(f"http://127.0.0.1:{port}", api="chunked", retry=FAST, timeout=(2, 2))
    assert http.get_json("/x") == {"ok": 1}
    assert served == [0, 1]
    listener.close()


def test_a_retry_after_beyond_the_limit_fails_at_once_saying_why(fake: FakeServer) -> None:
    fake.inject(Fault(429, times=1, retry_after="3600"))
    http = client(fake, retry=RetryPolicy(max_retry_after=60))
    with pytest.raises(RetriesExhaustedError, match="asks to wait 3600 s, more than max_retry"):
        http.get_json("/items")
    assert len(fake.requests) == 1


def test_a_429_is_retried_even_for_a_post_without_key(fake: FakeServer) -> None:
    fake.inject(Fault(429, times=1))
    fake.inject(Fault(503, times=1, retry_after="0"))
    with client(fake) as http:
        assert http.request("POST", "/items", json={"name": "a"}).status_code == 201
    assert len(fake.requests) == 3
    assert fake.created == [{"name": "a"}]  # type: ignore[attr-defined]


def test_403_is_not_refreshed(fake: FakeServer) -> None:
    auth = CountingRefresh()
    fake.inject(Fault(403, times=1))
    with pytest.raises(HttpAuthError) as caught:
        client(fake, auth=auth).get_json("/items")
    assert caught.value.status == 403
    assert auth.refreshed == 0
