"""Survivorship: pick each golden field's value from a cluster's records, with provenance.

Each field has a *chain* (``survivorship:`` in hub.yaml, `SurvivorshipSettings`): optional
``valid`` (drop values that fail the field's validator: an e-mail without a domain, a phone that
is no number, an impossible date), then ordering steps tried in turn until one prefers a value --
``source_trust`` (the field's ``source_priority`` list, else each source's ``trust``),
``most_recent`` (the source's own ``source_updated_at``), ``most_frequent`` (the value most
records of the cluster agree on), ``longest`` (the most complete value) -- and always, last, the
smallest record id, so the same records give byte-identical golden records in any order. A field
may instead be an aggregate over the cluster (``sum``, ``max``, ``min``: total balance over the
accounting accounts). Every value records its winning source, record and the step that decided
it (``provenance``); an aggregate records the rule and every contributing record.

Vectorised with pandas: per field one sort of the cluster's candidate values by the chain's keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crmhub.canonical import CANONICAL_FIELDS
from crmhub.config.models import FieldSurvivorship, SurvivorshipSettings

RULE_ONLY_VALUE = "only_value"
"""No record of the cluster holds another value for the field."""
RULE_LOWEST_RECORD_ID = "lowest_record_id"

_SORT_KEYS: dict[str, tuple[str, bool]] = {
    "source_trust": ("_trust", False),
    "most_recent": ("_ts", False),
    "most_frequent": ("_freq", False),
    "longest": ("_len", False),
}
"""Ordering step -> (helper column, ascending)."""


@dataclass(frozen=True)
class Survivor:
    """The winning value of one field, where it came from and the rule that chose it."""

    value: str
    source: str
    record_id: int
    rule: str
    records: tuple[int, ...] = field(default=())
    """Every contributing record of an aggregate (empty for a picked value)."""

    def provenance(self) -> dict[str, Any]:
        """The JSON form stored in `golden_customer.provenance[field]`."""
        out: dict[str, Any] = {
            "source": self.source,
            "record_id": self.record_id,
            "rule": self.rule,
        }
        if self.records:
            out["records"] = list(self.records)
        return out


def survive(
    members: pd.DataFrame,
    trust: Mapping[str, int],
    settings: SurvivorshipSettings | None = None,
    fields: Sequence[str] = CANONICAL_FIELDS,
    *,
    default_region: str = "US",
) -> dict[Any, dict[str, Survivor]]:
    """Survivors per cluster and field.

    Args:
        members: columns cluster, record_id, source, source_updated_at and the fields.
        trust: source name -> trust (higher wins); unknown sources count as 0.
        settings: the chains; None = the default chain for every field.
        default_region: for the phone validator of the ``valid`` step.

    Clusters whose members are all empty for a field get no entry for it (the value is NULL).
    """
    settings = settings or SurvivorshipSettings()
    base = members.assign(
        _ts=pd.to_datetime(
            members["source_updated_at"], errors="coerce", utc=True, format="ISO8601"
        )
    )
    result: dict[Any, dict[str, Survivor]] = {c: {} for c in base["cluster"].unique()}
    for name in fields:
        chain = settings.chain(name)
        found = (
            _aggregate(base, name, chain.aggregate)
            if chain.aggregate
            else _pick(base, name, chain, trust, default_region)
        )
        for cluster, survivor in found:
            result[cluster][name] = survivor
    return result


def _filled(base: pd.DataFrame, name: str) -> pd.DataFrame:
    values = base[name]
    keep = values.notna() & (values.astype("string").str.strip() != "")
    return base.loc[keep]


def _pick(
    base: pd.DataFrame,
    name: str,
    chain: FieldSurvivorship,
    trust: Mapping[str, int],
    default_region: str,
) -> list[tuple[Any, Survivor]]:
    candidates = _filled(base, name)
    if "valid" in chain.rules:
        candidates = candidates.loc[_valid(candidates[name], name, default_region)]
    if candidates.empty:
        return []
    candidates = _with_keys(candidates, name, chain, trust)
    steps = [step for step in chain.rules if step in _SORT_KEYS]
    columns = ["cluster"] + [_SORT_KEYS[s][0] for s in steps] + ["record_id"]
    ascending = [True] + [_SORT_KEYS[s][1] for s in steps] + [True]
    ranked = candidates.sort_values(columns, ascending=ascending, na_position="last", kind="stable")
    winners = ranked.drop_duplicates("cluster", keep="first")
    # the runner-up is the best record with another value: what the winning value beat
    text = ranked[name].astype("string").str.strip()
    winning = text.groupby(ranked["cluster"]).transform("first")
    runners = ranked[text != winning].drop_duplicates("cluster", keep="first")
    both = winners.merge(runners, on="cluster", how="left", suffixes=("", "_next"))
    rules = _deciding_steps(both, steps)
    return [
        (cluster, Survivor(str(value), str(source), int(record_id), rule))
        for cluster, value, source, record_id, rule in zip(
            both["cluster"], both[name], both["source"], both["record_id"], rules, strict=True
        )
    ]


def _with_keys(
    candidates: pd.DataFrame, name: str, chain: FieldSurvivorship, trust: Mapping[str, int]
) -> pd.DataFrame:
    """The helper columns the chain's ordering steps sort on (higher is better)."""
    if chain.source_priority:
        listed = chain.source_priority
        rank = candidates["source"].map({src: len(listed) - i for i, src in enumerate(listed)})
    else:
        rank = candidates["source"].map(dict(trust))
    text = candidates[name].astype("string").str.strip()
    frequency = text.groupby([candidates["cluster"], text]).transform("size")
    return candidates.assign(
        _trust=rank.fillna(0).astype("int64"),
        _freq=frequency.astype("int64"),
        _len=text.str.len().astype("int64"),
    )


