"""Reading Customers: keyset paging over the query endpoint, or change data capture.

Both paths share one bookmark, `{"cursor": <UTC ISO>, "boundary": {Id: SyncToken}}`: the last
LastUpdatedTime delivered and the versions already delivered at exactly that second. A resumed
read asks for `LastUpdatedTime >= cursor` and drops only those versions, so a customer changed
again within the same second (new SyncToken) is delivered, and nothing is lost or repeated
whichever batch's state a crashed run resumes from.

Paging does not walk STARTPOSITION over the whole table, which shifts when a customer changes
mid-read; each page starts at the newest time seen so far, and STARTPOSITION only steps over
a run of customers sharing one second that is longer than a page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crmhub.connectors.base import Batch, RejectedRecord, StreamState
from crmhub.connectors.quickbooks.config import CDC_MAX_DAYS, CDC_MAX_ENTITIES
from crmhub.connectors.quickbooks.records import (
    CURSOR,
    DELETED,
    KEY,
    GoldenIdSlot,
    entity_time,
    to_record,
)
from crmhub.errors import SourceContractError

log = logging.getLogger(__name__)

CDC_SAFETY = timedelta(hours=1)
"""CDC is used only for cursors at least this far inside its 30-day window."""

Fetch = Callable[[str, Mapping[str, Any]], Any]
"""GET a path under the company with query parameters; returns the JSON body."""


@dataclass
class Bookmark:
    """The newest LastUpdatedTime delivered and the (Id -> SyncToken) delivered at it."""

    cursor: datetime | None = None
    boundary: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, state: StreamState | None) -> Bookmark:
        """From a stream state; an unreadable state is a contract error, not a full re-read."""
        if not state or state.get("cursor") is None:
            return cls()
        try:
            cursor = datetime.fromisoformat(str(state["cursor"])).astimezone(UTC)
            boundary = {str(k): str(v) for k, v in dict(state.get("boundary") or {}).items()}
        except (TypeError, ValueError):
            raise SourceContractError(f"unreadable quickbooks state: {state!r:.120}") from None
        return cls(cursor, boundary)

    def dump(self) -> StreamState:
        """JSON-serialisable stream state."""
        if self.cursor is None:
            return {}
        return {"cursor": self.cursor.isoformat(), "boundary": dict(sorted(self.boundary.items()))}

    def is_new(self, cid: str, version: str, when: datetime) -> bool:
        """False for a version this bookmark says was delivered already."""
        if self.cursor is None:
            return True
        if when < self.cursor:
            return False
        return not (when == self.cursor and self.boundary.get(cid) == version)

    def advance(self, cid: str, version: str, when: datetime) -> None:
        """Record that this version was delivered."""
        if self.cursor is None or when > self.cursor:
            self.cursor, self.boundary = when, {}
        if when == self.cursor:
            self.boundary[cid] = version


@dataclass(frozen=True)
class ReadPlan:
    """What a read needs from the connector: how to fetch, and how to shape records."""

    fetch: Fetch
    slot: GoldenIdSlot
    page_size: int
    use_cdc: bool
    include_inactive: bool
    cdc_limit: int = CDC_MAX_ENTITIES
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


def read_customers(plan: ReadPlan, state: StreamState | None) -> Iterator[Batch]:
    """Batches of customer records changed since `state` (all customers when None)."""
    mark = Bookmark.load(state)
    if mark.cursor is not None and plan.use_cdc and _cdc_allowed(mark.cursor, plan.now()):
        entities = _cdc_entities(plan, mark.cursor)
        if entities is not None:
            yield from _batches_of(plan, mark, entities)
            return
        log.info("CDC returned its maximum of entities; reading with the query instead")
    yield from _query_pages(plan, mark)


def _cdc_allowed(cursor: datetime, now: datetime) -> bool:
    return cursor >= now - timedelta(days=CDC_MAX_DAYS) + CDC_SAFETY


def _cdc_entities(plan: ReadPlan, cursor: datetime) -> list[dict[str, Any]] | None:
    """Changed customers since `cursor`, oldest first; None when CDC may have cut the list."""
    # one second early: whether CDC's changedSince is inclusive or not, the cursor's second is in
    since = (cursor - timedelta(seconds=1)).isoformat()
    body = plan.fetch("cdc", {"entities": "Customer", "changedSince": since})
    entities = _cdc_customers(body)
    if len(entities) >= plan.cdc_limit:
        return None
    return sorted(entities, key=_order_key)


def _cdc_customers(body: Any) -> list[Any]:
    try:
        found: list[Any] = []
        for response in body["CDCResponse"]:
            for query in response.get("QueryResponse") or []:
                found += query.get("Customer") or []
        return found
    except (KeyError, TypeError, AttributeError):
        raise SourceContractError("CDC answer without CDCResponse[].QueryResponse[]") from None


def _order_key(entity: Any) -> tuple[datetime, int, str]:
    try:
        when = entity_time(entity)
    except (ValueError, AttributeError):
        when = datetime.max.replace(tzinfo=UTC)
    cid = str(entity.get("Id", "")) if isinstance(entity, Mapping) else ""
    return (when, len(cid), cid)


def _batches_of(plan: ReadPlan, mark: Bookmark, entities: list[Any]) -> Iterator[Batch]:
    for start in range(0, len(entities), plan.page_size):
        chunk = entities[start : start + plan.page_size]
        yield _batch(plan, mark, chunk, f"CDC item {start + 1}")


def _query_pages(plan: ReadPlan, mark: Bookmark) -> Iterator[Batch]:
    """Keyset pages ordered by LastUpdatedTime, each starting at the newest time seen."""
    position = 1
    while True:
        lower = mark.cursor
        page = _query_page(plan, lower, position)
        batch = _batch(plan, mark, page, f"query page at STARTPOSITION {position}")
        if batch.records or batch.rejected or len(page) < plan.page_size:
            yield batch
        if len(page) < plan.page_size:
            return
        if mark.cursor == lower:
            position += len(page)  # a whole page within one second: step over it
        else:
            position = 1


def _query_page(plan: ReadPlan, lower: datetime | None, position: int) -> list[Any]:
    where = ["Active IN (true, false)"] if plan.include_inactive else []
    if lower is not None:
        where.append(f"MetaData.LastUpdatedTime >= '{lower.isoformat()}'")
    query = "select * from Customer"
    if where:
        query += " where " + " AND ".join(where)
    query += f" ORDERBY MetaData.LastUpdatedTime STARTPOSITION {position}"
    query += f" MAXRESULTS {plan.page_size}"
    body = plan.fetch("query", {"query": query})
    return query_entities(body)


def query_entities(body: Any) -> list[Any]:
    """The Customer list of a query answer (QBO leaves the key out when there are none)."""
    try:
        response = body["QueryResponse"]
        customers = response.get("Customer") or []
    except (KeyError, TypeError, AttributeError):
        raise SourceContractError("query answer without QueryResponse") from None
    if not isinstance(customers, list):
        raise SourceContractError("QueryResponse.Customer is not a list")
    return customers


def _batch(plan: ReadPlan, mark: Bookmark, entities: Sequence[Any], where: str) -> Batch:
    records: list[dict[str, Any]] = []
    positions: list[str] = []
    rejected: list[RejectedRecord] = []
    for index, entity in enumerate(entities):
        position = f"{where}, item {index + 1}"
        try:
            if not isinstance(entity, Mapping):
                raise ValueError("Customer is not a JSON object")
            record = to_record(entity, plan.slot)
        except ValueError as exc:
            rejected.append(RejectedRecord(position, str(exc), _raw(entity)))
            continue
        when = datetime.fromisoformat(record[CURSOR])
        version = str(record.get("SyncToken") or "")
        if not mark.is_new(record[KEY], version, when):
            continue
        mark.advance(record[KEY], version, when)
        if plan.include_inactive or record.get("Active") is not False or record.get(DELETED):
            records.append(record)
            positions.append(f"Customer Id={record[KEY]}")
    return Batch(records, mark.dump(), rejected, positions)


def _raw(entity: Any) -> str:
    try:
        return json.dumps(entity, sort_keys=True, default=str)[:2000]
    except (TypeError, ValueError):
        return repr(entity)[:2000]
