"""A stateful fake of HubSpot CRM v3 (contacts and companies) for connector tests.

It answers the calls the `hubspot` connector makes with HubSpot's documented shapes (checked
against the models of `hubspot-api-client` in the tests): list pages with `paging.next.after`,
search with a GTE filter, one sort and HubSpot's cap on results per query, batch read, and
batch update/upsert with per-row errors in a 207 Multi-Status answer. Tests change the state
directly (`add`, `update`, `now`) and inject faults: throttling with HubSpot's rate-limit
headers, 5xx, 401, a row HubSpot would never send, a property nobody asked for.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.server import FakeServer, Fault, Request, Response

MODIFIED_PROPERTY = {"contacts": "lastmodifieddate", "companies": "hs_lastmodifieddate"}
"""The property HubSpot sets on every change, per object type."""

KNOWN_PROPERTIES = {
    "contacts": {
        "firstname", "lastname", "email", "phone", "mobilephone", "address", "city", "zip",
        "country", "company", "lastmodifieddate", "hs_object_id", "createdate", "crmhub_id",
        "jobtitle", "website",
    },
    "companies": {
        "name", "domain", "phone", "address", "city", "zip", "country", "hs_lastmodifieddate",
        "hs_object_id", "createdate", "crmhub_id", "industry",
    },
}  # fmt: skip
"""Properties of each object type's schema; writing any other one is a validation error."""

UNIQUE_PROPERTIES = {"contacts": {"email", "crmhub_id"}, "companies": {"crmhub_id"}}
"""Default unique properties per object type (upsert `idProperty` must be one)."""

READ_ONLY = {"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"}


def hubspot_time(moment: datetime) -> str:
    """HubSpot's timestamp text: UTC, milliseconds, `Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, as HubSpot's search filters take dates."""
    return int(moment.timestamp() * 1000)


@dataclass
class StoredObject:
    """One CRM object as the fake keeps it."""

    id: str
    properties: dict[str, str | None]
    created: datetime
    modified: datetime
    archived: bool = False
    broken: bool = False
    """A record HubSpot would never send (an unreadable modified date), to test rejection."""

    def to_json(self, object_type: str, wanted: Iterable[str] | None, drift: Mapping[str, str]):
        """The object as HubSpot's JSON (SimplePublicObject)."""
        props = dict(self.properties)
        modified_name = MODIFIED_PROPERTY[object_type]
        props["hs_object_id"] = self.id
        props["createdate"] = hubspot_time(self.created)
        props[modified_name] = "yesterday-ish" if self.broken else hubspot_time(self.modified)
        if wanted is None:
            shown = {k: props.get(k) for k in ("createdate", modified_name, "hs_object_id")}
        else:
            known = KNOWN_PROPERTIES[object_type]
            shown = {k: props.get(k) for k in wanted if k in known}
        shown.update(drift)
        return {
            "id": self.id,
            "properties": shown,
            "createdAt": hubspot_time(self.created),
            "updatedAt": hubspot_time(self.modified),
            "archived": self.archived,
        }


@dataclass
class RateLimit:
    """Throttle the next `times` requests as HubSpot does (429 with its rate-limit headers)."""

    times: int
    interval_ms: int = 1000
    retry_after: str | None = None
    policy: str = "TEN_SECONDLY_ROLLING"


