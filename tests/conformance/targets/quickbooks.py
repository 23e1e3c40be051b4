"""Conformance target of the `quickbooks` kind: the stateful QBO fake, XSD-checked.

QBO publishes no OpenAPI, so there is no Prism here: the fake validates every Customer it
serves and every body it receives against Intuit's XSD, and `close()` fails the test when any
violation was recorded. Each target runs its own fake (starting one takes milliseconds).

Injected faults hit the API paths only, not the token endpoint: at Intuit these are different
hosts, and a fault meant for the customer calls must not stop a connector from logging in.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.fakes.quickbooks import CLIENT_ID, CLIENT_SECRET, TOKEN_PATH, QuickBooksFake

from crmhub.connectors.base import Connector, Upsert
from crmhub.connectors.quickbooks import QuickBooksConfig, QuickBooksConnector
from crmhub.testing import ConformanceTarget, Fault, SampleRow

GOLDEN_FIELD = "crmhub_id"
SECRET_ENV = "CRMHUB_CONFORMANCE_QBO_CLIENT_SECRET"


class QuickBooksTarget(ConformanceTarget):
    """Customers of one faked QBO company; sample rows become GivenName/FamilyName/email."""

    kind = "quickbooks"

    def __init__(self, tmp_path: Path) -> None:
        self.fake = QuickBooksFake()
        self.fake.server.start()
        self.token_file = tmp_path / "qbo_refresh_token"
        self.token_file.write_text(self.fake.refresh_token + "\n")
        self.bad_token_file = tmp_path / "qbo_refresh_token_bad"
        self.bad_token = f"rt-{secrets.token_hex(8)}"
        self.bad_token_file.write_text(self.bad_token + "\n")
        os.environ[SECRET_ENV] = CLIENT_SECRET
        self.ids: dict[str, str] = {}

    def connector(
        self, *, bad_credentials: bool = False, batch_size: int | None = None
    ) -> Connector:
        url = self.fake.server.url
        block: dict[str, Any] = {
            "type": "quickbooks",
            "realm_id": self.fake.realm_id,
            "base_url": url,
            "auth": {
                "token_url": url + TOKEN_PATH,
                "client_id": CLIENT_ID,
                "client_secret": {"env": SECRET_ENV},
                "refresh_token": {
                    "file": str(self.bad_token_file if bad_credentials else self.token_file)
                },
            },
            "golden_id_column": GOLDEN_FIELD,
            "requests_per_minute": 100_000,
        }
        if batch_size is not None:
            block["page_size"] = batch_size
        return QuickBooksConnector(QuickBooksConfig.model_validate(block), name="qbo")

    def seed(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        self.fake.reset()
        self.ids = {}
        return self.change(rows)

    def change(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        changed = {}
        for row in rows:
            fields = {
                "GivenName": row.first_name,
                "FamilyName": row.last_name,
                "DisplayName": f"{row.first_name} {row.last_name} ({row.id})",
                "PrimaryEmailAddr": {"Address": row.email},
            }
            if row.id in self.ids:
                self.fake.update(self.ids[row.id], row.updated_at, **fields)
            else:
                self.ids[row.id] = self.fake.add(row.updated_at, **fields)
            changed[row.id] = self.ids[row.id]
        return changed

    def add_bad_row(self) -> None:
        """A Customer without an Id, as a broken integration might have left behind."""
        stamp = "2024-05-01T02:00:00-07:00"
        self.fake.raw_rows.append(
            {"DisplayName": "No Id", "SyncToken": "0", "MetaData": {"LastUpdatedTime": stamp}}
        )

    def upserts(self, ids: Mapping[str, str]) -> list[Upsert]:
        return [
            Upsert(
                source_id,
                f"G-{sample_id}",
                {GOLDEN_FIELD: f"G-{sample_id}", "PrimaryEmailAddr": f"{sample_id}@golden.example"},
                f"idem-{sample_id}",
            )
            for sample_id, source_id in ids.items()
        ]

    def inject(self, fault: Fault) -> None:
        self.fake.server.inject(replace(fault, path_prefix=fault.path_prefix or self.fake.base))

    def request_times(self) -> list[float]:
        return [r.at for r in self.fake.server.requests if r.path.startswith(self.fake.base)]

    def secrets(self) -> list[str]:
        return [*self.fake.secrets(), self.bad_token]

    def close(self) -> None:
        self.fake.server.stop()
        violations, self.fake.violations = self.fake.violations, []
        assert not violations, "QBO XSD/protocol violations:\n" + "\n".join(violations)


TARGETS: list[tuple[str, Callable[[Path], ConformanceTarget]]] = [
    ("quickbooks", QuickBooksTarget),
]
