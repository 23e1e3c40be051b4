"""Write-back to QBO Customers: read the current version, send only what differs.

QBO updates need the customer's current SyncToken, so every write first reads the customers it
touches (`Id IN (...)`, up to 100 per query). A row whose values already match is `unchanged`
and causes no call. Otherwise one sparse update carries the changed top-level fields; nested
objects (an address, a phone) are replaced whole by QBO, so they are sent complete, merged from
the current object. Each POST carries a `requestid` made from the upsert's idempotency key
(see `request_id`), which QBO uses to answer a repeated request with the first answer instead
of applying it twice: that is what makes the HTTP client's retry of the POST safe.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from crmhub.connectors.base import RowResult, RowStatus, Upsert, WriteReport
from crmhub.connectors.http import HttpStatusError
from crmhub.connectors.quickbooks.records import FIELDS, GoldenIdSlot, to_record
from crmhub.connectors.quickbooks.streams import query_entities

log = logging.getLogger(__name__)

LOOKUP_CHUNK = 100
REQUESTID_MAX = 50
"""QBO accepts request ids up to 50 characters; longer keys are hashed to fit."""

Query = Callable[[str], Any]
"""Run a QBO query; returns the JSON body."""
Post = Callable[[dict[str, Any], str], Any]
"""POST a customer body with a request id; returns the JSON body."""


@dataclass(frozen=True)
class Pending:
    """A row whose body waits to be sent, by its input position."""

    index: int
    row: Upsert
    body: dict[str, Any]


class CustomerWriter:
    """Applies upserts to customers, up to `batch_size` per call; rows keep their input order.

    Rows are sent as one `/batch` call of up to 30 items (one call per row when `batch_size`
    is 1). Two rows for the same customer never share a batch: the second is planned from the
    first one's answer, which carries the new SyncToken.
    """

    def __init__(
        self, query: Query, post: Post, post_batch: Post, slot: GoldenIdSlot, batch_size: int
    ) -> None:
        self.query, self.post, self.post_batch = query, post, post_batch
        self.slot, self.batch_size = slot, batch_size

    def write(self, rows: Sequence[Upsert]) -> WriteReport:
        """Look up, compare and update (or create) each row."""
        results: dict[int, RowResult] = {}
        current = self._current({r.external_id for r in rows if r.external_id})
        pending: list[Pending] = []
        for index, row in enumerate(rows):
            if row.external_id and any(p.row.external_id == row.external_id for p in pending):
                pending = self._flush(pending, current, results)
            planned = self._plan(row, current)
            if isinstance(planned, RowResult):
                results[index] = planned
                continue
            pending.append(Pending(index, row, planned))
            if len(pending) >= self.batch_size:
                pending = self._flush(pending, current, results)
        self._flush(pending, current, results)
        report = WriteReport([results[i] for i in range(len(rows))])
        counts = {s.value: report.count(s) for s in RowStatus}
        log.info("quickbooks write-back of %d customers: %s", len(rows), counts)
        return report

    def _plan(self, row: Upsert, current: dict[str, dict[str, Any]]) -> RowResult | dict[str, Any]:
        """The body to send for `row`, or its final result (unchanged, rejected)."""
        try:
            self._check_fields(row)
            entity = current.get(row.external_id) if row.external_id else None
            if row.external_id and entity is None:
                raise ValueError(f"no QuickBooks customer with Id {row.external_id}")
            body = build_body(row.fields, entity, self.slot)
        except ValueError as exc:
            return _result(row, RowStatus.REJECTED, str(exc))
        return _result(row, RowStatus.UNCHANGED) if body is None else body

    def _flush(
        self,
        pending: list[Pending],
        current: dict[str, dict[str, Any]],
        results: dict[int, RowResult],
    ) -> list[Pending]:
        """Send what is pending, record each row's result; returns the new (empty) list."""
        if len(pending) == 1:
            results[pending[0].index] = self._send_one(pending[0], current)
        elif pending:
            for item, result in zip(pending, self._send_batch(pending, current), strict=True):
                results[item.index] = result
        return []

    def _send_one(self, item: Pending, current: dict[str, dict[str, Any]]) -> RowResult:
        try:
            answer = self.post(item.body, request_id(item.row.idempotency_key, item.body))
        except HttpStatusError as exc:
            if exc.status != 400:
                raise
            return _result(item.row, RowStatus.REJECTED, fault_reason(exc))
        saved = answer.get("Customer") if isinstance(answer, Mapping) else None
        return _applied(item.row, saved, current)

    def _send_batch(
        self, items: list[Pending], current: dict[str, dict[str, Any]]
    ) -> list[RowResult]:
        requests = [
            {
                "bId": str(n),
                "operation": "update" if "Id" in p.body else "create",
                "Customer": p.body,
            }
            for n, p in enumerate(items)
        ]
        try:
            answer = self.post_batch({"BatchItemRequest": requests}, batch_request_id(items))
        except HttpStatusError as exc:
            if exc.status != 400:
                raise
            return [_result(p.row, RowStatus.REJECTED, fault_reason(exc)) for p in items]
        listed = answer.get("BatchItemResponse") if isinstance(answer, Mapping) else None
        by_bid = {str(a.get("bId")): a for a in listed or [] if isinstance(a, Mapping)}
        return [_item_result(p.row, by_bid.get(str(n)), current) for n, p in enumerate(items)]

    def _check_fields(self, row: Upsert) -> None:
        for name in row.fields:
            if name != self.slot.column and name not in FIELDS:
                allowed = ", ".join([*FIELDS, self.slot.column])
                raise ValueError(f"field {name!r} cannot be written to QuickBooks ({allowed})")

    def _current(self, ids: set[str | None]) -> dict[str, dict[str, Any]]:
        wanted = sorted(str(i) for i in ids if i)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            listed = ", ".join(f"'{_quote(i)}'" for i in chunk)
            text = (
                "select * from Customer where Active IN (true, false) "
                f"AND Id IN ({listed}) MAXRESULTS {LOOKUP_CHUNK}"
            )
            for entity in query_entities(self.query(text)):
                if isinstance(entity, Mapping) and entity.get("Id") is not None:
                    found[str(entity["Id"])] = dict(entity)
        return found


