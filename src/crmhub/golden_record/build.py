"""Turn matching's clusters into golden records with stable ids, history and cross-references.

One transaction per build: members are loaded with one join, ids assigned and survivors chosen
in pandas, and only what differs from the database is written (bulk executemany). Re-running a
build on the same records and clusters therefore writes no golden row, no xref and no event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from crmhub.canonical import CANONICAL_FIELDS
from crmhub.config.models import SurvivorshipSettings
from crmhub.golden_record import golden_sql
from crmhub.golden_record.customer_lookup import refresh_lookup_keys
from crmhub.golden_record.ids import mint_golden_id
from crmhub.golden_record.survivorship import Survivor, survive

_MAX_SALT = 1000


@dataclass(frozen=True)
class GoldenStats:
    """What a build did: golden records created, updated, retired by merges, left unchanged."""

    created: int = 0
    updated: int = 0
    merged: int = 0
    unchanged: int = 0
    records: int = 0


@dataclass
class Assignment:
    """The golden id of each cluster, and the ids retired into a survivor by this build."""

    golden_of: dict[Any, str]
    minted: dict[Any, str]
    retired: dict[str, str] = field(default_factory=dict)
    split_from: dict[Any, str] = field(default_factory=dict)


def build_golden(
    engine: sa.Engine,
    run_id: int,
    clusters: pd.DataFrame,
    pairs: pd.DataFrame,
    *,
    trust: Mapping[str, int],
    now: datetime | None = None,
    survivorship: SurvivorshipSettings | None = None,
    default_region: str = "US",
) -> GoldenStats:
    """Write golden records for `clusters` (record_id, cluster) and evidence for `pairs`.

    Args:
        engine: the golden-record database.
        run_id: the run these rows and events belong to.
        clusters: every staged record to build from, with its cluster label.
        pairs: matching's scored pairs; those decided match or review become match_evidence.
        trust: source name -> trust (higher wins survivorship); unknown sources count as 0.
        now: timestamp written to changed rows and events (UTC now by default).
        survivorship: the hub's per-field chains (default: trust, then most recent).
        default_region: region of phones without a country code, for the ``valid`` step.
    """
    now = now or datetime.now(UTC)
    with engine.begin() as conn:
        members = golden_sql.load_members(conn, clusters)
        existing = golden_sql.load_golden(conn, members["golden_id"].dropna().unique())
        assignment = assign_ids(conn, members, existing)
        survivors = survive(members, trust, survivorship, default_region=default_region)
        stats, updated = _write(conn, run_id, now, members, existing, assignment, survivors)
        touched = _keys_to_refresh(conn, run_id, members, assignment, updated)
        refresh_lookup_keys(conn, touched, default_region=default_region)
        golden_sql.insert_evidence(conn, run_id, pairs)
    return stats


def assign_ids(conn: sa.Connection, members: pd.DataFrame, existing: pd.DataFrame) -> Assignment:
    """Keep existing ids (oldest wins a merge, larger part wins a split), mint the rest."""
    active = _resolve_active(members["golden_id"], existing)
    claims = members.assign(golden_id=active).dropna(subset=["golden_id"])
    owners = _owners(claims)
    created = existing.set_index("golden_id")["created_at"]
    golden_of: dict[Any, str] = {}
    retired: dict[str, str] = {}
    for cluster, ids in owners.groupby("cluster")["golden_id"]:
        ordered = sorted(ids, key=lambda g: (created.get(g), g))
        golden_of[cluster] = ordered[0]
        retired.update({other: ordered[0] for other in ordered[1:]})
    orphans = members.loc[~members["cluster"].isin(golden_of), ["cluster", "member_key"]]
    minted = _mint(conn, orphans.groupby("cluster")["member_key"].min())
    split_from = claims[claims["cluster"].isin(minted)].groupby("cluster")["golden_id"].min()
    return Assignment({**golden_of, **minted}, minted, retired, split_from.to_dict())


def _resolve_active(golden_ids: pd.Series, existing: pd.DataFrame) -> pd.Series:
    """Follow merged_into from retired ids to the id that survives them."""
    merged_into = existing.set_index("golden_id")["merged_into"].dropna().to_dict()

    def follow(golden_id: Any) -> Any:
        seen = set()
        while golden_id in merged_into and golden_id not in seen:
            seen.add(golden_id)
            golden_id = merged_into[golden_id]
        return golden_id

    return golden_ids.map(follow) if merged_into else golden_ids


def _owners(claims: pd.DataFrame) -> pd.DataFrame:
    """The cluster that keeps each existing id: most members carrying it, then smallest id."""
    counts = claims.groupby(["golden_id", "cluster"]).agg(
        members=("record_id", "size"), first=("record_id", "min")
    )
    ranked = counts.reset_index().sort_values(
        ["golden_id", "members", "first"], ascending=[True, False, True]
    )
    return ranked.drop_duplicates("golden_id", keep="first")[["golden_id", "cluster"]]


def _mint(conn: sa.Connection, smallest_keys: pd.Series) -> dict[Any, str]:
    """New ids from each cluster's smallest member key; salt bumped past any taken id."""
    minted: dict[Any, str] = {}
    pending = {cluster: 0 for cluster in smallest_keys.index}
    taken: set[str] = set()
    while pending:
        candidates = {c: mint_golden_id([smallest_keys[c]], salt) for c, salt in pending.items()}
        taken |= golden_sql.existing_ids(conn, list(candidates.values()))
        retry: dict[Any, int] = {}
        for cluster, golden_id in sorted(candidates.items(), key=lambda kv: smallest_keys[kv[0]]):
            if golden_id in taken:
                retry[cluster] = pending[cluster] + 1
                if retry[cluster] > _MAX_SALT:
                    raise RuntimeError(f"no free golden id for {smallest_keys[cluster]!r}")
            else:
                taken.add(golden_id)
                minted[cluster] = golden_id
        pending = retry
    return minted


