"""Conformance targets of the `rest` kind: the generic customer API fake, two configurations.

`rest-api-key` reads with page-number paging and an `updated_since` query parameter behind an
API key; `rest-oauth2` reads with `Link` headers and `If-Modified-Since` behind OAuth2 client
credentials, so both incremental carriers and a refreshing auth go through the suite. Faults are
injected on the customer paths only: the token endpoint is a separate service at most vendors.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from tests.fakes.rest_api import (
    API_KEY,
    CLIENT_ID,
    CLIENT_SECRET,
    EPOCH,
    RestApiFake,
    customer,
    parse_time,
)

from crmhub.connectors.base import Connector, Upsert
from crmhub.connectors.rest import RestConfig, RestConnector
from crmhub.testing import ConformanceTarget, Fault, SampleRow

GOLDEN_FIELD = "custom.crmhub_id"
KEY_ENV = "CRMHUB_CONFORMANCE_REST_API_KEY"
SECRET_ENV = "CRMHUB_CONFORMANCE_REST_CLIENT_SECRET"
BAD_ENV = "CRMHUB_CONFORMANCE_REST_WRONG_SECRET"
WRITE = {
    "method": "PATCH",
    "path": "/customers/{external_id}",
    "body": "fields",
    "current": "/customers/{external_id}",
    "current_selector": "data",
}


class RestTarget(ConformanceTarget):
    """Customers of one fake API; sample rows become its JSON customers, id for id."""

    kind = "rest"
    auth_style: ClassVar[str] = "api_key"

    paging: ClassVar[str] = "page_number"

    def __init__(self, tmp_path: Path) -> None:
        self.fake = RestApiFake(auth=self.auth_style, paging=self.paging)
        self.fake.start()
        self.wrong = f"wrong-{secrets.token_hex(8)}"
        os.environ[KEY_ENV], os.environ[SECRET_ENV] = API_KEY, CLIENT_SECRET
        os.environ[BAD_ENV] = self.wrong

    def connector(
        self, *, bad_credentials: bool = False, batch_size: int | None = None
    ) -> Connector:
        block: dict[str, Any] = {
            "type": "rest",
            "base_url": self.fake.url,
            "auth": self.auth(bad_credentials),
            "retry": {"backoff": 0.05, "max_backoff": 0.2},
            "error_code_path": "error.code",
            "streams": [self.stream_block(batch_size or 50)],
        }
        return RestConnector(RestConfig.model_validate(block), name="crm")

    def auth(self, bad_credentials: bool) -> dict[str, Any]:
        """The auth block; with `bad_credentials` its secret is one the API refuses."""
        env = BAD_ENV if bad_credentials else KEY_ENV
        return {"type": "api_key", "name": "X-API-Key", "value": {"env": env}}

    def stream_block(self, page_size: int) -> dict[str, Any]:
        """The customers stream with the given page size."""
        return {
            "name": "customers",
            "path": "/customers",
            "record_selector": "data.items",
            "primary_key": "id",
            "pagination": {"type": "page_number", "page_size": page_size},
            "incremental": {"cursor_field": "updated_at", "param": "updated_since"},
            "write": WRITE,
        }

    def seed(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        self.fake.seed([])
        return self.change(rows)

    def change(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        for row in rows:
            self.fake.upsert(
                customer(row.id, row.first_name, row.last_name, row.email, row.updated_at)
            )
        return {row.id: row.id for row in rows}

    def add_bad_row(self) -> None:
        """A customer without an id, sorted among the good ones."""
        times = [parse_time(r["updated_at"]) for r in self.fake.records.values()]
        self.fake.add_bad_row(min(times, default=EPOCH))

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
        self.fake.inject(replace(fault, path_prefix=fault.path_prefix or "/customers"))

    def request_times(self) -> list[float]:
        return [r.at for r in self.fake.requests if r.path.startswith("/customers")]

    def secrets(self) -> list[str]:
        return [
            API_KEY,
            CLIENT_SECRET,
            self.wrong,
            *self.fake.access_tokens,
            *self.fake.refresh_tokens,
        ]

    def close(self) -> None:
        self.fake.stop()


class RestOAuth2Target(RestTarget):
    """Link-header paging, If-Modified-Since and OAuth2 client credentials."""

    auth_style: ClassVar[str] = "oauth2"
    paging: ClassVar[str] = "link_header"

    def auth(self, bad_credentials: bool) -> dict[str, Any]:
        return {
            "type": "oauth2_client_credentials",
            "token_url": f"{self.fake.url}/oauth/token",
            "client_id": CLIENT_ID,
            "client_secret": {"env": BAD_ENV if bad_credentials else SECRET_ENV},
        }

    def stream_block(self, page_size: int) -> dict[str, Any]:
        return {
            "name": "customers",
            "path": "/customers",
            "record_selector": "$",
            "primary_key": "id",
            "pagination": {
                "type": "link_header",
                "page_size_param": "limit",
                "page_size": page_size,
            },
            "incremental": {"cursor_field": "updated_at", "header": "If-Modified-Since"},
            "write": WRITE,
        }


TARGETS: list[tuple[str, Callable[[Path], ConformanceTarget]]] = [
    ("rest-api-key", RestTarget),
    ("rest-oauth2", RestOAuth2Target),
]
