"""Survivorship: pick each golden field's value from a cluster's records, with provenance.

The chain here is the default one of the golden-record section in STYLE.md: highest source trust
first, then the most recent `source_updated_at`, then the smallest record id, skipping empty
values. Every step is a total order, so the same records always give byte-identical golden
records. It is vectorised with pandas (one sort, then one pass per field), because it runs on
every record of a run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from crmhub.canonical import CANONICAL_FIELDS

RULE_ONLY_VALUE = "only_value"
RULE_SOURCE_TRUST = "source_trust"
RULE_MOST_RECENT = "most_recent"
RULE_LOWEST_RECORD_ID = "lowest_record_id"


@dataclass(frozen=True)
class Survivor:
    """The winning value of one field, where it came from and the rule that chose it."""

    value: str
    source: str
    record_id: int
    rule: str

    def provenance(self) -> dict[str, Any]:
        """The JSON form stored in `golden_customer.provenance[field]`."""
        return {"source": self.source, "record_id": self.record_id, "rule": self.rule}


def rank_members(members: pd.DataFrame, trust: Mapping[str, int]) -> pd.DataFrame:
    """Sort members best-first within each cluster: trust, recency, record id.

    `members` needs columns cluster, record_id, source, source_updated_at; unknown sources get
    trust 0 and unparseable timestamps rank as oldest.
    """
    ranked = members.assign(
        _trust=members["source"].map(dict(trust)).fillna(0).astype("int64"),
        _ts=pd.to_datetime(
            members["source_updated_at"], errors="coerce", utc=True, format="ISO8601"
        ),
    )
    return ranked.sort_values(
        ["cluster", "_trust", "_ts", "record_id"],
        ascending=[True, False, False, True],
        na_position="last",
        kind="mergesort",
    )


def survive(
    ranked: pd.DataFrame, fields: Sequence[str] = CANONICAL_FIELDS
) -> dict[Any, dict[str, Survivor]]:
    """Survivors per cluster and field from members ranked by `rank_members`.

    Clusters whose members are all empty for a field get no entry for it (the value is NULL).
    """
    result: dict[Any, dict[str, Survivor]] = {c: {} for c in ranked["cluster"].unique()}
    for field in fields:
        for cluster, survivor in _survive_field(ranked, field):
            result[cluster][field] = survivor
    return result


def _survive_field(ranked: pd.DataFrame, field: str) -> list[tuple[Any, Survivor]]:
    values = ranked[field]
    filled = values.notna() & (values.astype("string").str.strip() != "")
    candidates = ranked.loc[filled, ["cluster", "record_id", "source", "_trust", "_ts", field]]
    first = candidates.duplicated("cluster", keep="first")
    winners = candidates[~first]
    runners = candidates[first].drop_duplicates("cluster", keep="first")
    both = winners.merge(runners, on="cluster", how="left", suffixes=("", "_next"))
    rules = _rules(both)
    return [
        (cluster, Survivor(str(value), str(source), int(record_id), rule))
        for cluster, value, source, record_id, rule in zip(
            both["cluster"], both[field], both["source"], both["record_id"], rules, strict=True
        )
    ]


def _rules(both: pd.DataFrame) -> list[str]:
    """Which step of the chain decided each winner against the runner-up."""
    alone = both["record_id_next"].isna()
    by_trust = both["_trust"] > both["_trust_next"]
    newer = both["_ts"].notna() & (both["_ts_next"].isna() | (both["_ts"] > both["_ts_next"]))
    rules = pd.Series(RULE_LOWEST_RECORD_ID, index=both.index, dtype=object)
    rules[newer] = RULE_MOST_RECENT
    rules[by_trust] = RULE_SOURCE_TRUST
    rules[alone] = RULE_ONLY_VALUE
    return rules.tolist()
