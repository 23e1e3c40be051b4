"""Shared helpers of the `creditsafe` tests: account constants, companies, seeding."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.creditsafe import CreditsafeFake, FakeCompany

from crmhub.connectors.base import Batch
from crmhub.connectors.creditsafe import CreditsafeConnector

USERNAME = "hub@example.com"
PASSWORD = "cs-secret-pass-4Rt9"
PORTFOLIO = "777"
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)

MakeConnector = Callable[..., CreditsafeConnector]


def config_block(url: str, **changes: Any) -> dict[str, Any]:
    """A source block for the fake at `url` reading PORTFOLIO, with `changes` applied."""
    block: dict[str, Any] = {
        "type": "creditsafe",
        "base_url": f"{url}/v1",
        "username": USERNAME,
        "password": {"env": "CREDITSAFE_PASSWORD"},
        "portfolio_id": PORTFOLIO,
        "requests_per_second": 1000,
    }
    block.update(changes)
    return {k: v for k, v in block.items() if v is not None}


def company(number: int, **fields: Any) -> FakeCompany:
    """Company number `number`: connectId GB-0-<number>, rating changed at T0 + number min."""
    values: dict[str, Any] = {
        "id": f"GB-0-{number:08d}",
        "name": f"Company {number} Ltd",
        "reg_no": f"{number:08d}",
        "rating_changed": T0 + timedelta(minutes=number),
    }
    values.update(fields)
    return FakeCompany(**values)


def seed(fake: CreditsafeFake, count: int, portfolio: str | None = PORTFOLIO) -> list[str]:
    """Companies 1..count, in the portfolio unless `portfolio` is None; returns their ids."""
    companies = [company(n) for n in range(1, count + 1)]
    for c in companies:
        fake.add_company(c, portfolio)
    return [c.id for c in companies]


def ids_of(batches: list[Batch]) -> list[str]:
    """Company ids of every record, in read order."""
    return [str(r["company_id"]) for b in batches for r in b.records]
