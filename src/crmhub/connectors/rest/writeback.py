"""Write-back through a REST API: one request per row, or batches, with a per-row report.

Rows are rendered from the stream's `write` templates. With a `current` GET template, each
row's record is read first and rows whose rendered body (what would be sent, by the names it
is sent under) the API already holds are reported `unchanged` without a write, so a repeated
write-back costs reads only. Every write carries the
row's idempotency key (in `Idempotency-Key` by default), which also lets the HTTP client retry a
PATCH or POST safely. A 4xx for one row rejects that row with its status and vendor code; the
other rows go on. Auth failures and exhausted retries stop the write: they concern every row.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from crmhub.connectors.base import RowResult, RowStatus, Upsert, WriteReport
from crmhub.connectors.http import HttpClient, HttpStatusError
from crmhub.connectors.rest.config import WriteConfig, substitute, template_names
from crmhub.connectors.rest.selector import flatten, select_path, select_records

log = logging.getLogger(__name__)

_WHOLE = re.compile(r"^\{([\w.\-]+)\}$")


class RenderError(ValueError):
    """A row cannot be turned into a request (a placeholder has no value)."""


@dataclass(frozen=True)
class _Planned:
    """A row ready to send: its index in the input, path and body."""

    index: int
    row: Upsert
    path: str
    body: Any
    sent: Mapping[str, Any]
    """The row's rendered body flattened to record field names, as the API would hold it."""


def row_context(row: Upsert) -> dict[str, Any]:
    """Values the templates may use: the row's fields plus its ids and idempotency key."""
    context = dict(row.fields)
    context.update(golden_id=row.golden_id, idempotency_key=row.idempotency_key)
    if row.external_id is not None:
        context["external_id"] = row.external_id
    return context


def render_path(template: str, context: Mapping[str, Any]) -> str:
    """The path with each placeholder's value URL-quoted (an id cannot add a path segment)."""
    missing = sorted(n for n in template_names(template) if context.get(n) in (None, ""))
    if missing:
        raise RenderError(f"path {template!r} needs {missing}, which this row has no value for")
    return substitute(
        template, {n: quote(str(context[n]), safe="") for n in template_names(template)}
    )


def render_body(template: Any, row: Upsert) -> Any:
    """The JSON body of one row; `fields` sends the row's fields as they are.

    In a template, a value that is exactly `{field}` keeps the field's JSON type, other text is
    formatted, and a key whose placeholders the row lacks is left out (a PATCH then leaves the
    vendor's value alone). Dotted keys (`custom.crmhub_id`) become nested objects.
    """
    if template == "fields":
        return _nest(row.fields)
    context = row_context(row)
    body: dict[str, Any] = {}
    for key, value in template.items():
        rendered = _render_value(value, context)
        if rendered is not _OMIT:
            body[key] = rendered
    templated = [k for k, v in template.items() if isinstance(v, str) and template_names(v)]
    if templated and not any(k in body for k in templated):
        raise RenderError("none of the body template's placeholders has a value in this row")
    return _nest(body)


_OMIT = object()


