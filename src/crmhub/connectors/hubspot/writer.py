"""Write-back into HubSpot: read the current values, send only what differs, report each row.

Rows with a HubSpot id (`external_id`) go to `batch/update` by that id. Rows without one can
only be created idempotently, by `batch/upsert` on a unique property (`id_property`: email or a
custom unique property such as crmhub_id): a retried upsert finds the object the first attempt
created instead of making a second one. Rows with an id are never upserted by a property,
because the property may be the value being changed (a new email) or not set yet (crmhub_id
before the first write-back), and either would create a duplicate.

HubSpot answers a batch with per-row errors as 207 Multi-Status (`errors[]`, each naming the
rows in `context`), and with 400 for the whole batch on many validation errors; a refused
batch is then sent again row by row, so only the bad rows are rejected.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crmhub.connectors.base import RowResult, RowStatus, Upsert, WriteReport
from crmhub.connectors.http import HttpClient, HttpStatusError
from crmhub.connectors.hubspot.streams import OBJECT_FIELDS, READ_ONLY_PROPERTIES, ObjectStream

log = logging.getLogger(__name__)

REFUSED_BATCH_STATUSES = frozenset({400, 409, 422})
"""Statuses HubSpot uses for a batch it refused because of its content."""

CASE_INSENSITIVE = frozenset({"email", "domain"})
"""Properties HubSpot stores lower-cased; compared without case so they are not re-sent."""


@dataclass
class Planned:
    """One row ready to send: where it goes and its properties as HubSpot text."""

    index: int
    row: Upsert
    by_property: str | None
    """None: update by HubSpot id; else upsert by this unique property."""
    target: str
    properties: dict[str, str]

    @property
    def key(self) -> tuple[str | None, str]:
        return self.by_property, _fold(self.by_property, self.target)


class BatchWriter:
    """Writes rows of one object type in batches of at most `batch_size`."""

    def __init__(
        self,
        http: HttpClient,
        stream: ObjectStream,
        id_property: str | None,
        batch_size: int,
    ) -> None:
        self.http, self.stream, self.id_property = http, stream, id_property
        self.batch_size = batch_size
        self.path = f"crm/v3/objects/{stream.name}/batch"

    def write(self, rows: Sequence[Upsert]) -> WriteReport:
        """Apply `rows` and report each one, in order."""
        results: dict[int, RowResult] = {}
        planned = []
        for index, row in enumerate(rows):
            try:
                planned.append(self._plan(index, row))
            except ValueError as exc:
                results[index] = _result(row, RowStatus.REJECTED, str(exc))
        for chunk in self._chunks(planned):
            results.update(self._write_chunk(chunk))
        report = WriteReport([results[i] for i in range(len(rows))])
        log.info(
            "wrote %d %s rows: %s",
            len(rows),
            self.stream.name,
            ", ".join(f"{report.count(s)} {s.value}" for s in RowStatus),
        )
        return report

    # -- planning ---------------------------------------------------------------------------
    def _plan(self, index: int, row: Upsert) -> Planned:
        properties = {name: to_property_text(value) for name, value in row.fields.items()}
        for name in properties:
            if name in READ_ONLY_PROPERTIES or name in ("id", *OBJECT_FIELDS):
                raise ValueError(f"{name!r} is set by HubSpot and cannot be written")
        if row.external_id:
            return Planned(index, row, None, row.external_id, properties)
        if self.id_property is None:
            raise ValueError(
                f"no HubSpot id, and no id_property is set for {self.stream.name} "
                "to create it by (e.g. email or crmhub_id)"
            )
        value = properties.get(self.id_property, "")
        if not value:
            raise ValueError(f"no HubSpot id and no {self.id_property!r} value to upsert by")
        return Planned(index, row, self.id_property, value, properties)

    def _chunks(self, planned: list[Planned]) -> Iterator[list[Planned]]:
        """Batches in input order, each naming a target once (HubSpot refuses duplicates)."""
        chunk: list[Planned] = []
        keys: set[tuple[str | None, str]] = set()
        for plan in planned:
            if len(chunk) >= self.batch_size or plan.key in keys:
                yield chunk
                chunk, keys = [], set()
            chunk.append(plan)
            keys.add(plan.key)
        if chunk:
            yield chunk

    def _write_chunk(self, chunk: list[Planned]) -> dict[int, RowResult]:
        results: dict[int, RowResult] = {}
        current = self._read_current(chunk)
        to_send: list[Planned] = []
        for plan in chunk:
            stored = current.get(plan.key)
            if stored is None and plan.by_property is None:
                reason = f"no {self.stream.name} object with id {plan.target} (deleted or merged?)"
                results[plan.index] = _result(plan.row, RowStatus.REJECTED, reason)
                continue
            changed = _changed(plan.properties, stored)
            if stored is not None and not changed:
                results[plan.index] = _result(plan.row, RowStatus.UNCHANGED)
                continue
            plan.properties = changed
            to_send.append(plan)
        for by_property in dict.fromkeys((None, self.id_property)):
            group = [p for p in to_send if p.by_property == by_property]
            if group:
                results.update(self._send(group))
        return results

    # -- calls ------------------------------------------------------------------------------
    def _read_current(self, chunk: list[Planned]) -> dict[tuple[str | None, str], dict[str, Any]]:
        """Stored properties of the chunk's targets, by plan key (missing objects left out)."""
        found: dict[tuple[str | None, str], dict[str, Any]] = {}
        for by_property in dict.fromkeys((None, self.id_property)):
            group = [p for p in chunk if p.by_property == by_property]
            if not group:
                continue
            names = sorted(
                {n for p in group for n in p.properties} | set(filter(None, [by_property]))
            )
            body: dict[str, Any] = {
                "properties": names,
                "propertiesWithHistory": [],
                "inputs": [{"id": p.target} for p in group],
            }
            if by_property is not None:
                body["idProperty"] = by_property
            answer = self._post("read", body, ok=(200, 207))
            for obj in answer.get("results") or []:
                props = obj.get("properties") or {}
                target = str(obj.get("id")) if by_property is None else props.get(by_property)
                if target is not None:
                    found[(by_property, _fold(by_property, str(target)))] = props
        return found

    def _send(self, group: list[Planned]) -> dict[int, RowResult]:
        """One batch call; a batch refused as a whole is sent again row by row."""
        upsert = group[0].by_property is not None
        inputs = [_input(p) for p in group]
        try:
            answer = self._post("upsert" if upsert else "update", {"inputs": inputs}, ok=(200, 207))
        except HttpStatusError as exc:
            if exc.status not in REFUSED_BATCH_STATUSES:
                raise
            if len(group) > 1:
                results: dict[int, RowResult] = {}
                for plan in group:
                    results.update(self._send([plan]))
                return results
            reason = f"refused by HubSpot: {_error_text(_json(exc.response))}"
            return {group[0].index: _result(group[0].row, RowStatus.REJECTED, reason)}
        return _outcomes(group, answer)

    def _post(self, action: str, body: dict[str, Any], *, ok: tuple[int, ...]) -> dict[str, Any]:
        path = f"{self.path}/{action}"
        # batch read reads; batch update and upsert by a unique property set the same values
        # again when repeated, so all three are safe to retry
        response = self.http.request("POST", path, json=body, idempotent=True, ok=ok)
        answer = self.http.json_of(response, "POST", path)
        return answer if isinstance(answer, dict) else {}