def _write(
    conn: sa.Connection,
    run_id: int,
    now: datetime,
    members: pd.DataFrame,
    existing: pd.DataFrame,
    assignment: Assignment,
    survivors: dict[Any, dict[str, Survivor]],
) -> tuple[GoldenStats, set[str]]:
    """Write the golden rows, events and links; returns the stats and the ids whose values
    changed."""
    current = existing.set_index("golden_id").to_dict("index")
    inserts, updates, events, unchanged = [], [], [], 0
    for cluster, golden_id in assignment.golden_of.items():
        values, provenance = _golden_values(survivors.get(cluster, {}))
        if cluster in assignment.minted:
            inserts.append(_new_row(golden_id, values, provenance, now))
            details: dict[str, Any] = {"changes": _changes(values, provenance, {}, values)}
            if cluster in assignment.split_from:
                details["split_from"] = assignment.split_from[cluster]
            events.append(_event(run_id, golden_id, "created", None, details, now))
            continue
        old = current[golden_id]
        changed = [f for f in CANONICAL_FIELDS if values[f] != _none(old[f])]
        if changed:
            updates.append(
                {
                    "b_id": golden_id,
                    **values,
                    "provenance": provenance,
                    "version": int(old["version"]) + 1,
                    "updated_at": now,
                }
            )
            details = {"fields": changed, "changes": _changes(values, provenance, old, changed)}
            events.append(_event(run_id, golden_id, "updated", None, details, now))
        elif provenance != old["provenance"]:
            updates.append(
                {
                    "b_id": golden_id,
                    **values,
                    "provenance": provenance,
                    "version": int(old["version"]),
                    "updated_at": old["updated_at"],
                }
            )
            unchanged += 1
        else:
            unchanged += 1
    for retired, survivor in sorted(assignment.retired.items()):
        events.append(_event(run_id, survivor, "merged", retired, {"retired": retired}, now))
    golden_sql.insert_golden(conn, inserts)
    golden_sql.update_golden(conn, updates)
    golden_sql.retire_golden(conn, assignment.retired, now)
    golden_sql.insert_events(conn, events)
    golden_sql.link_members(conn, members, assignment.golden_of, now)
    stats = GoldenStats(
        len(inserts),
        len(updates) - _silent(updates, current),
        len(assignment.retired),
        unchanged,
        len(members),
    )
    return stats, {str(u["b_id"]) for u in updates}


def _keys_to_refresh(
    conn: sa.Connection,
    run_id: int,
    members: pd.DataFrame,
    assignment: Assignment,
    updated: set[str],
) -> list[str] | None:
    """Golden ids whose lookup keys may differ from the stored ones (None: all of them).

    Keys are a function of a customer's golden values and its records' values, so they change
    only for: created and value-updated customers, both ends of a merge, customers that gained
    or lost a record, and customers with a record changed since the last run that built golden
    records (`golden_sql.last_built_run`; without one, everything is refreshed).
    """
    since = golden_sql.last_built_run(conn, before=run_id)
    if since is None:
        return None
    target = members["cluster"].map(assignment.golden_of)
    moved = members["xref_golden"].ne(target)
    changed = pd.to_numeric(members["changed_run"], errors="coerce").fillna(run_id) > since
    ids = {*assignment.minted.values(), *updated, *assignment.retired, *assignment.retired.values()}
    ids |= set(target[moved | changed].dropna()) | set(members.loc[moved, "xref_golden"].dropna())
    return sorted(str(i) for i in ids)


def _changes(
    values: dict[str, str | None],
    provenance: dict[str, Any],
    old: dict[str, Any],
    fields: Any,
) -> dict[str, dict[str, Any]]:
    """Per changed field: old and new value and where the new one came from (source, record,
    rule), so the history alone answers "why does this customer have this phone number"."""
    return {
        f: {"old": _none(old.get(f)), "new": values[f], **provenance.get(f, {})}
        for f in fields
        if values[f] is not None or _none(old.get(f)) is not None
    }


def _silent(updates: list[dict[str, Any]], current: dict[str, Any]) -> int:
    """Updates that only refreshed provenance (no version bump)."""
    return sum(1 for u in updates if u["version"] == int(current[u["b_id"]]["version"]))


def _golden_values(
    survivors: dict[str, Survivor],
) -> tuple[dict[str, str | None], dict[str, Any]]:
    values = {f: (survivors[f].value if f in survivors else None) for f in CANONICAL_FIELDS}
    provenance = {f: s.provenance() for f, s in sorted(survivors.items())}
    return values, provenance


def _new_row(
    golden_id: str, values: dict[str, str | None], provenance: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "golden_id": golden_id,
        **values,
        "provenance": provenance,
        "version": 1,
        "status": "active",
        "merged_into": None,
        "created_at": now,
        "updated_at": now,
    }


def _event(
    run_id: int, golden_id: str, kind: str, other: str | None, details: Any, now: datetime
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "golden_id": golden_id,
        "event_type": kind,
        "other_golden_id": other,
        "details": details,
        "at": now,
    }


def _none(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and value != value) else value