@dataclass
class HubSpotFake:
    """HubSpot CRM v3 for `contacts` and `companies`, on a `FakeServer`.

    Args:
        tokens: bearer tokens the fake accepts (a private-app token or an OAuth access token).
        search_cap: most results one search query can page through (HubSpot: 10,000).
        whole_batch_errors: answer a batch with one invalid row with 400 for the whole batch
            (what HubSpot does for many validation errors) instead of a 207 naming the row.
    """

    tokens: set[str] = field(default_factory=lambda: {"pat-na1-fake-token-0001"})
    search_cap: int = 10_000
    whole_batch_errors: bool = False
    drift: dict[str, str] = field(default_factory=dict)
    """Extra properties every answer carries, as if HubSpot added a property (schema drift)."""
    oauth_clients: dict[str, str] = field(default_factory=dict)
    """client_id -> client_secret accepted by the token endpoint."""
    refresh_tokens: set[str] = field(default_factory=set)
    unique_properties: dict[str, set[str]] = field(
        default_factory=lambda: {k: set(v) for k, v in UNIQUE_PROPERTIES.items()}
    )
    """Properties with "Require unique values" on, per object type."""
    missing_scopes: set[str] = field(default_factory=set)
    """Object types the token may not read or write (403 MISSING_SCOPES)."""
    schema_scope_missing: bool = False
    """Answer the properties API with 403, as for a token without crm.schemas.*.read."""
    server: FakeServer = field(default_factory=FakeServer)
    objects: dict[str, dict[str, StoredObject]] = field(
        default_factory=lambda: {"contacts": {}, "companies": {}}
    )

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._ids = itertools.count(1001)
        self._clock = datetime(2024, 1, 1, tzinfo=UTC)
        self._rate_limits: list[RateLimit] = []
        self._register_routes()

    # -- state ------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The fake's clock: real time, strictly increasing by at least 1 ms per change."""
        with self._lock:
            self._clock = max(datetime.now(UTC), self._clock + timedelta(milliseconds=1))
            return self._clock

    def reset(self) -> None:
        """Forget every object, fault and throttle (not the request log)."""
        with self._lock:
            for store in self.objects.values():
                store.clear()
            self._rate_limits.clear()
            self.server.clear_faults()
            self.drift.clear()

    def add(
        self,
        object_type: str,
        properties: Mapping[str, str | None],
        *,
        modified: datetime | None = None,
        object_id: str | None = None,
    ) -> str:
        """Create (or replace) an object; returns its id."""
        with self._lock:
            moment = modified or self.now()
            oid = object_id or str(next(self._ids))
            self.objects[object_type][oid] = StoredObject(
                oid, {k: v for k, v in properties.items() if k not in READ_ONLY}, moment, moment
            )
            return oid

    def update(
        self,
        object_type: str,
        object_id: str,
        properties: Mapping[str, str | None],
        *,
        modified: datetime | None = None,
    ) -> None:
        """Change an object's properties and its modified time."""
        with self._lock:
            obj = self.objects[object_type][object_id]
            obj.properties.update({k: v for k, v in properties.items() if k not in READ_ONLY})
            obj.modified = modified or self.now()

    def add_broken(self, object_type: str = "contacts") -> str:
        """An object whose modified date is not a date, which the connector must reject."""
        oid = self.add(object_type, {"email": "broken@example.com"})
        self.objects[object_type][oid].broken = True
        return oid

    def get(self, object_type: str, object_id: str) -> dict[str, str | None]:
        """The stored properties of one object."""
        return dict(self.objects[object_type][object_id].properties)

    def rate_limit(self, limit: RateLimit) -> None:
        """Throttle the next requests with HubSpot's 429 answer."""
        with self._lock:
            self._rate_limits.append(limit)

    def inject(self, fault: Fault) -> None:
        """Queue a generic fault (see `FakeServer.inject`)."""
        self.server.inject(fault)

    @property
    def requests(self) -> list[Request]:
        """Every request the fake saw, in order."""
        return self.server.requests

    def requests_to(self, method: str, suffix: str) -> list[Request]:
        """Requests with `method` whose path ends with `suffix`."""
        return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    # -- running ----------------------------------------------------------------------------
    def start(self) -> str:
        """Serve on 127.0.0.1; returns the base URL."""
        return self.server.start()

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()

    @contextmanager
    def running(self) -> Iterator[str]:
        """`with fake.running() as url:`."""
        with self.server.running() as url:
            yield url

    # -- routes -----------------------------------------------------------------------------
    def _register_routes(self) -> None:
        base = "/crm/v3/objects/{object_type}"
        routes = [
            ("GET", base, self._list),
            ("POST", base + "/search", self._search),
            ("POST", base + "/batch/read", self._batch_read),
            ("POST", base + "/batch/update", self._batch_update),
            ("POST", base + "/batch/upsert", self._batch_upsert),
        ]
        routes.append(("GET", "/crm/v3/properties/{object_type}", self._properties))
        for method, pattern, handler in routes:
            self.server.route(method, pattern)(self._guarded(handler))
        self.server.route("POST", "/oauth/v1/token")(self._token)

    def _guarded(self, handler: Any) -> Any:
        def guarded(request: Request, params: dict[str, str]) -> Response:
            throttled = self._throttle()
            if throttled is not None:
                return throttled
            if not self._authorised(request):
                return _error(
                    401,
                    "INVALID_AUTHENTICATION",
                    "Authentication credentials not found. This API supports OAuth 2.0 "
                    "authentication and you can find more details at https://developers.hubspot.com",
                )
            object_type = params["object_type"]
            if object_type in self.missing_scopes and "/objects/" in request.path:
                return _error(
                    403, "MISSING_SCOPES", "This app hasn't been granted all required scopes"
                )
            if object_type not in self.objects:
                return _error(
                    400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}"
                )
            with self._lock:
                return handler(request, object_type)

        return guarded

    def _throttle(self) -> Response | None:
        with self._lock:
            if not self._rate_limits:
                return None
            limit = self._rate_limits[0]
            limit.times -= 1
            if limit.times <= 0:
                self._rate_limits.pop(0)
        headers = {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(limit.interval_ms),
            "X-HubSpot-RateLimit-Max": "100",
            "X-HubSpot-RateLimit-Remaining": "0",
        }
        if limit.retry_after is not None:
            headers["Retry-After"] = limit.retry_after
        body = {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": limit.policy,
        }
        return Response(429, body, headers)

    def _authorised(self, request: Request) -> bool:
        header = request.header("authorization") or ""
        return header.startswith("Bearer ") and header.removeprefix("Bearer ") in self.tokens

    def _list(self, request: Request, object_type: str) -> Response:
        limit = int(request.param("limit", "10") or 10)
        if not 1 <= limit <= 100:
            return _error(400, "VALIDATION_ERROR", "limit must be between 1 and 100")
        wanted = _split(request.param("properties"))
        archived = request.param("archived", "false") == "true"
        after = int(request.param("after", "0") or 0)
        rows = sorted(
            (o for o in self.objects[object_type].values() if o.archived == archived),
            key=lambda o: int(o.id),
        )
        rows = [o for o in rows if int(o.id) >= after]
        page = rows[:limit]
        body: dict[str, Any] = {
            "results": [o.to_json(object_type, wanted, self.drift) for o in page]
        }
        if len(rows) > limit:
            nxt = rows[limit].id
            link = f"{self.server.url}/crm/v3/objects/{object_type}?after={nxt}"
            body["paging"] = {"next": {"after": nxt, "link": link}}
        return Response(200, body)

    def _search(self, request: Request, object_type: str) -> Response:
        body = request.body or {}
        limit = int(body.get("limit", 10))
        if not 1 <= limit <= 200:
            return _error(400, "VALIDATION_ERROR", "limit must be between 1 and 200")
        offset = int(body.get("after") or 0)
        if offset >= self.search_cap:
            return _error(
                400,
                "VALIDATION_ERROR",
                f"Paging beyond {self.search_cap} results is not supported for search.",
            )
        try:
            rows = self._matching(object_type, body.get("filterGroups") or [])
            rows = self._sorted(object_type, rows, body.get("sorts") or [])
        except ValueError as exc:
            return _error(400, "VALIDATION_ERROR", str(exc))
        end = min(offset + limit, self.search_cap)
        answer: dict[str, Any] = {
            "total": len(rows),
            "results": [
                o.to_json(object_type, body.get("properties"), self.drift) for o in rows[offset:end]
            ],
        }
        if offset + limit < len(rows):
            answer["paging"] = {"next": {"after": str(offset + limit)}}
        return Response(200, answer)

    def _matching(self, object_type: str, groups: list[dict[str, Any]]) -> list[StoredObject]:
        rows = [o for o in self.objects[object_type].values() if not o.archived]
        if not groups:
            return rows
        return [o for o in rows if any(_matches(object_type, o, g) for g in groups)]

    def _sorted(
        self, object_type: str, rows: list[StoredObject], sorts: list[Any]
    ) -> list[StoredObject]:
        if len(sorts) > 1:
            raise ValueError("Only one sort is supported")
        if not sorts:
            return sorted(rows, key=lambda o: int(o.id))
        sort = sorts[0]
        name = sort["propertyName"] if isinstance(sort, dict) else sort
        if name != MODIFIED_PROPERTY[object_type]:
            raise ValueError(f"the fake sorts only by {MODIFIED_PROPERTY[object_type]}")
        descending = isinstance(sort, dict) and sort.get("direction") == "DESCENDING"
        # HubSpot does not promise an order among equal values: shuffle ties by a hash of id
        return sorted(rows, key=lambda o: (o.modified, hash(o.id) % 97), reverse=descending)

    def _properties(self, request: Request, object_type: str) -> Response:
        if self.schema_scope_missing:
            return _error(403, "MISSING_SCOPES", "This app hasn't been granted all required scopes")
        results = [
            {
                "name": name,
                "label": name.replace("_", " ").title(),
                "type": "datetime" if name in READ_ONLY - {"hs_object_id"} else "string",
                "fieldType": "date" if name in READ_ONLY - {"hs_object_id"} else "text",
                "description": "",
                "groupName": f"{object_type[:-1]}information",
                "options": [],
                "hasUniqueValue": name in self.unique_properties[object_type],
                "hubspotDefined": name != "crmhub_id",
            }
            for name in sorted(KNOWN_PROPERTIES[object_type])
        ]
        return Response(200, {"results": results})

    def _batch_read(self, request: Request, object_type: str) -> Response:
        body = request.body or {}
        id_property = body.get("idProperty")
        started = self.now()
        results, missing = [], []
        for item in body.get("inputs", []):
            obj = self._find(object_type, str(item["id"]), id_property)
            if obj is None:
                missing.append(str(item["id"]))
            else:
                results.append(obj.to_json(object_type, body.get("properties", []), self.drift))
        errors = []
        if missing:
            errors.append(
                _standard_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {object_type.upper()} objects, they may be deleted or "
                    "not exist. Check that ids are valid.",
                    {"ids": missing},
                )
            )
        return _batch_response(results, errors, started, self.now())

    def _batch_update(self, request: Request, object_type: str) -> Response:
        inputs = (request.body or {}).get("inputs", [])
        if not 1 <= len(inputs) <= 100:
            return _error(400, "VALIDATION_ERROR", "batch inputs must hold 1 to 100 items")
        return self._apply_batch(object_type, inputs, upsert=False)

    def _batch_upsert(self, request: Request, object_type: str) -> Response:
        inputs = (request.body or {}).get("inputs", [])
        if not 1 <= len(inputs) <= 100:
            return _error(400, "VALIDATION_ERROR", "batch inputs must hold 1 to 100 items")
        for item in inputs:
            if item.get("idProperty") not in self.unique_properties[object_type]:
                return _error(
                    400,
                    "VALIDATION_ERROR",
                    f"idProperty {item.get('idProperty')!r} is not a unique property",
                )
        return self._apply_batch(object_type, inputs, upsert=True)

    def _apply_batch(self, object_type: str, inputs: list[dict[str, Any]], *, upsert: bool):
        started = self.now()
        claimed: dict[tuple[str, str], str] = {}
        problems = [self._validate(object_type, item, claimed, upsert=upsert) for item in inputs]
        errors = [p for p in problems if p is not None]
        if errors and self.whole_batch_errors:
            return _error(400, "VALIDATION_ERROR", errors[0]["message"])
        results = []
        for item, problem in zip(inputs, problems, strict=True):
            if problem is None:
                results.append(self._write(object_type, item, upsert=upsert))
        return _batch_response(results, errors, started, self.now())

    def _validate(
        self,
        object_type: str,
        item: dict[str, Any],
        claimed: dict[tuple[str, str], str],
        *,
        upsert: bool,
    ) -> dict[str, Any] | None:
        """The error of one batch input, or None; `claimed` holds unique values of the batch."""
        row_id = str(item.get("id"))
        props = item.get("properties") or {}
        context = {"ids": [row_id]}
        for name, value in props.items():
            if name not in KNOWN_PROPERTIES[object_type] or name in READ_ONLY:
                return _standard_error(
                    "VALIDATION_ERROR", f'Property "{name}" does not exist', context,
                    code="PROPERTY_DOESNT_EXIST",
                )  # fmt: skip
            if not isinstance(value, str):
                return _standard_error("VALIDATION_ERROR", f"{name} must be a string", context)
            if name == "email" and value and "@" not in value:
                return _standard_error(
                    "VALIDATION_ERROR", f"Email address {value} is invalid", context,
                    code="INVALID_EMAIL",
                )  # fmt: skip
        target = self._find(object_type, row_id, item.get("idProperty") if upsert else None)
        if target is None and not upsert:
            return _standard_error("OBJECT_NOT_FOUND", f"Object {row_id} not found", context)
        for name in sorted(self.unique_properties[object_type] & set(props)):
            value = props[name]
            other = self._find(object_type, value, name) if value else None
            holder = claimed.get((name, value.casefold())) if value else None
            if (other is not None and other is not target) or holder not in (None, row_id):
                return _standard_error(
                    "CONFLICT", f"A {object_type[:-1]} with {name} {value} already exists",
                    context,
                )  # fmt: skip
        for name in self.unique_properties[object_type] & set(props):
            if props[name]:
                claimed[(name, props[name].casefold())] = row_id
        return None

    def _write(self, object_type: str, item: dict[str, Any], *, upsert: bool) -> dict[str, Any]:
        id_property = item.get("idProperty") if upsert else None
        props = dict(item.get("properties") or {})
        target = self._find(object_type, str(item["id"]), id_property)
        is_new = target is None
        if target is None:
            assert id_property is not None
            props.setdefault(id_property, str(item["id"]))
            oid = self.add(object_type, props)
        else:
            oid = target.id
            self.update(object_type, oid, props)
        answer = self.objects[object_type][oid].to_json(object_type, list(props), {})
        if upsert:
            answer["new"] = is_new
        return answer

    def _find(self, object_type: str, value: str, id_property: str | None) -> StoredObject | None:
        store = self.objects[object_type]
        if id_property in (None, "hs_object_id"):
            obj = store.get(value)
            return obj if obj is not None and not obj.archived else None
        fold = str.casefold if id_property == "email" else str  # HubSpot lower-cases emails
        for obj in store.values():
            held = obj.properties.get(id_property)
            if not obj.archived and held is not None and fold(held) == fold(value):
                return obj
        return None

    def _token(self, request: Request, params: dict[str, str]) -> Response:
        form = request.body if isinstance(request.body, dict) else {}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if self.oauth_clients.get(str(client_id)) != secret:
            return Response(
                400, {"status": "BAD_CLIENT_ID", "message": "missing or unknown client"}
            )
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") not in (
            self.refresh_tokens
        ):
            return Response(
                400, {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"}
            )
        access = f"oauth-access-{uuid.uuid4().hex}"
        self.tokens.add(access)
        return Response(
            200,
            {
                "token_type": "bearer",
                "refresh_token": form["refresh_token"],
                "access_token": access,
                "expires_in": 1800,
            },
        )


def _matches(object_type: str, obj: StoredObject, group: dict[str, Any]) -> bool:
    for flt in group.get("filters", []):
        if flt.get("propertyName") != MODIFIED_PROPERTY[object_type]:
            raise ValueError(f"the fake filters only on {MODIFIED_PROPERTY[object_type]}")
        value = int(flt["value"])
        actual = epoch_ms(obj.modified)
        ok = {
            "GTE": actual >= value,
            "GT": actual > value,
            "LT": actual < value,
            "LTE": actual <= value,
            "EQ": actual == value,
        }.get(flt.get("operator", ""))
        if ok is None:
            raise ValueError(f"operator {flt.get('operator')!r} is not supported by the fake")
        if not ok:
            return False
    return True


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [name for name in value.split(",") if name]


def _error(status: int, category: str, message: str) -> Response:
    return Response(
        status,
        {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
        },
    )


def _standard_error(
    category: str, message: str, context: dict[str, list[str]], *, code: str | None = None
) -> dict[str, Any]:
    detail: dict[str, Any] = {"message": message}
    if code is not None:
        detail["code"] = code
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "links": {},
        "errors": [detail],
    }


def _batch_response(
    results: list[dict[str, Any]], errors: list[dict[str, Any]], started: datetime, done: datetime
) -> Response:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": hubspot_time(started),
        "completedAt": hubspot_time(done),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return Response(207, body)
    return Response(200, body)
