"""Conformance target of the `creditsafe` kind: the Creditsafe fake with one monitoring portfolio.

Sample rows are customers, Creditsafe knows companies: a row becomes the company
"<first> <last> Ltd" with a registration number from the sample id, its email the company's
contact address (read into an extra column), and its `updated_at` the date its rating changed.
Seeding fills the portfolio without events (adding a company sends none); a change of a known
row is a notification event at the row's time, a new row a company added to the portfolio. The
bad row is a portfolio company whose report has no company id and a credit limit of "n/a".
Write-back puts the golden id into the portfolio entry's personal reference, plus a note.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.fakes.creditsafe import CreditsafeFake, FakeCompany

from crmhub.connectors.base import Connector, Upsert
from crmhub.connectors.creditsafe import CreditsafeConfig, CreditsafeConnector
from crmhub.testing import ConformanceTarget, SampleRow
from crmhub.testing.target import Fault

USERNAME = "crmhub-conformance@example.com"
PASSWORD = "cs-pass-7Hq2-conformance"
BAD_PASSWORD = "cs-wrong-pass-91Zx"
PORTFOLIO = "1234567"


class CreditsafeTarget(ConformanceTarget):
    """A fresh Creditsafe fake for one test, stopped in close()."""

    kind = "creditsafe"

    def __init__(self, tmp_path: Path) -> None:
        self.fake = CreditsafeFake(username=USERNAME, password=PASSWORD)
        self.fake.add_portfolio(PORTFOLIO, "Customers")
        self.url = self.fake.start() + "/v1"
        self.dir = tmp_path
        (tmp_path / "password").write_text(PASSWORD + "\n")
        (tmp_path / "bad_password").write_text(BAD_PASSWORD + "\n")
        self.ids: dict[str, str] = {}

    def connector(
        self, *, bad_credentials: bool = False, batch_size: int | None = None
    ) -> Connector:
        password = "bad_password" if bad_credentials else "password"
        block: dict[str, Any] = {
            "type": "creditsafe",
            "base_url": self.url,
            "username": USERNAME,
            "password": {"file": str(self.dir / password)},
            "portfolio_id": PORTFOLIO,
            "requests_per_second": 1000,
            "extra_fields": {"email": "report.contactInformation.emailAddresses.0"},
        }
        if batch_size is not None:
            block["page_size"] = batch_size
        return CreditsafeConnector(
            CreditsafeConfig.model_validate(block), name="creditsafe-conformance"
        )

    def seed(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        self.fake.reset()
        self.ids = {}
        return {row.id: self._add(row) for row in rows}

    def change(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        changed = {}
        for row in rows:
            if row.id in self.ids:
                self.fake.change_company(self.ids[row.id], row.updated_at, **_fields(row))
                changed[row.id] = self.ids[row.id]
            else:
                changed[row.id] = self._add(row)
        return changed

    def add_bad_row(self) -> None:
        company = FakeCompany(id="GB-0-99999999", name="Broken Ltd", reg_no="99999999", broken=True)
        self.fake.add_company(company, PORTFOLIO)

    def upserts(self, ids: Mapping[str, str]) -> list[Upsert]:
        return [
            Upsert(
                external_id=source_id,
                golden_id=f"G-{sample_id}",
                fields={"personal_reference": f"G-{sample_id}", "free_text": f"crmhub {sample_id}"},
                idempotency_key=f"{sample_id}:golden:v1",
            )
            for sample_id, source_id in ids.items()
        ]

    def inject(self, fault: Fault) -> None:
        self.fake.inject(fault)

    def request_times(self) -> list[float]:
        return [r.at for r in list(self.fake.requests)]

    def secrets(self) -> list[str]:
        return [PASSWORD, BAD_PASSWORD, *self.fake.tokens]

    def close(self) -> None:
        self.fake.stop()

    def _add(self, row: SampleRow) -> str:
        number = int(row.id.lstrip("c"))
        company_id = f"GB-0-{number:08d}"
        company = FakeCompany(
            id=company_id, reg_no=f"{number:08d}", rating_changed=row.updated_at, **_fields(row)
        )
        self.fake.add_company(company, PORTFOLIO)
        self.ids[row.id] = company_id
        return company_id


def _fields(row: SampleRow) -> dict[str, Any]:
    return {"name": f"{row.first_name} {row.last_name} Ltd", "email": row.email}


TARGETS: list[tuple[str, Callable[[Path], ConformanceTarget]]] = [("creditsafe", CreditsafeTarget)]
