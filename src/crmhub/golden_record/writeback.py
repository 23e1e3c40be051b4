"""Write-back planning: what each system lacks of the golden record, and bookkeeping of sends.

The plan compares what a source last told us (its full record, rebuilt from `raw` and the
canonical columns) with the golden record, so only differences are sent, and a repeated plan
after a successful write is empty. After a write the stored row and content hash are patched to
what the source now holds, so reading our own echo back is not mistaken for a change.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa

from crmhub.canonical import CANONICAL_FIELDS
from crmhub.connectors.base import RowStatus, Upsert, WriteReport
from crmhub.golden_record import models, payload
from crmhub.golden_record.staging import StagingPlan, canonical_row, content_hash

_CHUNK = 5000

if TYPE_CHECKING:
    from crmhub.config.loader import SourceDefinition


def plan_writeback(engine: sa.Engine, source: SourceDefinition, stream: str) -> list[Upsert]:
    """Upserts carrying only the fields whose golden value the source does not hold yet."""
    settings = source.settings.writeback
    columns = _writable_columns(source)
    record, golden = models.SourceRecord.__table__, models.GoldenCustomer.__table__
    sources = payload.single_sources(source.settings.mapping)
    held = [record.c[name].label(f"held_{name}") for name in sorted(set(sources.values()))]
    query = (
        sa.select(
            record.c.source_id,
            record.c.raw,
            *held,
            golden.c.golden_id,
            *golden.c[tuple(columns)],
        )
        .join(golden, golden.c.golden_id == record.c.golden_id)
        .where(record.c.source == source.name, record.c.stream == stream)
        .where(record.c.deleted.is_(False))
        .order_by(record.c.id)
    )
    upserts = []
    with engine.connect() as conn:
        for row in conn.execute(query).mappings():
            desired = _desired_fields(row, columns, settings.golden_id_field)
            changes = _changes(_source_view(row, sources), desired)
            if changes:
                key = _idempotency_key(source.name, stream, row["source_id"], changes)
                upserts.append(Upsert(row["source_id"], row["golden_id"], changes, key))
    return upserts


def apply_report(
    engine: sa.Engine,
    run_id: int,
    source: SourceDefinition,
    stream: str,
    upserts: Sequence[Upsert],
    report: WriteReport,
    *,
    key: Sequence[str],
) -> dict[str, int]:
    """Log every row's outcome, quarantine rejected rows and patch the applied payloads."""
    now = datetime.now(UTC)
    plan = StagingPlan.build(key, source.settings.mapping, _echo_fields(source))
    applied = []
    with engine.begin() as conn:
        logs = [
            _log_row(run_id, source.name, stream, upsert, result, now)
            for upsert, result in zip(upserts, report.rows, strict=True)
        ]
        if logs:
            conn.execute(sa.insert(models.WritebackLog), logs)
        for upsert, result in zip(upserts, report.rows, strict=True):
            if result.status is RowStatus.REJECTED:
                _quarantine(conn, run_id, source.name, stream, upsert, result.reason, now)
            elif result.status is RowStatus.APPLIED:
                applied.append(upsert)
        _patch_payloads(conn, source.name, stream, applied, plan)
    return dict(Counter(row.status.value for row in report.rows))


def _writable_columns(source: SourceDefinition) -> dict[str, str]:
    """Canonical field -> the one source column that receives it."""
    mapping = source.settings.mapping
    return {
        canonical: mapping[canonical]
        for canonical in source.settings.writeback.fields
        if isinstance(mapping.get(canonical), str)
    }


def _desired_fields(
    row: Mapping[str, Any], columns: Mapping[str, str], golden_id_field: str | None
) -> dict[str, Any]:
    desired: dict[str, Any] = {}
    if golden_id_field:
        desired[golden_id_field] = row["golden_id"]
    for canonical, column in columns.items():
        if row[canonical] is not None:
            desired[column] = row[canonical]
    return desired


def _source_view(
    row: Mapping[str, Any] | sa.RowMapping, sources: Mapping[str, str]
) -> dict[str, Any]:
    """The record as the source holds it, from a row with `raw` and `held_<column>` labels."""
    canonical = {column: row[f"held_{column}"] for column in set(sources.values())}
    return payload.rebuild_record(row["raw"], canonical, sources)


def _changes(raw: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in desired.items() if not _same(raw.get(k), v)}


def _same(current: Any, wanted: Any) -> bool:
    if current is None or wanted is None:
        return current is None and wanted is None
    return str(current).strip() == str(wanted).strip()


def _idempotency_key(source: str, stream: str, source_id: str, changes: Mapping[str, Any]) -> str:
    material = orjson.dumps([source, stream, source_id, changes], option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(material, digest_size=16).hexdigest()


def _log_row(
    run_id: int, source: str, stream: str, upsert: Upsert, result: Any, now: datetime
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "source": source,
        "stream": stream,
        "external_id": upsert.external_id,
        "golden_id": upsert.golden_id,
        "idempotency_key": upsert.idempotency_key,
        "status": result.status.value,
        "reason": result.reason or None,
        "at": now,
    }


def _quarantine(
    conn: sa.Connection,
    run_id: int,
    source: str,
    stream: str,
    upsert: Upsert,
    reason: str,
    now: datetime,
) -> None:
    conn.execute(
        sa.insert(models.Quarantine).values(
            run_id=run_id,
            source=source,
            stream=stream,
            position=f"write-back of {upsert.external_id}",
            reason=reason,
            raw=orjson.dumps(dict(upsert.fields), default=str).decode(),
            at=now,
        )
    )


def _patch_payloads(
    conn: sa.Connection, source: str, stream: str, applied: Sequence[Upsert], plan: StagingPlan
) -> None:
    """Make the stored row and hash what the source holds now that the write landed.

    Written fields that fill a canonical column update that column; the others (the golden id
    column) update `raw`. The hash is recomputed over the full record, as staging computes it.
    """
    table = models.SourceRecord.__table__
    scope = (table.c.source == source) & (table.c.stream == stream)
    by_id = {u.external_id: u for u in applied if u.external_id is not None}
    ids = list(by_id)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        query = sa.select(table.c.id, table.c.source_id, table.c.raw, *table.c[CANONICAL_FIELDS])
        rows = conn.execute(query.where(scope & table.c.source_id.in_(chunk))).mappings().all()
        updates = [_patched_row(row, by_id[row["source_id"]].fields, plan) for row in rows]
        if updates:
            values: dict[str, Any] = {
                name: sa.bindparam(f"new_{name}") for name in ("raw", *plan.columns)
            }
            statement = (
                sa.update(table)
                .where(table.c.id == sa.bindparam("record_id"))
                .values(content_hash=sa.bindparam("new_hash"), **values)
            )
            conn.execute(statement, updates)


def _patched_row(
    row: Mapping[str, Any] | sa.RowMapping, fields: Mapping[str, Any], plan: StagingPlan
) -> dict[str, Any]:
    """Bind values of one patched row: raw, canonical columns and hash of the full record."""
    sources = plan.single_sources
    patched = {**payload.rebuild_record(row["raw"], row, sources), **fields}
    update = {
        "record_id": row["id"],
        "new_raw": payload.dump_raw(patched, sources, str),
        "new_hash": content_hash(patched, plan),
    }
    for name, value in zip(plan.columns, canonical_row(patched, plan), strict=True):
        update[f"new_{name}"] = value
    return update


def _echo_fields(source: SourceDefinition) -> tuple[str, ...]:
    name = source.settings.writeback.golden_id_field
    return (name,) if name else ()
