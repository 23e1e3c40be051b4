"""A stateful fake of Xero: the Accounting API's Contacts and the identity server's tokens.

Two servers, as in the real thing (api.xero.com and identity.xero.com): faults injected into the
API never hit the token endpoint, so a test of a 429 burst is not also a test of a failed login.
The API behaves as Xero documents it: `If-Modified-Since` to the second (inclusive), `order`,
`page`/`pageSize`, `IDs`, `includeArchived`; POST upserts with per-contact `ValidationErrors`
when `summarizeErrors=false`, a 400 ValidationException otherwise; `Idempotency-Key` replays;
dates as `/Date(ms+0000)/`; 401 for a missing, wrong or expired token, 403 for another tenant.
The identity server rotates the refresh token on every refresh, as Xero does.

`shared_xero()` gives one fake behind one Prism proxy for the whole test session (Prism takes
seconds to start); tests call `reset()` to begin from an empty organisation.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import copy
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from tests.fakes.prism import VENDOR_SPECS, prism_proxy
from tests.fakes.server import FakeServer, Request, Response

XERO_SPEC = VENDOR_SPECS / "xero" / "xero_accounting_contacts.yaml"
TENANT_ID = "7b4a3c2e-1d0f-4e5a-9b8c-6d5e4f3a2b1c"
CLIENT_ID = "CRMHUBTESTCLIENT0000000000000000"
CLIENT_SECRET = "xero-test-client-secret-Qm9vZ2xlIGl0"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_TYPES = ("DEFAULT", "DDI", "FAX", "MOBILE")
ADDRESS_TYPES = ("STREET", "POBOX")


def xero_date(value: datetime) -> str:
    """`/Date(ms+0000)/`, the form Xero's JSON uses."""
    return f"/Date({round(value.timestamp() * 1000)}+0000)/"


@dataclass
class _Stored:
    """One contact: Xero JSON without its date, the date, and an optional raw date override."""

    data: dict[str, Any]
    updated: datetime
    raw_updated: str | None = None

    def json(self) -> dict[str, Any]:
        body = copy.deepcopy(self.data)
        body["UpdatedDateUTC"] = self.raw_updated or xero_date(self.updated)
        body.setdefault("HasValidationErrors", False)
        return body


