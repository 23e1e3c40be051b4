"""Conformance target of the `google_sheets` kind: a tab of the Sheets fake, behind Prism.

Sample rows are rows of a "Customers" tab (id, names, email and an ISO "Updated" column that
is the cursor); the connector logs in with an OAuth2 refresh token, so the token endpoint and
the renewal after a 401 are exercised too. One fake and one Prism proxy serve the whole
session (`shared_sheets`); each target resets the fake and uses fresh random credentials.
Faults are injected on the Sheets paths only, not on the token endpoint.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.fakes.google_sheets import FakeSheets, FakeTab, shared_sheets

from crmhub.connectors.base import Connector, Upsert
from crmhub.connectors.google_sheets import GoogleSheetsConfig, GoogleSheetsConnector
from crmhub.testing import ConformanceTarget, Fault, SampleRow

SPREADSHEET = "1CrmHubConformance-0123456789"
TAB = "Customers"
HEADER = ["Customer ID", "First Name", "Last Name", "Email", "Updated"]
GOLDEN_FIELD = "crmhub_id"
SHEETS_PATHS = "/v4/"
SECRET_ENV = "CRMHUB_CONFORMANCE_SHEETS_CLIENT_SECRET"
REFRESH_ENV = "CRMHUB_CONFORMANCE_SHEETS_REFRESH"
WRONG_ENV = "CRMHUB_CONFORMANCE_SHEETS_WRONG_REFRESH"


class GoogleSheetsTarget(ConformanceTarget):
    """The "Customers" tab of one spreadsheet in the shared Sheets fake."""

    kind = "google_sheets"
    stream = TAB

    def __init__(self, tmp_path: Path) -> None:
        self.fake: FakeSheets
        self.fake, self.url = shared_sheets()
        self.fake.reset()
        self.access_token = f"ya29.{secrets.token_hex(16)}"
        self.client_secret = f"GOCSPX-{secrets.token_hex(12)}"
        self.refresh_token = f"1//{secrets.token_hex(16)}"
        self.wrong = f"1//wrong-{secrets.token_hex(8)}"
        self.fake.tokens = {self.access_token}
        self.fake.client_secret = self.client_secret
        self.fake.refresh_tokens = {self.refresh_token: self.access_token}
        os.environ[SECRET_ENV], os.environ[REFRESH_ENV] = self.client_secret, self.refresh_token
        os.environ[WRONG_ENV] = self.wrong

    def connector(
        self, *, bad_credentials: bool = False, batch_size: int | None = None
    ) -> Connector:
        block: dict[str, Any] = {
            "type": "google_sheets",
            "base_url": self.url,
            "spreadsheet_id": SPREADSHEET,
            "sheet": TAB,
            "key": "Customer ID",
            "cursor": "Updated",
            "requests_per_minute": 1_000_000,
            "auth": {
                "type": "oauth2_refresh_token",
                "token_url": f"{self.fake.server.url}/token",
                "client_id": "crmhub-conformance.apps.googleusercontent.com",
                "client_secret": {"env": SECRET_ENV},
                "refresh_token": {"env": WRONG_ENV if bad_credentials else REFRESH_ENV},
            },
        }
        if batch_size is not None:
            block["batch_size"] = batch_size
        return GoogleSheetsConnector(GoogleSheetsConfig.model_validate(block), name="sheet")

    def seed(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        self.fake.add_tab(SPREADSHEET, TAB, [list(HEADER)])
        return self.change(rows)

    def change(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        tab = self._tab()
        by_id = {r[0]: r for r in tab.rows[1:] if r}
        for row in rows:
            cells = [
                row.id,
                row.first_name,
                row.last_name,
                row.email,
                row.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            ]
            if row.id in by_id:
                by_id[row.id][: len(cells)] = cells
            else:
                tab.rows.append(cells)
                by_id[row.id] = cells
        tab.row_count = len(tab.rows) + 5
        return {row.id: row.id for row in rows}

    def add_bad_row(self) -> None:
        """A row whose key cell is empty."""
        tab = self._tab()
        tab.rows.append(["", "No", "Key", "nokey@example.com", "2024-05-01T09:00:00Z"])
        tab.row_count = len(tab.rows) + 5

    def upserts(self, ids: Mapping[str, str]) -> list[Upsert]:
        return [
            Upsert(
                source_id,
                f"G-{sample_id}",
                {GOLDEN_FIELD: f"G-{sample_id}", "Email": f"{sample_id}@golden.example"},
                f"idem-{sample_id}",
            )
            for sample_id, source_id in ids.items()
        ]

    def inject(self, fault: Fault) -> None:
        self.fake.server.inject(replace(fault, path_prefix=fault.path_prefix or SHEETS_PATHS))

    def request_times(self) -> list[float]:
        return [r.at for r in self.fake.server.requests if r.path.startswith(SHEETS_PATHS)]

    def secrets(self) -> list[str]:
        return [self.access_token, self.client_secret, self.refresh_token, self.wrong]

    def close(self) -> None:
        self.fake.reset()

    def _tab(self) -> FakeTab:
        if TAB not in self.fake.spreadsheets.get(SPREADSHEET, {}):
            return self.fake.add_tab(SPREADSHEET, TAB, [list(HEADER)])
        return self.fake.tab(SPREADSHEET, TAB)


TARGETS: list[tuple[str, Callable[[Path], ConformanceTarget]]] = [
    ("google_sheets", GoogleSheetsTarget),
]
