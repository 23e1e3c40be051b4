"""The conformance target of the `jsonl` kind: a JSON-lines file in a temporary directory."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crmhub.connectors.base import Connector, Upsert
from crmhub.testing import ConformanceTarget, SampleRow

from crmhub_jsonl.connector import JsonLinesConnector


class JsonLinesTarget(ConformanceTarget):
    """Keeps the rows in memory and rewrites the file after each change.

    `connector_class` lets a host load the class through its entry point instead of importing
    it, as crmhub's own test of this example does.
    """

    kind = "jsonl"

    def __init__(self, tmp_path: Path, connector_class: type[Connector] = JsonLinesConnector):
        self.path = tmp_path / "customers.jsonl"
        self.cls = connector_class
        self.rows: dict[str, dict[str, Any]] = {}
        self.bad: list[str] = []
        self.save()

    def connector(
        self, *, bad_credentials: bool = False, batch_size: int | None = None
    ) -> Connector:
        if bad_credentials:
            raise NotImplementedError("a file has no credentials to refuse")
        options: dict[str, Any] = {"type": "jsonl", "path": str(self.path)}
        if batch_size is not None:
            options["batch_size"] = batch_size
        return self.cls(self.cls.config_model.model_validate(options))

    def seed(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        self.rows, self.bad = {}, []
        return self.change(rows)

    def change(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        for row in rows:
            self.rows[row.id] = {
                "id": row.id,
                "first_name": row.first_name,
                "last_name": row.last_name,
                "email": row.email,
                "updated_at": row.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        self.save()
        return {row.id: row.id for row in rows}

    def add_bad_row(self) -> None:
        self.bad.append('{"id": "c900", "first_name": "Broken')
        self.save()

    def upserts(self, ids: Mapping[str, str]) -> list[Upsert]:
        return [
            Upsert(src, f"g-{sid}", {"crmhub_id": f"g-{sid}"}, f"{sid}:crmhub_id")
            for sid, src in ids.items()
        ]

    def secrets(self) -> list[str]:
        return []

    def save(self) -> None:
        lines = [json.dumps(r, ensure_ascii=False) for r in self.rows.values()] + self.bad
        self.path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