def build_body(
    fields: Mapping[str, Any], entity: Mapping[str, Any] | None, slot: GoldenIdSlot
) -> dict[str, Any] | None:
    """The sparse update (or create) body for `fields`; None when the customer already matches.

    Raises:
        ValueError: a value QBO cannot take (e.g. a non-boolean `Active`).
    """
    base: Mapping[str, Any] = entity or {}
    shown = _shown(entity, slot)
    wanted = {k: _coerce(k, v) for k, v in fields.items()}
    changed = {k: v for k, v in wanted.items() if not same(shown.get(k), v)}
    if entity is not None and not changed:
        return None
    body: dict[str, Any] = {}
    for name, value in changed.items():
        if name == slot.column:
            notes = wanted.get(slot.store, ...) if slot.in_notes else ...
            body[slot.store] = slot.write(base, value, notes)
        elif name == slot.store and slot.in_notes:
            body[slot.store] = slot.write(
                base, wanted.get(slot.column, shown.get(slot.column)), value
            )
        else:
            _place(body, base, name, value)
    if entity is None:
        return {k: v for k, v in body.items() if v not in (None, "")}
    return {
        "Id": str(entity["Id"]),
        "SyncToken": str(entity.get("SyncToken", "0")),
        "sparse": True,
        **body,
    }


def _shown(entity: Mapping[str, Any] | None, slot: GoldenIdSlot) -> dict[str, Any]:
    """The customer as a record, for comparing; a create compares against nothing."""
    if entity is None:
        return {}
    try:
        return to_record(entity, slot)
    except ValueError:  # no usable LastUpdatedTime: the values still compare
        return to_record({**entity, "MetaData": {"LastUpdatedTime": "1970-01-01T00:00:00Z"}}, slot)


def _place(body: dict[str, Any], entity: Mapping[str, Any], name: str, value: Any) -> None:
    top, sub = FIELDS[name]
    if sub is None:
        body[top] = value
        return
    if top not in body:
        current = entity.get(top)
        body[top] = deepcopy(dict(current)) if isinstance(current, Mapping) else {}
    body[top][sub] = value


