"""A stateful, generic customer API for the `rest` connector's tests, conformance and bench.

One fake speaks every paging style (chosen by `paging`), every auth style (chosen by `auth`),
incremental reads by `updated_since` and by `If-Modified-Since`, single and batch writes with
idempotency keys, and can serve a large generated data set whose pages are computed on demand
(the bench reads 200k records without the fake ever holding them).

Records are kept sorted by (updated_at, id), as a well-behaved API sorts a change feed.
"""

from __future__ import annotations

import base64
import copy
import email.utils
import itertools
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from tests.fakes.server import FakeServer, Fault, Handler, Request, Response

PAGING_STYLES = ("page_number", "offset", "cursor", "next_url", "link_header", "none")
AUTH_STYLES = ("none", "api_key", "bearer", "basic", "oauth2")

API_KEY = "k-3f9a1c7e-api-key"
BEARER_TOKEN = "bt-8d2b6e0f-static-bearer"
BASIC_USER, BASIC_PASSWORD = "crm-sync", "pw-5c1e9a77-basic"
CLIENT_ID, CLIENT_SECRET = "crmhub-client", "cs-71aa04de-client-secret"
FIRST_REFRESH_TOKEN = "rt-0001-e3b0c442"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def iso(value: datetime) -> str:
    """The fake's timestamp format: ISO-8601 UTC with a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """ISO-8601, epoch seconds or epoch milliseconds, as the API accepts them."""
    text = text.strip()
    if text.isdigit():
        number = int(text)
        return datetime.fromtimestamp(number / 1000 if number > 10**11 else number, UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def customer(
    cid: str,
    first: str,
    last: str,
    email: str,
    updated_at: datetime,
    **extra: Any,
) -> dict[str, Any]:
    """One customer in the API's JSON shape (nested address, tags list, custom fields)."""
    return {
        "id": cid,
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": extra.pop("phone", None),
        "address": {
            "street": extra.pop("street", "1 Main St"),
            "city": extra.pop("city", "Berlin"),
            "postal_code": extra.pop("postal_code", "10115"),
            "country": extra.pop("country", "DE"),
        },
        "tags": extra.pop("tags", []),
        "custom": {"crmhub_id": extra.pop("crmhub_id", None)},
        "updated_at": iso(updated_at),
        **extra,
    }


