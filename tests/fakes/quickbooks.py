"""A stateful fake of QuickBooks Online Accounting v3 Customers, checked against Intuit's XSD.

It speaks the wire format of the real API: the SQL-like query endpoint (the subset the connector
sends), change data capture, sparse updates and `/batch` with SyncToken checks, `requestid`
replay, Intuit's token endpoint that rotates refresh tokens, and QBO's `Fault` bodies. Every
Customer it serves, every answer's envelope (as `IntuitResponse`) and every body it receives
(as `Customer` or `IntuitBatchRequest`) is validated with the official XSD (`qbo_xsd`); a bad
body is answered 400 like the vendor would, and every violation is kept in `violations` so
tests can assert there were none. Tests change its state directly (`add`, `update`, `delete`,
`expire_access_tokens`, `revoke`, `drift`, `before_post`, `lose_answers`, `cdc_limit`).
"""

from __future__ import annotations

import base64
import itertools
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from copy import deepcopy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from tests.fakes import qbo_xsd
from tests.fakes.server import FakeServer, Request, Response

REALM_ID = "9341452512345678"
CLIENT_ID = "ABqbo-client-id"
CLIENT_SECRET = "qbo-client-secret-s3cr3t"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
CDC_DAYS = 30
BATCH_MAX = 30
LOCAL_TZ = timezone(timedelta(hours=-8))
"""QBO writes times in the company's time zone; the connector must normalise them."""


class QueryError(ValueError):
    """The fake cannot parse a query (QBO answers 400 with code 4000)."""


