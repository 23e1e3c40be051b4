"""Conformance targets of the `hubspot` kind: the HubSpot fake, behind two kinds of credentials.

`hubspot-private-app` logs in with a private-app token (bearer); `hubspot-oauth` with an app's
OAuth2 refresh token, so the token endpoint and the renewal after a 401 go through the suite as
well. Sample rows are contacts, each with its `updated_at` as HubSpot's `lastmodifieddate`.
Faults are injected on the CRM paths only: the token endpoint is not what is being throttled.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.fakes.hubspot import HubSpotFake

from crmhub.connectors.base import Connector, Upsert
from crmhub.connectors.hubspot import HubSpotConfig, HubSpotConnector
from crmhub.testing import ConformanceTarget, Fault, SampleRow

GOLDEN_FIELD = "crmhub_id"
TOKEN_ENV = "CRMHUB_CONFORMANCE_HUBSPOT_TOKEN"
WRONG_ENV = "CRMHUB_CONFORMANCE_HUBSPOT_WRONG"
SECRET_ENV = "CRMHUB_CONFORMANCE_HUBSPOT_CLIENT_SECRET"
REFRESH_ENV = "CRMHUB_CONFORMANCE_HUBSPOT_REFRESH"
CLIENT_ID = "crmhub-conformance-app"
CRM_PATHS = "/crm/v3/objects"


class HubSpotTarget(ConformanceTarget):
    """Contacts of one HubSpot fake, read with a private-app token."""

    kind = "hubspot"
    stream = "contacts"

    def __init__(self, tmp_path: Path) -> None:
        self.token = f"pat-na1-{secrets.token_hex(12)}"
        self.wrong = f"pat-na1-wrong-{secrets.token_hex(8)}"
        self.client_secret = f"secret-{secrets.token_hex(12)}"
        self.refresh_token = f"refresh-{secrets.token_hex(12)}"
        self.fake = HubSpotFake(tokens={self.token})
        self.fake.oauth_clients[CLIENT_ID] = self.client_secret
        self.fake.refresh_tokens.add(self.refresh_token)
        self.fake.start()
        self.ids: dict[str, str] = {}
        os.environ[TOKEN_ENV], os.environ[WRONG_ENV] = self.token, self.wrong
        os.environ[SECRET_ENV], os.environ[REFRESH_ENV] = self.client_secret, self.refresh_token

    def connector(
        self, *, bad_credentials: bool = False, batch_size: int | None = None
    ) -> Connector:
        block: dict[str, Any] = {
            "type": "hubspot",
            "base_url": self.fake.server.url,
            "auth": self.auth(bad_credentials),
            "streams": {"contacts": {"extra_properties": [GOLDEN_FIELD]}},
        }
        if batch_size is not None:
            block.update(page_size=batch_size, search_page_size=batch_size)
        return HubSpotConnector(HubSpotConfig.model_validate(block), name="crm")

    def auth(self, bad_credentials: bool) -> dict[str, Any]:
        """The auth block; with `bad_credentials` a token HubSpot refuses."""
        return {"type": "bearer", "token": {"env": WRONG_ENV if bad_credentials else TOKEN_ENV}}

    def seed(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        self.fake.reset()
        self.ids.clear()
        return self.change(rows)

    def change(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        for row in rows:
            props = {"firstname": row.first_name, "lastname": row.last_name, "email": row.email}
            if row.id in self.ids:
                self.fake.update("contacts", self.ids[row.id], props, modified=row.updated_at)
            else:
                self.ids[row.id] = self.fake.add("contacts", props, modified=row.updated_at)
        return {row.id: self.ids[row.id] for row in rows}

    def add_bad_row(self) -> None:
        """A contact whose lastmodifieddate is not a timestamp."""
        self.fake.add_broken("contacts")

    def upserts(self, ids: Mapping[str, str]) -> list[Upsert]:
        return [
            Upsert(
                source_id,
                f"G-{sample_id}",
                {GOLDEN_FIELD: f"G-{sample_id}", "email": f"{sample_id}@golden.example"},
                f"idem-{sample_id}",
            )
            for sample_id, source_id in ids.items()
        ]

    def inject(self, fault: Fault) -> None:
        self.fake.inject(replace(fault, path_prefix=fault.path_prefix or CRM_PATHS))

    def request_times(self) -> list[float]:
        return [r.at for r in self.fake.requests if r.path.startswith(CRM_PATHS)]

    def secrets(self) -> list[str]:
        return [self.token, self.wrong, self.client_secret, self.refresh_token, *self.fake.tokens]

    def close(self) -> None:
        self.fake.stop()


class HubSpotOAuthTarget(HubSpotTarget):
    """The same contacts, read with an OAuth2 refresh token of a HubSpot app."""

    def auth(self, bad_credentials: bool) -> dict[str, Any]:
        return {
            "type": "oauth2_refresh_token",
            "token_url": f"{self.fake.server.url}/oauth/v1/token",
            "client_id": CLIENT_ID,
            "client_secret": {"env": SECRET_ENV},
            "refresh_token": {"env": WRONG_ENV if bad_credentials else REFRESH_ENV},
        }


TARGETS: list[tuple[str, Callable[[Path], ConformanceTarget]]] = [
    ("hubspot-private-app", HubSpotTarget),
    ("hubspot-oauth", HubSpotOAuthTarget),
]