class GeneratedCustomers(Sequence[dict[str, Any]]):
    """`size` customers computed from their index: one second apart, already sorted."""

    FIRST = ("Anna", "Ben", "Chloé", "David", "Eva", "Finn", "Greta", "Hugo", "Ida", "Jonas")
    LAST = ("Müller", "Schmidt", "Weber", "Meyer", "Wagner", "Becker", "García", "Rossi")

    def __init__(self, size: int, start: datetime = EPOCH) -> None:
        self.size, self.start = size, start

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._make(i) for i in range(*index.indices(self.size))]
        if not 0 <= index < self.size:
            raise IndexError(index)
        return self._make(index)

    def first_at_or_after(self, since: datetime) -> int:
        """Index of the first record with updated_at >= since."""
        seconds = (since - self.start).total_seconds()
        index = int(seconds) + (1 if seconds > int(seconds) else 0)
        return min(max(index, 0), self.size)

    def _make(self, i: int) -> dict[str, Any]:
        first, last = self.FIRST[i % 10], self.LAST[(i // 10) % 8]
        return customer(
            f"g{i:07d}",
            first,
            last,
            f"{first.lower()}.{i}@example.com",
            self.start + timedelta(seconds=i),
            phone=f"+49 30 {1_000_000 + i}",
            city=("Berlin", "Hamburg", "Köln")[i % 3],
            tags=["generated"],
        )


@dataclass
class _View:
    """The records a list request sees: a sorted sequence from `start` on."""

    rows: Sequence[dict[str, Any]]
    start: int

    def __len__(self) -> int:
        return max(len(self.rows) - self.start, 0)

    def page(self, offset: int, size: int) -> list[dict[str, Any]]:
        lo = self.start + offset
        return list(self.rows[lo : lo + size])


class RestApiFake:
    """The customer API; tests change its state directly and read its request log."""

    def __init__(
        self,
        *,
        paging: str = "page_number",
        auth: str = "api_key",
        default_page_size: int = 50,
        token_lifetime: int = 3600,
    ) -> None:
        self.server = FakeServer()
        self.paging = paging
        self.auth = auth
        self.default_page_size = default_page_size
        self.token_lifetime = token_lifetime
        self.honours_since = True
        """False: `updated_since` is ignored, as by an API whose filter is broken."""
        self.strict_since = False
        """True: filters return records changed strictly after the value (`>`, not `>=`)."""
        self.records: dict[str, dict[str, Any]] = {}
        self.generated: GeneratedCustomers | None = None
        self.idempotency: dict[str, Response] = {}
        self.writes: list[Request] = []
        self.refresh_tokens = {FIRST_REFRESH_TOKEN}
        self.access_tokens: dict[str, datetime] = {}
        self.token_grants: list[str] = []
        self._sorted: list[dict[str, Any]] | None = None
        self._lock = threading.RLock()
        self._counter = itertools.count(1)
        self._routes()

    # -- state --------------------------------------------------------------------------------
    def seed(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Replace every record (and drop generated ones)."""
        with self._lock:
            self.records = {}
            self.generated = None
            self.idempotency.clear()
            for record in records:
                self._store(dict(record))

    def upsert(self, record: Mapping[str, Any]) -> None:
        """Add or replace one record (its `updated_at` as given)."""
        with self._lock:
            self._store(dict(record))

    def generate(self, count: int) -> None:
        """Serve `count` generated customers instead of stored ones (for the bench)."""
        with self._lock:
            self.records = {}
            self.generated = GeneratedCustomers(count)
            self._sorted = None

    def add_field(self, name: str, value: Any) -> None:
        """Schema drift: every stored record gains a field."""
        with self._lock:
            for record in self.records.values():
                record[name] = copy.deepcopy(value)
            self._sorted = None

    def add_bad_row(self, updated_at: datetime) -> None:
        """A record without an id, as a broken API export would contain."""
        with self._lock:
            self._store({"first_name": "Broken", "updated_at": iso(updated_at)})

    def expire_tokens(self) -> None:
        """Every issued OAuth2 access token stops working now (the client must refresh)."""
        with self._lock:
            for token in self.access_tokens:
                self.access_tokens[token] = datetime.now(UTC) - timedelta(seconds=1)

    def inject(self, fault: Fault) -> None:
        """Queue a fault on the underlying server."""
        self.server.inject(fault)

    def start(self) -> str:
        """Serve; returns the base URL."""
        return self.server.start()

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()

    @property
    def url(self) -> str:
        """Base URL of the running fake."""
        return self.server.url

    @property
    def requests(self) -> list[Request]:
        """Every request the fake saw, in order."""
        return self.server.requests

    def list_requests(self) -> list[Request]:
        """The GET /customers calls only."""
        return [r for r in self.server.requests if r.method == "GET" and r.path == "/customers"]

    def _store(self, record: dict[str, Any]) -> None:
        key = str(record.get("id") or f"_bad{next(self._counter)}")
        self.records[key] = record
        self._sorted = None

    def _rows(self) -> Sequence[dict[str, Any]]:
        if self.generated is not None:
            return self.generated
        if self._sorted is None:
            self._sorted = sorted(
                self.records.values(),
                key=lambda r: (parse_time(r["updated_at"]), str(r.get("id", ""))),
            )
        return self._sorted

    # -- routes -------------------------------------------------------------------------------
    def _routes(self) -> None:
        route = self.server.route
        route("GET", "/customers")(self._guarded(self._list))
        route("GET", "/customers/{id}")(self._guarded(self._get))
        route("PATCH", "/customers/{id}")(self._guarded(self._patch))
        route("PUT", "/customers/{id}")(self._guarded(self._patch))
        route("POST", "/customers/batch")(self._guarded(self._batch))
        route("POST", "/oauth/token")(self._token)

    def _guarded(self, handler: Handler) -> Handler:
        def guarded(request: Request, params: dict[str, str]) -> Response:
            if not self._authorised(request):
                body = {"error": {"code": "unauthorized", "message": "invalid credentials"}}
                return Response(401, body, {"WWW-Authenticate": "Bearer"})
            with self._lock:
                return handler(request, params)

        return guarded

    def _authorised(self, request: Request) -> bool:
        header = request.header("authorization") or ""
        if self.auth == "none":
            return True
        if self.auth == "api_key":
            return API_KEY in (request.header("x-api-key"), request.param("api_key"))
        if self.auth == "bearer":
            return header == f"Bearer {BEARER_TOKEN}"
        if self.auth == "basic":
            return header == _basic(BASIC_USER, BASIC_PASSWORD)
        token = header.removeprefix("Bearer ")
        with self._lock:
            expires = self.access_tokens.get(token)
        return expires is not None and expires > datetime.now(UTC)

    def _list(self, request: Request, params: dict[str, str]) -> Response:
        since = self._since(request)
        rows = self._rows()
        view = _View(rows, self._first_index(rows, since, strict=self.strict_since))
        if since is not None and request.header("if-modified-since") and not len(view):
            return Response(304, None)
        pager = _PAGERS[self.paging]
        return pager(self, request, view)

    def _since(self, request: Request) -> datetime | None:
        if (value := request.param("updated_since")) is not None and self.honours_since:
            return parse_time(value)
        if (value := request.header("if-modified-since")) is not None:
            return email.utils.parsedate_to_datetime(value).astimezone(UTC)
        return None

    @staticmethod
    def _first_index(
        rows: Sequence[dict[str, Any]], since: datetime | None, *, strict: bool = False
    ) -> int:
        if since is None:
            return 0
        if isinstance(rows, GeneratedCustomers):
            return rows.first_at_or_after(since)
        for index, row in enumerate(rows):
            updated = parse_time(row["updated_at"])
            if updated > since or (updated == since and not strict):
                return index
        return len(rows)

    def _size(self, request: Request, name: str) -> int:
        return int(request.param(name) or self.default_page_size)

    def _get(self, request: Request, params: dict[str, str]) -> Response:
        record = self.records.get(params["id"])
        if record is None:
            return Response(404, {"error": {"code": "not_found"}})
        return Response(200, {"data": record})

    def _patch(self, request: Request, params: dict[str, str]) -> Response:
        key = request.header("idempotency-key")
        if key and key in self.idempotency:
            return self.idempotency[key]
        self.writes.append(request)
        response = self._apply(params["id"], request.body)
        if key and response.status < 500:
            self.idempotency[key] = response
        return response

    def _apply(self, cid: str, changes: Any) -> Response:
        record = self.records.get(cid)
        if record is None:
            return Response(404, {"error": {"code": "not_found"}})
        if not isinstance(changes, Mapping):
            return Response(400, {"error": {"code": "bad_body"}})
        email_value = changes.get("email")
        if email_value is not None and "@" not in str(email_value):
            return Response(422, {"error": {"code": "invalid_email", "field": "email"}})
        _merge(record, changes)
        record["updated_at"] = iso(max(datetime.now(UTC), parse_time(record["updated_at"])))
        self._sorted = None
        return Response(200, {"data": record})

    def _batch(self, request: Request, params: dict[str, str]) -> Response:
        key = request.header("idempotency-key")
        if key and key in self.idempotency:
            return self.idempotency[key]
        self.writes.append(request)
        body = request.body
        items = body.get("items") if isinstance(body, Mapping) else body
        if not isinstance(items, list):
            return Response(400, {"error": {"code": "bad_body"}})
        results = []
        for item in items:
            cid = str(item.get("id")) if isinstance(item, Mapping) else ""
            changes = {k: v for k, v in item.items() if k != "id"} if cid else None
            outcome = self._apply(cid, changes)
            code = outcome.body.get("error", {}).get("code") if outcome.status >= 400 else None
            results.append({"id": cid, "status": outcome.status, "code": code})
        response = Response(200, {"results": results})
        if key:
            self.idempotency[key] = response
        return response

    def _token(self, request: Request, params: dict[str, str]) -> Response:
        form = request.body if isinstance(request.body, Mapping) else {}
        if (request.header("authorization") or "") != _basic(CLIENT_ID, CLIENT_SECRET):
            return Response(401, {"error": "invalid_client"})
        grant = form.get("grant_type")
        with self._lock:
            self.token_grants.append(str(grant))
            body: dict[str, Any] = {"token_type": "Bearer", "expires_in": self.token_lifetime}
            if grant == "refresh_token":
                if form.get("refresh_token") not in self.refresh_tokens:
                    return Response(400, {"error": "invalid_grant"})
                self.refresh_tokens.discard(form["refresh_token"])
                rotated = f"rt-{next(self._counter):04d}-rotated"
                self.refresh_tokens.add(rotated)
                body["refresh_token"] = rotated
            elif grant != "client_credentials":
                return Response(400, {"error": "unsupported_grant_type"})
            token = f"at-{next(self._counter):05d}-access"
            self.access_tokens[token] = datetime.now(UTC) + timedelta(seconds=self.token_lifetime)
        body["access_token"] = token
        return Response(200, body)


# -- paging styles ------------------------------------------------------------------------------
def _envelope(items: list[dict[str, Any]], **extra: Any) -> bytes:
    return _json({"data": {"items": items}, **extra})


def _json(body: Any) -> bytes:
    """Pages are encoded with orjson: the bench should time the connector, not the fake."""
    return orjson.dumps(body)


def _page_number(fake: RestApiFake, request: Request, view: _View) -> Response:
    size, page = fake._size(request, "per_page"), int(request.param("page") or 1)
    total_pages = max(-(-len(view) // size), 1)
    meta = {"page": page, "per_page": size, "total_pages": total_pages, "total": len(view)}
    return Response(200, _envelope(view.page((page - 1) * size, size), meta=meta))


def _offset(fake: RestApiFake, request: Request, view: _View) -> Response:
    size, offset = fake._size(request, "limit"), int(request.param("offset") or 0)
    meta = {"offset": offset, "limit": size, "total": len(view)}
    return Response(200, _envelope(view.page(offset, size), meta=meta))


def _cursor(fake: RestApiFake, request: Request, view: _View) -> Response:
    size = fake._size(request, "limit")
    token = request.param("cursor")
    offset = int(base64.urlsafe_b64decode(token).decode().removeprefix("o:")) if token else 0
    items = view.page(offset, size)
    following = offset + len(items)
    cursor = base64.urlsafe_b64encode(f"o:{following}".encode()).decode()
    meta = {"next_cursor": cursor if following < len(view) else None}
    return Response(200, _envelope(items, meta=meta))


def _next_url(fake: RestApiFake, request: Request, view: _View) -> Response:
    size, offset = fake._size(request, "limit"), int(request.param("after") or 0)
    items = view.page(offset, size)
    following = offset + len(items)
    links = {"next": _link(fake, request, after=following) if following < len(view) else None}
    return Response(200, _envelope(items, links=links))


def _link_header(fake: RestApiFake, request: Request, view: _View) -> Response:
    size, page = fake._size(request, "limit"), int(request.param("page") or 1)
    items = view.page((page - 1) * size, size)
    headers = {}
    if page * size < len(view):
        headers["Link"] = (
            f'<{_link(fake, request, page=page + 1)}>; rel="next", '
            f'<{_link(fake, request, page=1)}>; rel="first"'
        )
    return Response(200, _json(items), headers)


def _single(fake: RestApiFake, request: Request, view: _View) -> Response:
    return Response(200, _json(view.page(0, len(view))))


_PAGERS = {
    "page_number": _page_number,
    "offset": _offset,
    "cursor": _cursor,
    "next_url": _next_url,
    "link_header": _link_header,
    "none": _single,
}


def _link(fake: RestApiFake, request: Request, **changes: Any) -> str:
    query = {k: v[0] for k, v in request.query.items()}
    query.update({k: str(v) for k, v in changes.items()})
    return f"{fake.url}{request.path}?{urlencode(query)}"


def _merge(target: dict[str, Any], changes: Mapping[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def iter_ids(fake: RestApiFake) -> Iterator[str]:
    """Ids of the stored records, in the API's order."""
    return (str(r.get("id")) for r in fake._rows())