def to_property_text(value: Any) -> str:
    """A value as HubSpot property text: '' clears, booleans are true/false, dates ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _changed(wanted: Mapping[str, str], stored: Mapping[str, Any] | None) -> dict[str, str]:
    if stored is None:
        return dict(wanted)
    return {k: v for k, v in wanted.items() if not _same(k, stored.get(k), v)}


def _same(name: str, stored: Any, wanted: str) -> bool:
    have = "" if stored is None else str(stored).strip()
    want = wanted.strip()
    if name in CASE_INSENSITIVE:
        return have.casefold() == want.casefold()
    return have == want


def _fold(by_property: str | None, value: str) -> str:
    return value.casefold() if by_property in CASE_INSENSITIVE else value


def _input(plan: Planned) -> dict[str, Any]:
    if plan.by_property is None:
        return {"id": plan.target, "properties": plan.properties}
    return {"idProperty": plan.by_property, "id": plan.target, "properties": plan.properties}


def _outcomes(group: list[Planned], answer: Mapping[str, Any]) -> dict[int, RowResult]:
    """Applied or rejected per row, from a batch answer (200, or 207 with `errors`)."""
    by_key: dict[str, str] = {}
    unattributed: list[str] = []
    targets = {_fold(p.by_property, p.target) for p in group}
    for error in answer.get("errors") or []:
        named = {
            _fold(group[0].by_property, str(value))
            for values in ((error or {}).get("context") or {}).values()
            if isinstance(values, list)
            for value in values
        } & targets
        for key in named:
            by_key.setdefault(key, _error_text(error))
        if not named:
            unattributed.append(_error_text(error))
    answered = _answered_targets(group, answer)
    results = {}
    for plan in group:
        key = _fold(plan.by_property, plan.target)
        if key in by_key:
            results[plan.index] = _result(plan.row, RowStatus.REJECTED, by_key[key])
        elif unattributed and key not in answered:
            reason = "; ".join(unattributed)
            results[plan.index] = _result(plan.row, RowStatus.REJECTED, reason)
        else:
            results[plan.index] = _result(plan.row, RowStatus.APPLIED)
    return results


def _answered_targets(group: list[Planned], answer: Mapping[str, Any]) -> set[str]:
    by_property = group[0].by_property
    answered = set()
    for obj in answer.get("results") or []:
        if by_property is None:
            answered.add(str(obj.get("id")))
        else:
            value = (obj.get("properties") or {}).get(by_property)
            if value is not None:
                answered.add(_fold(by_property, str(value)))
    return answered


def _error_text(error: Any) -> str:
    """`CATEGORY: message` of a HubSpot error, cut short (it may quote the value)."""
    if not isinstance(error, Mapping):
        return "HubSpot gave no reason"
    category = error.get("category") or error.get("status") or "error"
    message = str(error.get("message") or "no message")
    text = f"{category}: {message}"
    return text if len(text) <= 300 else text[:297] + "..."


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _result(row: Upsert, status: RowStatus, reason: str = "") -> RowResult:
    return RowResult(row.external_id, row.idempotency_key, status, reason)
