"""Small reads and writes around a run: open and close it, read stream state, feed matching."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from crmhub.canonical import IDENTITY_FIELDS
from crmhub.connectors.base import StreamState
from crmhub.golden_record.models import Run, SourceRecord, SyncState


def start_run(engine: sa.Engine, *, now: datetime | None = None) -> int:
    """Insert a `running` run row and return its id; every row written later points to it."""
    with engine.begin() as conn:
        result = conn.execute(
            sa.insert(Run).values(started_at=now or datetime.now(UTC), status="running")
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def finish_run(
    engine: sa.Engine,
    run_id: int,
    *,
    status: str = "succeeded",
    summary: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """Close a run with its final status (succeeded, failed) and a JSON summary of counts."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(Run)
            .where(Run.run_id == run_id)
            .values(finished_at=now or datetime.now(UTC), status=status, summary=summary)
        )


def load_state(engine: sa.Engine, source: str, stream: str) -> StreamState | None:
    """The committed state of a stream, None before its first successful batch."""
    with engine.connect() as conn:
        state = conn.execute(
            sa.select(SyncState.state).where(SyncState.source == source, SyncState.stream == stream)
        ).scalar_one_or_none()
    return dict(state) if state is not None else None


def load_match_input(
    engine: sa.Engine,
    *,
    sources: Iterable[str] | None = None,
    include_deleted: bool = False,
) -> pd.DataFrame:
    """Staged records as matching wants them: record_id, source and the identity fields.

    Args:
        engine: the golden-record database.
        sources: only these sources (all when None).
        include_deleted: also records marked deleted in their source.
    """
    columns = [SourceRecord.id.label("record_id"), SourceRecord.source]
    columns += [SourceRecord.__table__.c[name] for name in IDENTITY_FIELDS]
    query = sa.select(*columns).order_by(SourceRecord.id)
    if sources is not None:
        query = query.where(SourceRecord.source.in_(list(sources)))
    if not include_deleted:
        query = query.where(SourceRecord.deleted.is_(False))
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    frame["record_id"] = frame["record_id"].astype("int64")
    return frame