def _coerce(name: str, value: Any) -> Any:
    if name == "Active":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ValueError(f"Active must be true or false, not {value!r}")
    return "" if value is None else str(value)


def same(current: Any, wanted: Any) -> bool:
    """Equal as QBO stores it: text trimmed, and no value the same as an empty one."""
    if isinstance(wanted, bool) or isinstance(current, bool):
        return bool(current) == bool(wanted) and current is not None
    return str(current if current is not None else "").strip() == str(wanted).strip()


def request_id(idempotency_key: str, body: Mapping[str, Any]) -> str:
    """The `requestid` of one POST: the upsert's idempotency key bound to the version it edits.

    A create sends the key itself (hashed when longer than QBO's 50 characters). An update
    hashes the key with the customer's Id and SyncToken: a retry of the same call repeats it,
    so QBO answers with its first answer; but the hub reuses a key whenever it wants the same
    value again, and if someone changed the customer in between, the same key alone would
    make QBO replay an old answer instead of applying the change again.
    """
    if "SyncToken" not in body and len(idempotency_key) <= REQUESTID_MAX:
        return idempotency_key
    return _digest([idempotency_key, str(body.get("Id", "")), str(body.get("SyncToken", ""))])


def batch_request_id(items: Sequence[Pending]) -> str:
    """One `requestid` for a batch: a hash of its rows' request ids, in order."""
    return "batch-" + _digest([request_id(p.row.idempotency_key, p.body) for p in items])


def _digest(parts: Sequence[str]) -> str:
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=16).hexdigest()


def fault_reason(exc: HttpStatusError) -> str:
    """One line from the Fault of a refused call."""
    return fault_text(_first_fault(exc), exc.vendor_code)


def fault_text(error: Mapping[str, Any], fallback_code: str | None = None) -> str:
    """One line from one QBO Fault error: vendor code, message and detail (never the request)."""
    code = error.get("code") or fallback_code or "?"
    message = str(error.get("Message") or error.get("message") or "refused")
    detail = str(error.get("Detail") or error.get("detail") or "")
    known = {"5010": "stale SyncToken", "6240": "duplicate name"}.get(str(code))
    text = f"QuickBooks refused the update (vendor code {code}"
    text += f", {known})" if known else ")"
    text += f": {message}"
    if detail and detail != message:
        text += f" - {detail[:300]}"
    return text


def _first_fault(exc: HttpStatusError) -> dict[str, Any]:
    try:
        return first_error(exc.response.json())
    except ValueError:
        return {}


def first_error(body: Any) -> dict[str, Any]:
    """`Fault.Error[0]` of a QBO body (`fault.error[0]` in 401 answers); {} when absent."""
    try:
        fault = body.get("Fault") or body.get("fault") or {}
        errors = fault.get("Error") or fault.get("error") or []
        return dict(errors[0]) if errors else {}
    except (AttributeError, TypeError, KeyError, IndexError, ValueError):
        return {}


def _applied(row: Upsert, saved: Any, current: dict[str, dict[str, Any]]) -> RowResult:
    """APPLIED, with the Id QBO answered (new for a create); keeps the new SyncToken."""
    if isinstance(saved, Mapping) and saved.get("Id") is not None:
        current[str(saved["Id"])] = dict(saved)
        return RowResult(str(saved["Id"]), row.idempotency_key, RowStatus.APPLIED)
    return _result(row, RowStatus.APPLIED)


def _item_result(
    row: Upsert, answer: Mapping[str, Any] | None, current: dict[str, dict[str, Any]]
) -> RowResult:
    if answer is None:
        return _result(row, RowStatus.REJECTED, "QuickBooks gave no answer for it in the batch")
    if "Fault" in answer:
        return _result(row, RowStatus.REJECTED, fault_text(first_error(answer)))
    return _applied(row, answer.get("Customer"), current)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _result(row: Upsert, status: RowStatus, reason: str = "") -> RowResult:
    return RowResult(row.external_id, row.idempotency_key, status, reason)