class XeroFake:
    """The state of one Xero organisation plus its identity server; see the module docstring."""

    def __init__(self, *, token_ttl: float = 1800.0) -> None:
        self.api = FakeServer()
        self.identity = FakeServer()
        self.token_ttl = token_ttl
        self.tenant_id = TENANT_ID
        self.client_id, self.client_secret = CLIENT_ID, CLIENT_SECRET
        self._lock = threading.RLock()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.reset()
        self._routes()

    # -- state a test sets up ----------------------------------------------------------------
    def reset(self) -> None:
        """An empty organisation, fresh credentials, no faults, no request log."""
        with self._lock:
            self.access_tokens: dict[str, float] = {}
            self.refresh_token = "rt-" + secrets.token_urlsafe(24)
            self.spent_refresh_tokens: list[str] = []
            self.refreshes = 0
            self.clear_data()
        self.identity.clear_faults()
        self.identity.requests.clear()

    def clear_data(self) -> None:
        """No contacts, no remembered idempotency keys, no faults; credentials stay valid."""
        with self._lock:
            self.contacts: dict[str, _Stored] = {}
            self.replays: dict[str, Response] = {}
            self.replayed = 0
            self.post_failures: list[tuple[Response, bool]] = []
            self.clock = lambda: datetime.now(UTC)
        self.api.clear_faults()
        self.api.requests.clear()

    def add_contact(
        self, *, updated: datetime | None = None, contact_id: str | None = None, **fields: Any
    ) -> str:
        """Store a contact (Xero JSON fields) changed at `updated`; returns its ContactID."""
        contact_id = contact_id or str(uuid.uuid4())
        data = _blank_contact(contact_id)
        _merge(data, fields)
        with self._lock:
            self.contacts[contact_id] = _Stored(data, updated or self.clock())
        return contact_id

    def update_contact(
        self, contact_id: str, *, updated: datetime | None = None, **fields: Any
    ) -> None:
        """Change a stored contact as a Xero user would (its date moves to `updated`/now)."""
        with self._lock:
            stored = self.contacts[contact_id]
            _merge(stored.data, fields)
            stored.updated = updated or self.clock()

    def add_bad_contact(self) -> str:
        """A contact the spec allows but no connector can use: its date is not a date."""
        contact_id = self.add_contact(Name=f"Broken {uuid.uuid4().hex[:6]}")
        self.contacts[contact_id].raw_updated = "/Date(not-a-date)/"
        return contact_id

    def fail_posts(
        self, status: int, *, times: int = 1, body: Any = None, applied: bool = False
    ) -> None:
        """Answer the next POST /Contacts with `status`; `applied`: after saving (a lost answer)."""
        with self._lock:
            for _ in range(times):
                self.post_failures.append((Response(status, body or {"Status": status}), applied))

    def contact(self, contact_id: str) -> dict[str, Any]:
        """The contact as GET /Contacts shows it."""
        with self._lock:
            return self.contacts[contact_id].json()

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (as after 30 minutes)."""
        with self._lock:
            self.access_tokens = dict.fromkeys(self.access_tokens, 0.0)

    def revoke(self) -> None:
        """The user disconnected the app: tokens and the refresh token are refused."""
        with self._lock:
            self.access_tokens.clear()
            self.spent_refresh_tokens.append(self.refresh_token)
            self.refresh_token = "revoked-" + secrets.token_urlsafe(8)

    def api_requests(self, path: str = "/Contacts", method: str | None = None) -> list[Request]:
        """Requests that reached the API (after Prism), optionally of one method."""
        return [
            r
            for r in list(self.api.requests)
            if r.path == path and (method is None or r.method == method)
        ]

    def secrets(self) -> list[str]:
        """Every credential value in play (for checking logs and messages)."""
        with self._lock:
            return [
                self.client_secret,
                self.refresh_token,
                *self.spent_refresh_tokens,
                *self.access_tokens,
            ]

    # -- running -------------------------------------------------------------------------------
    def start(self) -> None:
        self.api.start()
        self.identity.start()

    def stop(self) -> None:
        self.api.stop()
        self.identity.stop()

    @property
    def token_url(self) -> str:
        return f"{self.identity.url}/connect/token"

    @contextmanager
    def running(self) -> Iterator[XeroFake]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    # -- routes --------------------------------------------------------------------------------
    def _routes(self) -> None:
        self.identity.route("POST", "/connect/token")(self._token)
        self.api.route("GET", "/Contacts")(self._guarded(self._get_contacts))
        self.api.route("GET", "/Contacts/{contact_id}")(self._guarded(self._get_contact))
        self.api.route("POST", "/Contacts")(self._guarded(self._post_contacts))

    def _token(self, request: Request, _: dict[str, str]) -> Response:
        form = request.body if isinstance(request.body, dict) else {}
        if _client_of(request, form) != (self.client_id, self.client_secret):
            return Response(401, {"error": "invalid_client"})
        grant = form.get("grant_type")
        with self._lock:
            if grant == "refresh_token":
                if form.get("refresh_token") != self.refresh_token:
                    return Response(400, {"error": "invalid_grant"})
                self.spent_refresh_tokens.append(self.refresh_token)
                self.refresh_token = "rt-" + secrets.token_urlsafe(24)
            elif grant != "client_credentials":
                return Response(400, {"error": "unsupported_grant_type"})
            self.refreshes += 1
            token = "at-" + secrets.token_urlsafe(32)
            self.access_tokens[token] = time.monotonic() + self.token_ttl
            body = {"access_token": token, "expires_in": int(self.token_ttl)}
            body.update({"token_type": "Bearer", "scope": "accounting.contacts"})
            if grant == "refresh_token":
                body["refresh_token"] = self.refresh_token
        return Response(200, body)

    def _guarded(
        self, handler: Callable[[Request, dict[str, str]], Response]
    ) -> Callable[[Request, dict[str, str]], Response]:
        def guarded(request: Request, params: dict[str, str]) -> Response:
            denied = self._deny(request)
            if denied is not None:
                return denied
            with self._lock:
                return handler(request, params)

        return guarded

    def _deny(self, request: Request) -> Response | None:
        auth = request.header("authorization") or ""
        token = auth.removeprefix("Bearer ").strip()
        with self._lock:
            expires = self.access_tokens.get(token)
        if expires is None or expires <= time.monotonic():
            detail = "TokenExpired" if expires is not None else "AuthenticationUnsuccessful"
            return Response(401, _problem(401, "Unauthorized", detail))
        if request.header("xero-tenant-id") != self.tenant_id:
            return Response(403, _problem(403, "Forbidden", "AuthenticationUnsuccessful"))
        return None

    def _get_contacts(self, request: Request, _: dict[str, str]) -> Response:
        found = self._filtered(request)
        field, descending = _order_of(request.param("order"))
        found.sort(key=lambda s: (_sort_value(s, field), s.data["ContactID"]), reverse=descending)
        envelope = _envelope()
        page = request.param("page")
        if page is not None:
            size = min(int(request.param("pageSize") or 100), 1000)
            number = max(int(page), 1)
            pages = max((len(found) + size - 1) // size, 1)
            envelope["pagination"] = {
                "page": number,
                "pageSize": size,
                "pageCount": pages,
                "itemCount": len(found),
            }
            found = found[(number - 1) * size : number * size]
        envelope["Contacts"] = [s.json() for s in found]
        return Response(200, envelope)

    def _filtered(self, request: Request) -> list[_Stored]:
        found = list(self.contacts.values())
        if (request.param("includeArchived") or "false").lower() != "true":
            found = [s for s in found if s.data.get("ContactStatus") != "ARCHIVED"]
        ids = request.param("IDs")
        if ids:
            wanted = {i.strip().lower() for i in ids.split(",")}
            found = [s for s in found if s.data["ContactID"].lower() in wanted]
        since = _parse_since(request.header("if-modified-since"))
        if since is not None:
            found = [s for s in found if s.updated.replace(microsecond=0) >= since]
        return found

    def _get_contact(self, request: Request, params: dict[str, str]) -> Response:
        stored = self.contacts.get(params["contact_id"])
        if stored is None:
            return Response(404, _problem(404, "NotFound", "The resource was not found"))
        return Response(200, {**_envelope(), "Contacts": [stored.json()]})

    def _post_contacts(self, request: Request, _: dict[str, str]) -> Response:
        failure, applied = self.post_failures.pop(0) if self.post_failures else (None, False)
        if failure is not None and not applied:
            return failure
        response = self._upsert(request)
        return failure or response

    def _upsert(self, request: Request) -> Response:
        key = request.header("idempotency-key")
        if key and key in self.replays:
            self.replayed += 1
            return copy.deepcopy(self.replays[key])
        items = (request.body or {}).get("Contacts") or []
        errors = [self._validate(item) for item in items]
        summarize = (request.param("summarizeErrors") or "true").lower() != "false"
        if summarize and any(errors):
            response = Response(400, _validation_exception(items, errors))
        else:
            results = [
                _rejected(item, errs) if errs else self._apply(item)
                for item, errs in zip(items, errors, strict=True)
            ]
            response = Response(200, {**_envelope(), "Contacts": results})
        if key:
            self.replays[key] = copy.deepcopy(response)
        return response

    def _validate(self, item: Mapping[str, Any]) -> list[str]:
        errors = []
        contact_id = item.get("ContactID")
        if contact_id and contact_id not in self.contacts:
            errors.append(f"The contact with ContactID {contact_id} could not be found.")
        if not contact_id and not item.get("Name"):
            errors.append("The contact name must be provided to create a contact.")
        email = item.get("EmailAddress")
        if email and not EMAIL.match(email):
            errors.append("Email address must be valid.")
        name = item.get("Name")
        if name and any(
            s.data.get("Name") == name
            and s.data["ContactID"] != contact_id
            and s.data.get("ContactStatus") == "ACTIVE"
            for s in self.contacts.values()
        ):
            errors.append(
                f"The contact name {name} is already assigned to another contact. The contact "
                "name must be unique across all active contacts."
            )
        return errors

    def _apply(self, item: Mapping[str, Any]) -> dict[str, Any]:
        fields = {k: v for k, v in item.items() if k not in ("IsCustomer", "IsSupplier")}
        contact_id = fields.pop("ContactID", None)
        if contact_id:
            self.update_contact(contact_id, **fields)
        else:
            contact_id = self.add_contact(**fields)
        return {**self.contacts[contact_id].json(), "StatusAttributeString": "OK"}


def _blank_contact(contact_id: str) -> dict[str, Any]:
    """A new contact as Xero shows it: every phone and address type present, empty."""
    return {
        "ContactID": contact_id,
        "ContactStatus": "ACTIVE",
        "Name": "",
        "EmailAddress": "",
        "BankAccountDetails": "",
        "Addresses": [
            {"AddressType": t, "City": "", "Region": "", "PostalCode": "", "Country": ""}
            for t in ADDRESS_TYPES
        ],
        "Phones": [
            {"PhoneType": t, "PhoneNumber": "", "PhoneAreaCode": "", "PhoneCountryCode": ""}
            for t in PHONE_TYPES
        ],
        "ContactGroups": [],
        "IsSupplier": False,
        "IsCustomer": False,
        "ContactPersons": [],
        "HasAttachments": False,
    }


def _merge(data: dict[str, Any], fields: Mapping[str, Any]) -> None:
    """Xero's update: scalars replaced; phones and addresses merged by their type."""
    for name, value in fields.items():
        if name in ("Phones", "Addresses"):
            kind = "PhoneType" if name == "Phones" else "AddressType"
            current = {entry[kind]: entry for entry in data.setdefault(name, [])}
            for entry in value:
                if entry[kind] in current:
                    current[entry[kind]].update(entry)
                else:
                    data[name].append(dict(entry))
        else:
            data[name] = copy.deepcopy(value)


