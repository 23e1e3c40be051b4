"""Conformance targets of the `spreadsheet` kind: a CSV file, an XLSX and an ODS workbook.

The target keeps the rows in memory and rewrites the whole file after every change, as a
person saving a spreadsheet would. Timestamps are ISO text in UTC with a `Z`, so text order
is time order (what the connector's cursor compares). The bad row is a line with too many
fields in the CSV file and a row with an empty key cell in a workbook.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd

from crmhub.connectors.base import Connector, Upsert
from crmhub.connectors.spreadsheet import SpreadsheetConfig, SpreadsheetConnector
from crmhub.testing import ConformanceTarget, SampleRow

HEADER = ["id", "first_name", "last_name", "email", "updated_at"]
SHEET = "Customers"
GOLDEN_FIELD = "crmhub_id"


def as_cells(row: SampleRow) -> list[Any]:
    """A sample row as the cells of one line, its time as `YYYY-MM-DDTHH:MM:SSZ`."""
    stamp = row.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return [row.id, row.first_name, row.last_name, row.email, stamp]


class SpreadsheetTarget(ConformanceTarget):
    """One file of the given format in the test's temporary directory."""

    kind = "spreadsheet"

    def __init__(self, tmp_path: Path, fmt: str) -> None:
        self.fmt = fmt
        self.path = tmp_path / f"customers.{fmt}"
        self.rows: dict[str, list[Any]] = {}
        self.bad: list[list[Any]] = []
        self.save()

    def connector(
        self, *, bad_credentials: bool = False, batch_size: int | None = None
    ) -> Connector:
        if bad_credentials:
            raise NotImplementedError("a file has no credentials to refuse")
        options: dict[str, Any] = {
            "type": "spreadsheet",
            "path": str(self.path),
            "key": "id",
            "cursor": "updated_at",
        }
        if batch_size is not None:
            options["chunk_size"] = batch_size
        return SpreadsheetConnector(SpreadsheetConfig.model_validate(options), name="sheet")

    def seed(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        self.rows = {r.id: as_cells(r) for r in rows}
        self.bad = []
        self.save()
        return {r.id: r.id for r in rows}

    def change(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        self.rows.update({r.id: as_cells(r) for r in rows})
        self.save()
        return {r.id: r.id for r in rows}

    def add_bad_row(self) -> None:
        if self.fmt == "csv":
            self.bad.append(
                ["c900", "Too", "Many", "c900@example.com", "2024-05-01T09:00:00Z", "x"]
            )
        else:
            self.bad.append([None, "No", "Key", "nokey@example.com", "2024-05-01T09:00:00Z"])
        self.save()

    def upserts(self, ids: Mapping[str, str]) -> list[Upsert]:
        return [
            Upsert(src, f"g-{sid}", {GOLDEN_FIELD: f"g-{sid}"}, f"{sid}:{GOLDEN_FIELD}")
            for sid, src in ids.items()
        ]

    def secrets(self) -> list[str]:
        return []

    def save(self) -> None:
        """Write the header, the rows and the bad rows as a file of the target's format."""
        table = [HEADER, *self.rows.values(), *self.bad]
        {"csv": write_csv, "xlsx": write_xlsx, "ods": write_ods}[self.fmt](self.path, table)


def write_csv(path: Path, table: list[list[Any]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(table)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def write_xlsx(path: Path, table: list[list[Any]]) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = SHEET
    for row in table:
        sheet.append(row)
    book.save(path)


def write_ods(path: Path, table: list[list[Any]]) -> None:
    header, *rows = table
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    with pd.ExcelWriter(path, engine="odf") as writer:
        frame.to_excel(writer, sheet_name=SHEET, index=False)


def _factory(fmt: str) -> Callable[[Path], ConformanceTarget]:
    return functools.partial(SpreadsheetTarget, fmt=fmt)


TARGETS: list[tuple[str, Callable[[Path], ConformanceTarget]]] = [
    (f"spreadsheet-{fmt}", _factory(fmt)) for fmt in ("csv", "xlsx", "ods")
]
