"""Survivorship chains: each step, aggregates, validators, provenance and order-independence."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from crmhub.canonical import CANONICAL_FIELDS
from crmhub.config.models import SurvivorshipSettings
from crmhub.golden_record.survivorship import survive

TRUST = {"crm": 3, "accounting": 2, "web": 1}


def members(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.insert(0, "record_id", range(1, len(frame) + 1))
    for column in CANONICAL_FIELDS:
        if column not in frame:
            frame[column] = None
    return frame


CUSTOMER = members(
    [
        {
            "cluster": 1,
            "source": "web",
            "email": "ann@example.com",
            "first_name": "Ann",
            "phone": "+1 212 555 0101",
            "balance": "10.50",
            "credit_limit": None,
            "source_updated_at": "2026-05-01T00:00:00Z",
        },
        {
            "cluster": 1,
            "source": "crm",
            "email": "not-an-email",
            "first_name": "Annabel",
            "phone": "12",
            "balance": None,
            "credit_limit": "500",
            "source_updated_at": "2024-01-01T00:00:00Z",
        },
        {
            "cluster": 1,
            "source": "accounting",
            "email": "ann.old@example.com",
            "first_name": "Ann",
            "phone": "+1 212 555 0199",
            "balance": "100",
            "credit_limit": "2500",
            "source_updated_at": "2025-01-01T00:00:00Z",
        },
    ]
)


def pick(
    settings: dict[str, object], field: str, data: pd.DataFrame = CUSTOMER
) -> dict[str, object]:
    chosen = survive(data, TRUST, SurvivorshipSettings.model_validate(settings))[1][field]
    return {"value": chosen.value, **chosen.provenance()}


def test_default_chain_is_trust_then_recency() -> None:
    assert pick({}, "email") == {
        "value": "not-an-email",
        "source": "crm",
        "record_id": 2,
        "rule": "source_trust",
    }


@pytest.mark.parametrize(
    ("chain", "field", "value", "rule"),
    [
        (["most_recent"], "email", "ann@example.com", "most_recent"),
        (["valid", "source_trust"], "email", "ann.old@example.com", "source_trust"),
        (["valid", "source_trust"], "phone", "+1 212 555 0199", "source_trust"),
        (["most_frequent", "source_trust"], "first_name", "Ann", "most_frequent"),
        (["longest"], "first_name", "Annabel", "longest"),
    ],
)
def test_each_step(chain: list[str], field: str, value: str, rule: str) -> None:
    chosen = pick({"fields": {field: chain}}, field)
    assert (chosen["value"], chosen["rule"]) == (value, rule)


def test_source_priority_per_field_beats_trust() -> None:
    settings = {
        "fields": {"email": {"rules": ["valid", "source_trust"], "source_priority": ["web"]}}
    }
    assert pick(settings, "email")["source"] == "web"


@pytest.mark.parametrize(
    ("how", "value", "record"), [("sum", "110.5", 1), ("max", "2500", 3), ("min", "500", 2)]
)
def test_aggregates_name_every_record(how: str, value: str, record: int) -> None:
    field = "balance" if how == "sum" else "credit_limit"
    chosen = pick({"fields": {field: {"aggregate": how}}}, field)
    assert (chosen["value"], chosen["rule"], chosen["record_id"]) == (value, how, record)
    assert chosen["records"] == ([1, 3] if how == "sum" else [2, 3])


def test_ties_end_on_the_smallest_record_and_order_does_not_matter() -> None:
    twins = members(
        [
            {"cluster": 1, "source": "web", "first_name": "Bo"},
            {"cluster": 1, "source": "web", "first_name": "Bob"},
            {"cluster": 2, "source": "crm", "first_name": "Cy"},
        ]
    )
    settings = SurvivorshipSettings()
    forward = survive(twins, TRUST, settings)
    backward = survive(twins.iloc[::-1], TRUST, settings)
    assert forward == backward
    assert forward[1]["first_name"].value == "Bo"
    assert forward[1]["first_name"].rule == "lowest_record_id"
    assert forward[2]["first_name"].rule == "only_value"


def test_all_invalid_values_leave_the_field_empty() -> None:
    bad = members([{"cluster": 1, "source": "crm", "email": "nope"}])
    chosen = survive(
        bad, TRUST, SurvivorshipSettings.model_validate({"fields": {"email": ["valid"]}})
    )
    assert "email" not in chosen[1]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"fields": {"emial": ["most_recent"]}}, "unknown golden field"),
        ({"fields": {"email": ["newest"]}}, "valid"),
        (
            {"fields": {"balance": {"aggregate": "sum", "rules": ["most_recent"]}}},
            "either aggregated",
        ),
        (
            {"fields": {"email": {"rules": ["most_recent"], "source_priority": ["crm"]}}},
            "source_trust",
        ),
    ],
)
def test_mistakes_are_named(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SurvivorshipSettings.model_validate(settings)