class QuickBooksFake:
    """One QBO company (realm) with customers, OAuth2 tokens and the routes the connector uses."""

    def __init__(self, *, realm_id: str = REALM_ID, refresh_token: str | None = None) -> None:
        self.realm_id = realm_id
        self.server = FakeServer()
        self.customers: dict[str, dict[str, Any]] = {}
        self.tombstones: dict[str, datetime] = {}
        self.raw_rows: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.refresh_token = refresh_token or f"rt-{secrets.token_hex(8)}"
        self.access_tokens: set[str] = set()
        self.spent_secrets: list[str] = []
        self.token_calls = 0
        self.updates: list[dict[str, Any]] = []
        self.batches: list[int] = []
        """Item count of every batch call applied."""
        self.replays = 0
        self.cdc_limit = 1000
        self.drift: dict[str, Any] = {}
        self.unvalidated_drift: set[str] = set()
        self.before_post: Callable[[], None] | None = None
        """Runs before a POST is applied (a test changes the customer as another user)."""
        self.lose_answers = 0
        """The next N applied POSTs answer 503 (their answer lost), as a flaky network would."""
        self._requestids: dict[str, Response] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._routes()

    # -- state used by tests -----------------------------------------------------------------
    def reset(self) -> None:
        """Forget every customer, update and violation (tokens stay valid)."""
        with self._lock:
            self.customers.clear()
            self.tombstones.clear()
            self.raw_rows.clear()
            self.violations.clear()
            self.updates.clear()
            self.batches.clear()
            self._requestids.clear()
            self.drift = {}
            self.unvalidated_drift = set()
            self.before_post = None
            self.lose_answers = 0
            self.replays = 0
            self.cdc_limit = 1000
            self.server.requests.clear()
            self.server.clear_faults()

    def add(self, updated_at: datetime | None = None, **fields: Any) -> str:
        """Create a customer from QBO JSON fields; returns its Id."""
        with self._lock:
            cid = str(next(self._ids))
            when = _whole(updated_at or datetime.now(UTC))
            fields.setdefault("DisplayName", _display_name(fields, cid))
            self.customers[cid] = {
                "domain": "QBO",
                "sparse": False,
                "Id": cid,
                "SyncToken": "0",
                "Active": True,
                "Balance": 0,
                **fields,
                "MetaData": {"CreateTime": _qbo_time(when), "LastUpdatedTime": _qbo_time(when)},
            }
            return cid

    def update(self, cid: str, updated_at: datetime | None = None, **fields: Any) -> None:
        """Change a customer as another QBO user would: new SyncToken and LastUpdatedTime."""
        with self._lock:
            entity = self.customers[cid]
            entity.update(fields)
            self._touch(entity, updated_at)

    def delete(self, cid: str, at: datetime | None = None) -> None:
        """Remove a customer; CDC reports it with status Deleted."""
        with self._lock:
            self.customers.pop(cid)
            self.tombstones[cid] = _whole(at or datetime.now(UTC))

    def expire_access_tokens(self) -> None:
        """Every issued access token stops working (the next call gets a 401)."""
        with self._lock:
            self.spent_secrets += sorted(self.access_tokens)
            self.access_tokens.clear()

    def revoke(self) -> None:
        """The app was disconnected: tokens and the refresh token are refused."""
        with self._lock:
            self.expire_access_tokens()
            self.spent_secrets.append(self.refresh_token)
            self.refresh_token = f"revoked-{secrets.token_hex(8)}"

    def issue_access_token(self) -> str:
        """A valid access token (for tests that bypass the token endpoint)."""
        with self._lock:
            token = f"at-{secrets.token_hex(12)}"
            self.access_tokens.add(token)
            return token

    def secrets(self) -> list[str]:
        """Every token and secret the fake ever handed out or accepted."""
        with self._lock:
            return [CLIENT_SECRET, self.refresh_token, *self.access_tokens, *self.spent_secrets]

    def calls(self, suffix: str, method: str = "GET") -> list[Request]:
        """The requests whose path ends with `suffix` (e.g. "/query", "/cdc", "/customer")."""
        return [r for r in self.server.requests if r.method == method and r.path.endswith(suffix)]

    @property
    def base(self) -> str:
        """API path prefix of this company."""
        return f"/v3/company/{self.realm_id}"

    # -- routes ------------------------------------------------------------------------------
    def _routes(self) -> None:
        route = self.server.route
        route("POST", TOKEN_PATH)(self._token)
        route("GET", "/v3/company/{realm}/query")(self._authed(self._query))
        route("GET", "/v3/company/{realm}/cdc")(self._authed(self._cdc))
        route("POST", "/v3/company/{realm}/customer")(self._authed(self._post_customer))
        route("POST", "/v3/company/{realm}/batch")(self._authed(self._post_batch))

    def _authed(self, handler: Any) -> Any:
        def serve(request: Request, params: dict[str, str]) -> Response:
            auth = request.header("authorization") or ""
            with self._lock:
                known = auth.startswith("Bearer ") and auth[7:] in self.access_tokens
            if not known:
                return _auth_fault()
            if params["realm"] != self.realm_id:
                return fault(403, "5020", "Permission Denied Error", "realm", kind="SERVICE")
            self._check_common(request)
            with self._lock:
                response = handler(request)
                self._check_envelope(request, response)
                return response

        return serve

    def _check_envelope(self, request: Request, response: Response) -> None:
        """The answer's envelope (entities stubbed; `_serve` checks those) against the XSD."""
        if isinstance(response.body, dict) and response.status in (200, 400):
            problems = qbo_xsd.violations("IntuitResponse", _stub_entities(response.body))
            self.violations += [f"{request.path} answer: {p}" for p in problems]

    def _check_common(self, request: Request) -> None:
        if "application/json" not in (request.header("accept") or ""):
            self.violations.append(f"{request.path}: Accept is not application/json")
        version = request.param("minorversion")
        if not (version and version.isdigit() and int(version) >= 75):
            self.violations.append(f"{request.path}: minorversion missing or below 75")

    def _token(self, request: Request, _: dict[str, str]) -> Response:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        form = request.body if isinstance(request.body, dict) else {}
        with self._lock:
            self.token_calls += 1
            if request.header("authorization") != f"Basic {expected}":
                return Response(401, {"error": "invalid_client"})
            if form.get("grant_type") != "refresh_token":
                return Response(400, {"error": "unsupported_grant_type"})
            if form.get("refresh_token") != self.refresh_token:
                return Response(400, {"error": "invalid_grant"})
            self.spent_secrets.append(self.refresh_token)
            self.refresh_token = f"rt-{secrets.token_hex(8)}"
            body = {
                "token_type": "bearer",
                "access_token": self.issue_access_token(),
                "expires_in": 3600,
                "refresh_token": self.refresh_token,
                "x_refresh_token_expires_in": 8726400,
            }
        return Response(200, body)

    def _query(self, request: Request) -> Response:
        try:
            query = parse_query(request.param("query") or "")
        except QueryError as exc:
            return fault(400, "4000", "Error parsing query", str(exc))
        rows = [e for e in self._all_rows() if query.matches(e)]
        rows.sort(key=_updated_key if query.order_by else _id_key, reverse=query.descending)
        page = rows[query.start - 1 : query.start - 1 + query.max_results]
        served = [self._serve(e) for e in page]
        response: dict[str, Any] = {"startPosition": query.start, "maxResults": len(served)}
        if served:
            response["Customer"] = served
        else:
            response = {}
        return Response(200, {"QueryResponse": response, "time": _qbo_time(_now())})

    def _cdc(self, request: Request) -> Response:
        if request.param("entities") != "Customer":
            self.violations.append(f"cdc: entities={request.param('entities')!r}")
        since = _parse_time(request.param("changedSince") or "")
        if since is None:
            return fault(400, "2010", "Invalid changedSince", "changedSince is not a date-time")
        if since < _now() - timedelta(days=CDC_DAYS):
            self.violations.append("cdc: changedSince older than 30 days")
            return fault(400, "2010", "Request has invalid or unsupported property", "30 days")
        changed = [e for e in self._all_rows() if (_updated(e) or since) >= since]
        changed.sort(key=_updated_key)
        served = [self._serve(e) for e in changed[: self.cdc_limit]]
        served += [
            {"domain": "QBO", "status": "Deleted", "Id": cid, "MetaData": _meta(at)}
            for cid, at in sorted(self.tombstones.items())
            if at >= since
        ]
        body = {
            "CDCResponse": [{"QueryResponse": [{"Customer": served, "startPosition": 1}]}],
            "time": _qbo_time(_now()),
        }
        return Response(200, body)

    def _post_customer(self, request: Request) -> Response:
        return self._once_per_requestid(request, self._apply)

    def _post_batch(self, request: Request) -> Response:
        return self._once_per_requestid(request, self._apply_batch)

    def _once_per_requestid(self, request: Request, apply: Callable[[Any], Response]) -> Response:
        """Apply a POST body once per `requestid`; a repeat gets the first answer again."""
        requestid = request.param("requestid")
        if requestid and requestid in self._requestids:
            self.replays += 1
            return self._requestids[requestid]
        if self.before_post is not None:
            self.before_post()
        response = apply(request.body)
        if requestid:
            self._requestids[requestid] = response
        if self.lose_answers > 0:
            self.lose_answers -= 1
            return Response(503, {"error": "answer lost"})
        return response

    def _apply_batch(self, body: Any) -> Response:
        problems = qbo_xsd.violations("IntuitBatchRequest", body)
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        if not problems and not (isinstance(items, list) and 0 < len(items) <= BATCH_MAX):
            problems = [f"BatchItemRequest must hold 1..{BATCH_MAX} items"]
        if problems:
            self.violations += [f"batch body: {p}" for p in problems]
            return fault(400, "2010", "Request has invalid or unsupported property", problems[0])
        self.batches.append(len(items))
        answers = []
        for item in items:
            answer = self._apply(item.get("Customer"))
            key = "Customer" if answer.status == 200 else "Fault"
            answers.append({"bId": item.get("bId"), key: answer.body[key]})
        return Response(200, {"BatchItemResponse": answers, "time": _qbo_time(_now())})

    def _apply(self, body: Any) -> Response:
        problems = qbo_xsd.violations("Customer", body)
        if problems:
            self.violations += [f"request body: {p}" for p in problems]
            return fault(400, "2010", "Request has invalid or unsupported property", problems[0])
        self.updates.append(deepcopy(body))
        if "Id" not in body:
            return self._create(body)
        entity = self.customers.get(str(body["Id"]))
        if entity is None:
            return fault(400, "610", "Object Not Found", f"Customer {body['Id']}")
        if str(body.get("SyncToken")) != entity["SyncToken"]:
            return fault(400, "5010", "Stale Object Error", "You and another user were working")
        changes = {k: v for k, v in body.items() if k not in ("Id", "SyncToken", "sparse")}
        duplicate = self._duplicate(changes, entity["Id"])
        if duplicate:
            return duplicate
        if not body.get("sparse"):
            keep = ("domain", "sparse", "Id", "SyncToken", "MetaData", "Balance")
            for key in [k for k in entity if k not in keep]:
                entity.pop(key)
        entity.update(changes)
        self._touch(entity, None)
        return Response(200, {"Customer": self._serve(entity), "time": _qbo_time(_now())})

    def _create(self, body: dict[str, Any]) -> Response:
        duplicate = self._duplicate(body, None)
        if duplicate:
            return duplicate
        fields = {k: v for k, v in body.items() if k != "sparse"}
        cid = self.add(**fields)
        return Response(
            200, {"Customer": self._serve(self.customers[cid]), "time": _qbo_time(_now())}
        )

    def _duplicate(self, changes: Mapping[str, Any], cid: str | None) -> Response | None:
        name = changes.get("DisplayName")
        for other in self.customers.values():
            if name and other["Id"] != cid and other.get("DisplayName") == name:
                return fault(400, "6240", "Duplicate Name Exists Error", f"Id={other['Id']}")
        return None

    # -- helpers -----------------------------------------------------------------------------
    def _all_rows(self) -> list[dict[str, Any]]:
        return [*self.customers.values(), *self.raw_rows]

    def _serve(self, entity: dict[str, Any]) -> dict[str, Any]:
        """A copy of `entity` with drift fields added, validated against the XSD."""
        if any(entity is raw for raw in self.raw_rows):
            return deepcopy(entity)
        served = {**deepcopy(entity), **deepcopy(self.drift)}
        checked = {k: v for k, v in served.items() if k not in self.unvalidated_drift}
        self.violations += [
            f"served Customer: {p}" for p in qbo_xsd.violations("Customer", checked)
        ]
        return served

    def _touch(self, entity: dict[str, Any], updated_at: datetime | None) -> None:
        entity["SyncToken"] = str(int(entity["SyncToken"]) + 1)
        when = _whole(updated_at or datetime.now(UTC))
        entity["MetaData"] = {**entity["MetaData"], "LastUpdatedTime": _qbo_time(when)}