def _parse_since(value: str | None) -> datetime | None:
    """If-Modified-Since as ISO-8601 (Xero's form) or an HTTP-date, cut to the second (UTC)."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        when = parsedate_to_datetime(value)
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.replace(microsecond=0)


def _order_of(order: str | None) -> tuple[str, bool]:
    """`order=Field [ASC|DESC]` (default Name ascending, as Xero does)."""
    words = (order or "Name").split()
    return words[0], len(words) > 1 and words[1].upper() == "DESC"


def _sort_value(stored: _Stored, field: str) -> Any:
    if field == "UpdatedDateUTC":
        return stored.updated.timestamp()
    value = stored.data.get(field)
    return "" if value is None else str(value)


def _envelope() -> dict[str, Any]:
    return {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": "crmhub test app",
        "DateTimeUTC": f"/Date({round(time.time() * 1000)})/",
    }


def _rejected(item: Mapping[str, Any], errors: list[str]) -> dict[str, Any]:
    return {
        **copy.deepcopy(dict(item)),
        "HasValidationErrors": True,
        "StatusAttributeString": "ERROR",
        "ValidationErrors": [{"Message": m} for m in errors],
    }


def _validation_exception(items: list[Any], errors: list[list[str]]) -> dict[str, Any]:
    return {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [_rejected(i, e) for i, e in zip(items, errors, strict=True) if e],
    }


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    """The problem document Xero's API gateway answers 401/403 with."""
    return {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }


def _client_of(request: Request, form: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Client id and secret from HTTP Basic auth (Xero's way) or the form."""
    auth = request.header("authorization") or ""
    if auth.startswith("Basic "):
        with contextlib.suppress(ValueError):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            return user, password
    return form.get("client_id"), form.get("client_secret")


# -- one fake behind one Prism for the session ------------------------------------------------
_SHARED: dict[str, Any] = {}
_SHARED_LOCK = threading.Lock()


def shared_xero() -> tuple[XeroFake, str]:
    """The session's fake and the URL of the Prism proxy in front of its API (started once)."""
    with _SHARED_LOCK:
        if "fake" not in _SHARED:
            fake = XeroFake()
            fake.start()
            stack = contextlib.ExitStack()
            url = stack.enter_context(prism_proxy(XERO_SPEC, fake.api.url))
            _SHARED.update(fake=fake, url=url, stack=stack)
            atexit.register(_stop_shared)
        return _SHARED["fake"], _SHARED["url"]


def _stop_shared() -> None:
    with _SHARED_LOCK:
        stack, fake = _SHARED.pop("stack", None), _SHARED.pop("fake", None)
        _SHARED.clear()
    if stack is not None:
        stack.close()
    if fake is not None:
        fake.stop()