def _render_value(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, Mapping):
        return {k: r for k, v in value.items() if (r := _render_value(v, context)) is not _OMIT}
    if not isinstance(value, str):
        return value
    names = template_names(value)
    if any(name not in context for name in names):
        return _OMIT
    whole = _WHOLE.match(value)
    if whole:
        return context[whole.group(1)]
    return substitute(value, {n: "" if context[n] is None else context[n] for n in names})


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """`{"a.b": 1}` -> `{"a": {"b": 1}}`, so flattened record names can be written back."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = nested
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return nested


def same_value(held: Any, wanted: Any) -> bool:
    """Whether the API already holds `wanted` (text and numbers compared as text)."""
    if held == wanted:
        return True
    if held in (None, "") or wanted in (None, ""):
        return held in (None, "") and wanted in (None, "")
    return str(held) == str(wanted)


class RowWriter:
    """Sends one stream's write-back rows and reports each row's outcome, in input order."""

    def __init__(self, http: HttpClient, config: WriteConfig, source: str | None) -> None:
        self.http, self.config, self.source = http, config, source

    def write(self, rows: Sequence[Upsert]) -> WriteReport:
        """Write `rows`; each is applied, unchanged or rejected with a reason."""
        results: dict[int, RowResult] = {}
        planned = [p for p in self._plan(rows, results) if not self._is_current(p, results)]
        for chunk in _chunks(planned, self.config.batch_size):
            if self.config.batch_size == 1:
                results[chunk[0].index] = self._send_one(chunk[0])
            else:
                results.update(self._send_batch(chunk))
        report = WriteReport([results[i] for i in range(len(rows))])
        log.info(
            "%s: wrote %d rows: %d applied, %d unchanged, %d rejected",
            self.source or "rest",
            len(rows),
            report.count(RowStatus.APPLIED),
            report.count(RowStatus.UNCHANGED),
            report.count(RowStatus.REJECTED),
        )
        return report

    def _plan(self, rows: Sequence[Upsert], results: dict[int, RowResult]) -> Iterator[_Planned]:
        for index, row in enumerate(rows):
            try:
                path = render_path(self.config.path, row_context(row))
                body = render_body(self.config.body, row)
            except RenderError as exc:
                results[index] = _result(row, RowStatus.REJECTED, str(exc))
                continue
            sent = flatten(body)
            if self.config.batch_size > 1 and self.config.body == "fields":
                body = {self.config.id_field: row.external_id, **body}
            yield _Planned(index, row, path, body, sent)

    def _is_current(self, plan: _Planned, results: dict[int, RowResult]) -> bool:
        """Read the record first (when configured); True when the row needs no write (it is
        unchanged, or rejected because its record cannot be read)."""
        if self.config.current is None or plan.row.external_id is None:
            return False
        try:
            path = render_path(self.config.current, row_context(plan.row))
            body = self.http.get_json(path)
        except RenderError as exc:
            results[plan.index] = _result(plan.row, RowStatus.REJECTED, str(exc))
            return True
        except HttpStatusError as exc:
            results[plan.index] = _result(plan.row, RowStatus.REJECTED, _reason(exc))
            return True
        try:
            records = select_records(body, self.config.current_selector)
        except ValueError:
            records = []
        held = flatten(records[0]) if records and isinstance(records[0], Mapping) else {}
        if held and all(same_value(held.get(k), v) for k, v in plan.sent.items()):
            results[plan.index] = _result(plan.row, RowStatus.UNCHANGED)
            return True
        return False

    def _send_one(self, plan: _Planned) -> RowResult:
        try:
            self.http.request(
                self.config.method,
                plan.path,
                json=plan.body,
                **self._idempotency(plan.row.idempotency_key),
            )
        except HttpStatusError as exc:
            return _result(plan.row, RowStatus.REJECTED, _reason(exc))
        return _result(plan.row, RowStatus.APPLIED)

    def _send_batch(self, chunk: list[_Planned]) -> dict[int, RowResult]:
        items = [p.body for p in chunk]
        body: Any = {self.config.batch_key: items} if self.config.batch_key else items
        key = hashlib.sha256("\n".join(p.row.idempotency_key for p in chunk).encode()).hexdigest()
        try:
            response = self.http.request(
                self.config.method, chunk[0].path, json=body, **self._idempotency(key)
            )
        except HttpStatusError as exc:
            reason = f"batch refused: {_reason(exc)}"
            return {p.index: _result(p.row, RowStatus.REJECTED, reason) for p in chunk}
        item_results = self._item_results(response, len(chunk))
        return {
            p.index: _item_result(p.row, outcome)
            for p, outcome in zip(chunk, item_results, strict=True)
        }

    def _item_results(self, response: Any, count: int) -> list[Any]:
        if self.config.results_path is None:
            return [None] * count
        body = self.http.json_of(response, self.config.method, self.config.path)
        found = select_path(body, self.config.results_path, default=None)
        if not isinstance(found, list) or len(found) != count:
            log.warning(
                "%s: batch response has no %d results at %r; rows counted as applied",
                self.source or "rest",
                count,
                self.config.results_path,
            )
            return [None] * count
        return found

    def _idempotency(self, key: str) -> dict[str, Any]:
        header = self.config.idempotency_header
        return {"idempotency_key": key, "idempotency_header": header} if header else {}


def _item_result(row: Upsert, outcome: Any) -> RowResult:
    """A batch item's own result: a status >= 400 or an `error(s)` entry rejects the row."""
    if not isinstance(outcome, Mapping):
        return _result(row, RowStatus.APPLIED)
    status = outcome.get("status")
    error = outcome.get("error") or outcome.get("errors")
    failed = (isinstance(status, int) and status >= 400) or bool(error)
    if not failed:
        return _result(row, RowStatus.APPLIED)
    code = outcome.get("code")
    if code is None and isinstance(error, Mapping):
        code = error.get("code")
    parts = [f"status {status}" if status else "", f"vendor code {code}" if code else ""]
    detail = ", ".join(p for p in parts if p) or "error"
    return _result(row, RowStatus.REJECTED, f"rejected in batch ({detail})")


def _reason(exc: HttpStatusError) -> str:
    return str(exc).removeprefix(f"{exc.source}: ") if exc.source else str(exc)


def _result(row: Upsert, status: RowStatus, reason: str = "") -> RowResult:
    return RowResult(row.external_id, row.idempotency_key, status, reason)


def _chunks(items: list[_Planned], size: int) -> Iterator[list[_Planned]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