# -- the query language subset --------------------------------------------------------------
_QUERY = re.compile(
    r"^\s*select\s+\*\s+from\s+Customer"
    r"(?:\s+where\s+(?P<where>.+?))?"
    r"(?:\s+orderby\s+(?P<order>[\w.]+)(?:\s+(?P<dir>asc|desc))?)?"
    r"(?:\s+startposition\s+(?P<start>\d+))?"
    r"(?:\s+maxresults\s+(?P<max>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(
    r"^\s*(?P<field>[\w.]+)\s*(?:(?P<op>>=|<=|=|<|>)\s*(?P<value>'[^']*'|true|false)"
    r"|\s+in\s*\((?P<items>[^)]*)\))\s*$",
    re.IGNORECASE,
)
_FIELDS = {"id": "Id", "active": "Active", "metadata.lastupdatedtime": "LastUpdatedTime"}


class Query:
    """A parsed `select * from Customer ...` with the conditions the fake understands."""

    def __init__(self, conditions: list[tuple[str, str, Any]], match: re.Match[str]) -> None:
        self.conditions = conditions
        order = (match["order"] or "").lower()
        if order and order != "metadata.lastupdatedtime":
            raise QueryError(f"cannot order by {match['order']}")
        self.order_by = bool(order)
        self.descending = (match["dir"] or "").lower() == "desc"
        self.start = int(match["start"] or 1)
        self.max_results = int(match["max"] or 100)
        if not 1 <= self.max_results <= 1000 or self.start < 1:
            raise QueryError("MAXRESULTS must be 1..1000 and STARTPOSITION at least 1")

    def matches(self, entity: Mapping[str, Any]) -> bool:
        """Whether `entity` passes every condition (only active customers unless asked)."""
        if not any(field == "Active" for field, _, _ in self.conditions) and not entity.get(
            "Active", True
        ):
            return False
        return all(_test(entity, c) for c in self.conditions)