def _deciding_steps(both: pd.DataFrame, steps: Sequence[str]) -> list[str]:
    """Which step of the chain preferred each winner to the runner-up (first that differs)."""
    rules = pd.Series(RULE_LOWEST_RECORD_ID, index=both.index, dtype=object)
    decided = pd.Series(False, index=both.index)
    for step in steps:
        column = _SORT_KEYS[step][0]
        mine, theirs = both[column], both[f"{column}_next"]
        better = mine.notna() & (theirs.isna() | (mine > theirs))
        rules[better & ~decided] = step
        decided |= better | (mine.notna() & theirs.notna() & (mine != theirs))
    rules[both["record_id_next"].isna()] = RULE_ONLY_VALUE
    return rules.tolist()


def _valid(values: pd.Series, name: str, default_region: str) -> np.ndarray:
    """Values the field's validator accepts (fields without one: all)."""
    from crmhub.matching.normalize import normalize_date, normalize_email, normalize_phone

    validators = {
        "email": normalize_email,
        "phone": lambda v: normalize_phone(v, default_region=default_region),
        "birth_date": normalize_date,
    }
    if name not in validators:
        return np.ones(len(values), dtype=bool)
    return validators[name](values.astype(object)).notna().to_numpy()


def _aggregate(base: pd.DataFrame, name: str, how: str) -> list[tuple[Any, Survivor]]:
    """sum/max/min of the cluster's values; numbers when they all parse, else text (max/min).

    The provenance names every contributing record; its record is the one holding the max/min
    (for a sum, the smallest record id)."""
    candidates = _filled(base, name)
    numbers = pd.to_numeric(candidates[name], errors="coerce")
    if how == "sum" or numbers.notna().all():
        candidates = candidates.assign(_value=numbers).dropna(subset=["_value"])
    else:
        candidates = candidates.assign(_value=candidates[name].astype(str))
    if candidates.empty:
        return []
    ordered = candidates.sort_values(
        ["cluster", "_value", "record_id"], ascending=[True, how == "min", True], kind="stable"
    )
    chosen = ordered.drop_duplicates("cluster", keep="first").set_index("cluster")
    groups = candidates.groupby("cluster", sort=False)
    if how == "sum":
        chosen["_value"] = groups["_value"].sum()
        chosen["record_id"] = groups["record_id"].min()
    records = groups["record_id"].agg(lambda ids: tuple(sorted(int(i) for i in ids)))
    sources = groups["source"].agg(lambda names: ",".join(sorted(set(map(str, names)))))
    return [
        (c, Survivor(_text(value), sources[c], int(record), how, records[c]))
        for c, value, record in zip(
            chosen.index, chosen["_value"], chosen["record_id"], strict=True
        )
    ]


def _text(value: Any) -> str:
    """Numbers without a spurious ".0"; anything else as it is."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):.2f}".rstrip("0").rstrip(".")
    return str(value)
