"""Helpers of the spreadsheet tests: real CSV, XLSX and ODS files and connectors over them."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd

from crmhub.connectors.base import Batch, StreamState
from crmhub.connectors.spreadsheet import SpreadsheetConfig, SpreadsheetConnector

Table = Sequence[Sequence[Any]]

HEADER = ["id", "first_name", "last_name", "city", "updated_at"]
ROWS: list[list[Any]] = [
    ["1", "Zoë", "Müller", "Köln", "2024-01-01"],
    ["2", "François", "Lefèvre", "Besançon", "2024-01-02"],
    ["3", "Ana", "Peña", "Málaga", "2024-01-02"],
    ["4", "Jörg", "Strauß", "Düsseldorf", "2024-01-03"],
]


def write_csv(
    path: Path, table: Table, *, encoding: str = "utf-8", delimiter: str = ",", bom: bool = False
) -> Path:
    """Write `table` as CSV bytes in the given encoding, optionally with a UTF-8 BOM."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(table)
    data = buffer.getvalue().encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def write_xlsx(path: Path, table: Table, *, sheet: str = "Customers", extra: bool = True) -> Path:
    """An XLSX with the table on `sheet` and, by default, a second sheet that must survive."""
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.title = sheet
    for row in table:
        ws.append(list(row))
    if extra:
        book.create_sheet("Notes").append(["keep", "me"])
    book.save(path)
    return path


def write_ods(path: Path, table: Table, *, sheet: str = "Customers") -> Path:
    """An ODS with the table on `sheet` and a second sheet."""
    with pd.ExcelWriter(path, engine="odf") as writer:
        header, *rows = table
        frame = pd.DataFrame(rows, columns=list(header), dtype=object)
        frame.to_excel(writer, sheet_name=sheet, index=False)
        pd.DataFrame([["keep", "me"]]).to_excel(
            writer, sheet_name="Notes", index=False, header=False
        )
    return path


WRITERS: dict[str, Callable[[Path, Table], Path]] = {
    "csv": write_csv,
    "xlsx": write_xlsx,
    "ods": write_ods,
}


def make_file(tmp_path: Path, fmt: str, table: Table, name: str = "customers") -> Path:
    """Write `table` as a file of format `fmt` named `name.<fmt>` in `tmp_path`."""
    return WRITERS[fmt](tmp_path / f"{name}.{fmt}", table)


def connector(path: Path, **options: Any) -> SpreadsheetConnector:
    """A connector over `path`; options go into its config (key defaults to 'id')."""
    options.setdefault("key", "id")
    config = SpreadsheetConfig.model_validate({"type": "spreadsheet", "path": str(path), **options})
    return SpreadsheetConnector(config, name="sheet")


def stream_of(conn: SpreadsheetConnector) -> str:
    """The one stream name the connector discovers."""
    return conn.discover()[0].name


def read_all(conn: SpreadsheetConnector, state: StreamState | None = None) -> list[Batch]:
    """Every batch of one read."""
    return list(conn.read(stream_of(conn), state))


def records_of(batches: Sequence[Batch]) -> list[dict[str, Any]]:
    """All records of the batches, in order."""
    return [dict(r) for b in batches for r in b.records]