def parse_query(text: str) -> Query:
    """Parse the query subset: AND-ed conditions, ORDERBY, STARTPOSITION, MAXRESULTS."""
    match = _QUERY.match(text)
    if match is None:
        raise QueryError(f"unsupported query: {text[:80]}")
    conditions = []
    for part in re.split(r"\s+and\s+", match["where"] or "", flags=re.IGNORECASE):
        if not part.strip():
            continue
        cond = _CONDITION.match(part)
        if cond is None or cond["field"].lower() not in _FIELDS:
            raise QueryError(f"unsupported condition: {part.strip()[:60]}")
        field = _FIELDS[cond["field"].lower()]
        if cond["items"] is not None:
            values = [_literal(field, v) for v in cond["items"].split(",")]
            conditions.append((field, "in", values))
        else:
            conditions.append((field, cond["op"], _literal(field, cond["value"])))
    return Query(conditions, match)


def _literal(field: str, token: str) -> Any:
    token = token.strip()
    if field == "Active":
        if token.lower() not in ("true", "false"):
            raise QueryError(f"not a boolean: {token}")
        return token.lower() == "true"
    if not (token.startswith("'") and token.endswith("'")):
        raise QueryError(f"{field} needs a quoted value")
    value = token[1:-1]
    if field == "LastUpdatedTime":
        parsed = _parse_time(value)
        if parsed is None:
            raise QueryError(f"not a date-time: {value}")
        return parsed
    return value


