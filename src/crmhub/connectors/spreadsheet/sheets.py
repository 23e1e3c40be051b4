"""Write-back into XLSX and ODS workbooks.

An XLSX file up to `XLSX_IN_PLACE_MAX_BYTES` is edited in place with openpyxl, which keeps
other sheets, formatting and formulas. Larger XLSX files and all ODS files are rebuilt from
cell values (python-calamine reads, openpyxl write-only or pandas' odf engine writes): every
sheet and value is kept, formatting, formulas and merged cells are not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import python_calamine

from crmhub.connectors.base import Upsert, join_key
from crmhub.connectors.spreadsheet.readers import as_name, normalize_cell, trim_header
from crmhub.connectors.spreadsheet.writers import AtomicFile, UpsertPlan

XLSX_IN_PLACE_MAX_BYTES = 8 << 20
"""Above this size an XLSX is rebuilt in write-only mode, so memory does not follow its size."""


def write_workbook(
    path: Path,
    file_format: str,
    sheet: str,
    header_row: int,
    key: Sequence[str],
    rows: Sequence[Upsert],
) -> UpsertPlan:
    """Apply `rows` to `sheet` and replace the file when a cell changes."""
    if file_format == "xlsx" and path.stat().st_size <= XLSX_IN_PLACE_MAX_BYTES:
        return _edit_xlsx(path, sheet, header_row, key, rows)
    return _rebuild(path, file_format, sheet, SheetEdit(rows, key, header_row))


def _edit_xlsx(
    path: Path, sheet: str, header_row: int, key: Sequence[str], rows: Sequence[Upsert]
) -> UpsertPlan:
    book = openpyxl.load_workbook(path, keep_vba=path.suffix.lower() == ".xlsm")
    ws = book[sheet]
    columns = {as_name(c.value): c.column for c in ws[header_row] if as_name(c.value)}
    plan = UpsertPlan(rows, list(columns))
    first_new = ws.max_column + 1
    columns.update({name: first_new + i for i, name in enumerate(plan.new_columns)})
    for cells in ws.iter_rows(min_row=header_row + 1):
        width = len(cells)
        values = {n: normalize_cell(cells[c - 1].value) for n, c in columns.items() if c <= width}
        key_values = [values.get(k) for k in key]
        if None in key_values:
            continue
        for name, value in plan.apply(join_key(key_values), values).items():
            ws.cell(row=cells[0].row, column=columns[name], value=value)
    if plan.is_changed:
        for name in plan.new_columns:
            ws.cell(row=header_row, column=columns[name], value=name)
        with AtomicFile(path) as out:
            out.fh.close()
            book.save(out.path)
            out.commit()
    return plan


class SheetEdit:
    """Applies upserts to a stream of sheet rows (lists of cell values, row 1 first)."""

    def __init__(self, rows: Sequence[Upsert], key: Sequence[str], header_row: int) -> None:
        self._rows = rows
        self._key = key
        self._header_row = header_row
        self.plan = UpsertPlan(rows, [])
        self._columns: dict[str, int] = {}
        self._width = 0

    def run(self, rows: Iterator[list[Any]]) -> Iterator[list[Any]]:
        """Every row, in order: the header with new columns, data rows with changed cells."""
        for number, row in enumerate(rows, 1):
            if number == self._header_row:
                yield self._header(row)
            elif number > self._header_row:
                yield self._row(row)
            else:
                yield row

    def _header(self, row: list[Any]) -> list[Any]:
        names = [as_name(v) for v in row]
        self.plan = UpsertPlan(self._rows, trim_header(names))
        self._columns = {name: i for i, name in enumerate(names) if name}
        self._columns.update({n: len(row) + i for i, n in enumerate(self.plan.new_columns)})
        self._width = max(self._columns.values(), default=-1) + 1
        return [*row, *self.plan.new_columns]

    def _row(self, row: list[Any]) -> list[Any]:
        values = {n: normalize_cell(row[i]) for n, i in self._columns.items() if i < len(row)}
        key_values = [values.get(k) for k in self._key]
        if None in key_values:
            return row
        changes = self.plan.apply(join_key(key_values), values)
        if changes:
            row = row + [None] * (self._width - len(row))
            for name, value in changes.items():
                row[self._columns[name]] = value
        return row


def _rebuild(path: Path, file_format: str, sheet: str, edit: SheetEdit) -> UpsertPlan:
    with python_calamine.CalamineWorkbook.from_path(str(path)) as book:
        names = list(book.sheet_names)
        with AtomicFile(path) as out:
            out.fh.close()
            sheets = ((n, _values(book, n, edit if n == sheet else None)) for n in names)
            if file_format == "xlsx":
                _save_xlsx(out.path, sheets)
            else:
                _save_ods(out.path, sheets)
            if edit.plan.is_changed:
                out.commit()
    return edit.plan


def _values(
    book: python_calamine.CalamineWorkbook, name: str, edit: SheetEdit | None
) -> Iterator[list[Any]]:
    """A sheet's rows from row 1 and column A, empty cells as None."""
    sheet = book.get_sheet_by_name(name)
    pad = [None] * (sheet.start[1] if sheet.start else 0)
    rows = ([*pad, *(None if v == "" else v for v in raw)] for raw in sheet.iter_rows())
    return edit.run(rows) if edit is not None else rows


def _save_xlsx(target: Path, sheets: Iterator[tuple[str, Iterator[list[Any]]]]) -> None:
    book = openpyxl.Workbook(write_only=True)
    for name, rows in sheets:
        ws = book.create_sheet(name)
        for row in rows:
            ws.append(row)
    book.save(target)


def _save_ods(target: Path, sheets: Iterator[tuple[str, Iterator[list[Any]]]]) -> None:
    with pd.ExcelWriter(target, engine="odf") as writer:
        for name, rows in sheets:
            table = list(rows)
            width = max(map(len, table), default=0)
            frame = pd.DataFrame([[*r, *[None] * (width - len(r))] for r in table], dtype=object)
            frame.to_excel(writer, sheet_name=name, header=False, index=False)
