"""A small threaded HTTP server that vendor fakes build on: routing, JSON, injected faults.

A fake holds its vendor's state in Python objects; tests change that state directly (seed rows,
set timestamps) and drive the connector over real HTTP. Faults are queued per test: the next N
requests get a 429 with Retry-After, a 503 or a 401 before the fake answers normally again, and
every request is logged with its arrival time so a test can show that Retry-After was honoured.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from crmhub.testing.target import Fault

__all__ = ["FakeServer", "Fault", "Request", "Response"]


@dataclass(frozen=True)
class Request:
    """What the fake saw: method, path, query, headers, parsed body and when it arrived."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    at: float

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header, case-insensitively."""
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    """What a route returns; `body` is JSON-encoded unless it is bytes or str."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


Handler = Callable[[Request, dict[str, str]], Response]


class FakeServer:
    """Routes `(method, path pattern)` to handlers; `{name}` in a pattern captures a segment."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: deque[list[Any]] = deque()
        self._lock = threading.Lock()
        self.requests: list[Request] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up -----------------------------------------------------------------------------
    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """Decorator: register `handler(request, path_params)` for `method pattern`."""
        regex = re.compile(
            "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern)) + "$"
        )

        def register(handler: Handler) -> Handler:
            self._routes.append((method.upper(), regex, handler))
            return handler

        return register

    def inject(self, fault: Fault) -> None:
        """Queue `fault`; faults are served in the order they were queued."""
        with self._lock:
            self._faults.append([fault, fault.times])

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    # -- running ----------------------------------------------------------------------------
    def start(self) -> str:
        """Serve on a free port of 127.0.0.1 in a daemon thread; returns the base URL."""
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes

            def _serve(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321."""
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @contextmanager
    def running(self) -> Iterator[str]:
        """`with fake.running() as url:` serve for the block's duration."""
        url = self.start()
        try:
            yield url
        finally:
            self.stop()

    # -- dispatch ---------------------------------------------------------------------------
    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        request = Request(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=_parse_body(raw, handler.headers.get("Content-Type", "")),
            raw_body=raw,
            at=time.monotonic(),
        )
        with self._lock:
            self.requests.append(request)
        response = self._next_fault(request) or self._route(request)
        self._send(handler, response)

    def _next_fault(self, request: Request) -> Response | None:
        with self._lock:
            for entry in self._faults:
                fault, left = entry
                if left > 0 and request.path.startswith(fault.path_prefix):
                    entry[1] -= 1
                    if entry[1] == 0:
                        self._faults.remove(entry)
                    headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                    body = fault.body if fault.body is not None else {"error": fault.status}
                    return Response(fault.status, body, headers)
        return None

    def _route(self, request: Request) -> Response:
        allowed = False
        for method, regex, handler in self._routes:
            match = regex.match(request.path)
            if match:
                allowed = True
                if method == request.method:
                    try:
                        return handler(request, match.groupdict())
                    except Exception as exc:  # a fake's bug must show in the test, not hang it
                        return Response(500, {"fake_error": f"{type(exc).__name__}: {exc}"})
        return Response(405 if allowed else 404, {"error": "no such route"})

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, response: Response) -> None:
        body = response.body
        if body is None:
            payload = b""
        elif isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = json.dumps(body, default=str).encode()
        handler.send_response(response.status)
        if payload:
            handler.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if payload and handler.command != "HEAD":
            handler.wfile.write(payload)


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "json" in content_type:
        return json.loads(raw)
    if "x-www-form-urlencoded" in content_type:
        return {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    return raw.decode("utf-8", "replace")