def _test(entity: Mapping[str, Any], condition: tuple[str, str, Any]) -> bool:
    field, op, expected = condition
    if field == "LastUpdatedTime":
        actual: Any = _updated(entity)
    else:
        actual = entity.get(field, True if field == "Active" else None)
    if actual is None:
        return False
    if op == "in":
        return actual in expected
    return {
        "=": actual == expected,
        ">=": actual >= expected,
        "<=": actual <= expected,
        ">": actual > expected,
        "<": actual < expected,
    }[op]


# -- shared helpers -----------------------------------------------------------------------------
def fault(
    status: int, code: str, message: str, detail: str, kind: str = "ValidationFault"
) -> Response:
    """A QBO `Fault` body as the API sends it for 4xx errors."""
    error = {"Message": message, "Detail": detail, "code": code, "element": ""}
    return Response(status, {"Fault": {"Error": [error], "type": kind}, "time": _qbo_time(_now())})


def _auth_fault() -> Response:
    """QBO's 401 body (lower-case keys, unlike its other faults)."""
    error = {
        "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        "detail": "Token expired",
        "code": "3200",
    }
    return Response(401, {"fault": {"error": [error], "type": "AUTHENTICATION"}})


def _stub_entities(body: Any) -> Any:
    """`body` with every Customer replaced by a minimal valid one (entities are checked alone)."""
    if isinstance(body, list):
        return [_stub_entities(item) for item in body]
    if not isinstance(body, dict):
        return body
    stub = {"Id": "0"}
    return {
        key: ([stub] * len(value) if isinstance(value, list) else stub)
        if key == "Customer"
        else _stub_entities(value)
        for key, value in body.items()
    }


def _now() -> datetime:
    return datetime.now(UTC)


def _whole(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(microsecond=0)


def _qbo_time(when: datetime) -> str:
    return when.astimezone(LOCAL_TZ).isoformat()


def _meta(when: datetime) -> dict[str, str]:
    return {"CreateTime": _qbo_time(when), "LastUpdatedTime": _qbo_time(when)}


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=LOCAL_TZ)


def _updated(entity: Mapping[str, Any]) -> datetime | None:
    meta = entity.get("MetaData") or {}
    return _parse_time(str(meta.get("LastUpdatedTime", "")))


def _updated_key(entity: Mapping[str, Any]) -> tuple[datetime, int]:
    return (_updated(entity) or datetime.min.replace(tzinfo=UTC), *_id_key(entity))


def _id_key(entity: Mapping[str, Any]) -> tuple[int]:
    cid = str(entity.get("Id", ""))
    return (int(cid) if cid.isdigit() else 0,)


def _display_name(fields: Mapping[str, Any], cid: str) -> str:
    parts: Iterable[Any] = (fields.get("GivenName"), fields.get("FamilyName"))
    return " ".join(str(p) for p in parts if p) or f"Customer {cid}"
