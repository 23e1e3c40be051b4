"""Stewardship: the review queue and the decisions people make about pairs of records.

Pairs scored between the review and auto-merge thresholds wait in `match_evidence` with the
decision ``review``. A steward answers "match" or "not a match" (or splits a record out of its
customer, which is "not a match" with every other member). Decisions are kept by the records'
stable keys (``source/stream/source_id``), never by row ids, so they survive re-ingesting the
same records; every later match honours them (`decisions_as_labels` feeds `match_records`), and
the golden records of a split cluster are rebuilt from their new members by the next run.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from crmhub.errors import CrmhubError
from crmhub.golden_record.models import (
    CustomerXref,
    MatchEvidence,
    SourceRecord,
    StewardDecision,
)
from crmhub.matching.explain import find_record

_KEY = SourceRecord.source + "/" + SourceRecord.stream + "/" + SourceRecord.source_id


def decide(
    engine: sa.Engine,
    left: str,
    right: str,
    decision: str,
    *,
    by: str,
    note: str | None = None,
    now: datetime | None = None,
) -> tuple[str, str]:
    """Record `decision` (``match`` or ``not_match``) about two records (`source:source_id`);
    a later decision about the same pair replaces the earlier one. Returns the two keys."""
    if decision not in ("match", "not_match"):
        raise CrmhubError(f"decision {decision!r}: use match or not_match")
    with engine.begin() as conn:
        ids = [find_record(conn, ref) for ref in (left, right)]
        if ids[0] == ids[1]:
            raise CrmhubError(f"{left} and {right} are the same record")
        keys = _keys(conn, ids)
        _upsert(conn, [(keys[ids[0]], keys[ids[1]])], decision, by, note, now)
    return keys[ids[0]], keys[ids[1]]


def split_out(
    engine: sa.Engine, ref: str, *, by: str, note: str | None = None, now: datetime | None = None
) -> list[str]:
    """Take record `ref` out of its customer: "not a match" with every other current member.

    Returns the keys of the members it was separated from; the next run rebuilds both golden
    records (the larger part keeps the id).
    """
    with engine.begin() as conn:
        record = find_record(conn, ref)
        golden = conn.scalar(
            sa.select(CustomerXref.golden_id).where(CustomerXref.record_id == record)
        )
        if golden is None:
            raise CrmhubError(f"record {ref!r} belongs to no golden record yet: run a sync first")
        others = conn.scalars(
            sa.select(CustomerXref.record_id).where(
                CustomerXref.golden_id == golden, CustomerXref.record_id != record
            )
        ).all()
        if not others:
            raise CrmhubError(f"record {ref!r} is already alone in golden record {golden}")
        keys = _keys(conn, [record, *others])
        pairs = [(keys[record], keys[other]) for other in others]
        _upsert(conn, pairs, "not_match", by, note, now)
    return sorted(keys[other] for other in others)


def decisions_as_labels(engine: sa.Engine) -> pd.DataFrame:
    """Every decision whose two records are staged, as DataFrame[left_id, right_id, is_match]
    in source_record ids (the labels `match_records` takes)."""
    left, right = SourceRecord.__table__.alias("l"), SourceRecord.__table__.alias("r")
    decisions = StewardDecision.__table__
    query = sa.select(
        left.c.id.label("left_id"),
        right.c.id.label("right_id"),
        (decisions.c.decision == "match").label("is_match"),
    ).select_from(
        decisions.join(
            left,
            (left.c.source + "/" + left.c.stream + "/" + left.c.source_id) == decisions.c.left_key,
        ).join(
            right,
            (right.c.source + "/" + right.c.stream + "/" + right.c.source_id)
            == decisions.c.right_key,
        )
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    frame = pd.DataFrame(rows, columns=["left_id", "right_id", "is_match"])
    return frame.astype({"left_id": "int64", "right_id": "int64", "is_match": bool})


def pending_reviews(engine: sa.Engine, limit: int = 50) -> pd.DataFrame:
    """The newest run's review pairs nobody has decided yet, most likely matches first.

    Columns: left, right (``source:source_id``), probability, rule, evidence, left_key, right_key.
    """
    evidence = MatchEvidence.__table__
    left, right = SourceRecord.__table__.alias("l"), SourceRecord.__table__.alias("r")
    newest = sa.select(sa.func.max(evidence.c.run_id)).scalar_subquery()
    query = (
        sa.select(
            left.c.source,
            left.c.stream,
            left.c.source_id,
            right.c.source,
            right.c.stream,
            right.c.source_id,
            evidence.c.probability,
            evidence.c.rule,
            evidence.c.evidence,
        )
        .select_from(
            evidence.join(left, left.c.id == evidence.c.left_id).join(
                right, right.c.id == evidence.c.right_id
            )
        )
        .where(evidence.c.run_id == newest, evidence.c.decision == "review")
        .order_by(evidence.c.probability.desc(), evidence.c.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        decided = {
            (a, b)
            for a, b in conn.execute(sa.select(StewardDecision.left_key, StewardDecision.right_key))
        }
    out = []
    for ls, lst, lid, rs, rst, rid, probability, rule, items in rows:
        keys = sorted([f"{ls}/{lst}/{lid}", f"{rs}/{rst}/{rid}"])
        if tuple(keys) in decided:
            continue
        out.append(
            {
                "left": f"{ls}:{lid}",
                "right": f"{rs}:{rid}",
                "probability": float(probability),
                "rule": rule,
                "evidence": items,
                "left_key": keys[0],
                "right_key": keys[1],
            }
        )
        if len(out) >= limit:
            break
    return pd.DataFrame(
        out,
        columns=["left", "right", "probability", "rule", "evidence", "left_key", "right_key"],
    )


def _keys(conn: sa.Connection, ids: list[int]) -> dict[int, str]:
    rows = conn.execute(sa.select(SourceRecord.id, _KEY).where(SourceRecord.id.in_(ids))).all()
    return {int(record): str(key) for record, key in rows}


def _upsert(
    conn: sa.Connection,
    pairs: list[tuple[str, str]],
    decision: str,
    by: str,
    note: str | None,
    now: datetime | None,
) -> None:
    """Insert or replace the decisions about `pairs` (keys ordered, so a pair is one row)."""
    at = now or datetime.now(UTC)
    for a, b in pairs:
        low, high = sorted((a, b))
        conn.execute(
            sa.delete(StewardDecision).where(
                StewardDecision.left_key == low, StewardDecision.right_key == high
            )
        )
        conn.execute(
            sa.insert(StewardDecision).values(
                left_key=low,
                right_key=high,
                decision=decision,
                decided_by=by,
                decided_at=at,
                note=note,
            )
        )
