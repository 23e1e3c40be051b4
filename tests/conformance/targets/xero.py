"""Conformance target of the `xero` kind: the Xero fake behind Prism with Xero's OpenAPI document.

One fake and one Prism serve the whole session (Prism takes seconds to start); each target
resets the fake's credentials and `seed()` empties its organisation. Sample rows become contacts
named "<first> <last> (<id>)" (Xero wants unique names) changed at the sample's time. The bad
row is a contact whose UpdatedDateUTC is not a date: valid for the spec, unusable for a sync.
Bad credentials are a client secret the identity server does not know.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.fakes.xero import CLIENT_ID, XeroFake, shared_xero

from crmhub.connectors.base import Connector, Upsert
from crmhub.connectors.xero import XeroConfig, XeroConnector
from crmhub.testing import ConformanceTarget, SampleRow
from crmhub.testing.target import Fault

BAD_CLIENT_SECRET = "xero-wrong-client-secret-5e1f"
GOLDEN_FIELD = "AccountNumber"


class XeroTarget(ConformanceTarget):
    """The session's Xero fake (through Prism) with fresh credentials for this test."""

    kind = "xero"

    def __init__(self, tmp_path: Path) -> None:
        self.fake: XeroFake
        self.fake, self.url = shared_xero()
        self.fake.reset()
        self.dir = tmp_path
        self.refresh_file = tmp_path / "xero_refresh_token"
        self.refresh_file.write_text(self.fake.refresh_token + "\n")
        (tmp_path / "client_secret").write_text(self.fake.client_secret + "\n")
        (tmp_path / "bad_client_secret").write_text(BAD_CLIENT_SECRET + "\n")
        self.ids: dict[str, str] = {}

    def connector(
        self, *, bad_credentials: bool = False, batch_size: int | None = None
    ) -> Connector:
        secret = "bad_client_secret" if bad_credentials else "client_secret"
        block: dict[str, Any] = {
            "type": "xero",
            "tenant_id": self.fake.tenant_id,
            "base_url": self.url,
            "auth": {
                "type": "oauth2_refresh_token",
                "token_url": self.fake.token_url,
                "client_id": CLIENT_ID,
                "client_secret": {"file": str(self.dir / secret)},
                "refresh_token": {"file": str(self.refresh_file)},
            },
            "calls_per_minute": None,
        }
        if batch_size is not None:
            block["page_size"] = batch_size
        return XeroConnector(XeroConfig.model_validate(block), name="xero-conformance")

    def seed(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        self.fake.clear_data()
        self.ids = {}
        return self.change(rows)

    def change(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        changed = {}
        for row in rows:
            fields = {
                "Name": f"{row.first_name} {row.last_name} ({row.id})",
                "FirstName": row.first_name,
                "LastName": row.last_name,
                "EmailAddress": row.email,
            }
            if row.id in self.ids:
                self.fake.update_contact(self.ids[row.id], updated=row.updated_at, **fields)
            else:
                self.ids[row.id] = self.fake.add_contact(updated=row.updated_at, **fields)
            changed[row.id] = self.ids[row.id]
        return changed

    def add_bad_row(self) -> None:
        self.fake.add_bad_contact()

    def upserts(self, ids: Mapping[str, str]) -> list[Upsert]:
        return [
            Upsert(
                external_id=source_id,
                golden_id=f"G-{sample_id}",
                fields={GOLDEN_FIELD: f"G-{sample_id}", "EmailAddress": f"{sample_id}@golden.test"},
                idempotency_key=f"{sample_id}:golden:v1",
            )
            for sample_id, source_id in ids.items()
        ]

    def inject(self, fault: Fault) -> None:
        self.fake.api.inject(fault)

    def request_times(self) -> list[float]:
        return [r.at for r in list(self.fake.api.requests)]

    def secrets(self) -> list[str]:
        return [*self.fake.secrets(), BAD_CLIENT_SECRET]

    def close(self) -> None:
        self.fake.clear_data()


TARGETS: list[tuple[str, Callable[[Path], ConformanceTarget]]] = [("xero", XeroTarget)]
