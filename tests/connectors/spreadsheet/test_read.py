"""check(), discover() and full reads over real CSV, XLSX and ODS files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from spreadsheet_files import (
    HEADER,
    ROWS,
    connector,
    make_file,
    read_all,
    records_of,
    write_csv,
)

EXPECTED = [dict(zip(HEADER, row, strict=True)) for row in ROWS]


def test_check_and_discover(tmp_path: Path, fmt: str) -> None:
    conn = connector(make_file(tmp_path, fmt, [HEADER, *ROWS]), cursor="updated_at")
    assert conn.check().ok
    [spec] = conn.discover()
    assert spec.name == ("customers" if fmt == "csv" else "Customers")
    assert (spec.key, spec.cursor, spec.columns) == (("id",), "updated_at", tuple(HEADER))


def test_full_read_returns_exactly_the_rows(tmp_path: Path, fmt: str) -> None:
    batches = read_all(connector(make_file(tmp_path, fmt, [HEADER, *ROWS]), chunk_size=3))
    assert records_of(batches) == EXPECTED
    assert [len(b.records) for b in batches] == [3, 1]
    assert not any(b.rejected for b in batches)


def test_check_reports_a_missing_file(tmp_path: Path) -> None:
    result = connector(tmp_path / "nope.csv").check()
    assert not result.ok
    assert "nope.csv" in result.message and "not found" in result.message
    assert "\n" not in result.message


def test_check_reports_a_missing_key_column(tmp_path: Path, fmt: str) -> None:
    result = connector(make_file(tmp_path, fmt, [HEADER, *ROWS]), key="customer_no").check()
    assert not result.ok
    assert "customers." in result.message and "'customer_no'" in result.message


def test_check_reports_a_missing_sheet(tmp_path: Path) -> None:
    result = connector(make_file(tmp_path, "xlsx", [HEADER, *ROWS]), sheet="Nope").check()
    assert not result.ok and "'Nope'" in result.message and "Customers" in result.message


@pytest.mark.parametrize(
    ("encoding", "bom", "delimiter"),
    [
        ("utf-8", False, ","),
        ("utf-8", True, ","),
        ("cp1252", False, ";"),
        ("latin-1", False, "\t"),
        ("utf-8", False, "|"),
        ("utf-16", False, ","),  # Python writes the BOM itself
    ],
)
def test_csv_encoding_and_delimiter_are_detected(
    tmp_path: Path, encoding: str, bom: bool, delimiter: str
) -> None:
    path = write_csv(
        tmp_path / "c.csv", [HEADER, *ROWS], encoding=encoding, bom=bom, delimiter=delimiter
    )
    conn = connector(path)
    assert conn.check().ok
    assert records_of(read_all(conn)) == EXPECTED


def test_bad_lines_are_rejected_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    lines = [",".join(HEADER)] + [",".join(r) for r in ROWS[:2]]
    data = "\n".join(lines).encode() + b"\n5,Bad\xff\xfe,Byte,X,2024-01-04\n6,Short\n"
    path.write_bytes(data + ("\n".join(",".join(r) for r in ROWS[2:]) + "\n").encode())
    batches = read_all(connector(path, chunk_size=2))
    assert records_of(batches) == EXPECTED
    rejected = [r for b in batches for r in b.rejected]
    assert [(r.position, r.reason) for r in rejected] == [
        ("line 4", "cannot decode the line as utf-8"),
        ("line 5", "has 2 fields, the header has 5"),
    ]
    assert rejected[0].raw.startswith("5,Bad\\xff") and rejected[1].raw == "6,Short"
    positions = [p for b in batches for p in (b.positions or [])]
    assert positions == ["line 2", "line 3", "line 6", "line 7"]


def test_empty_key_is_rejected(tmp_path: Path, fmt: str) -> None:
    path = make_file(tmp_path, fmt, [HEADER, ROWS[0], ["", "No", "Key", "X", "2024"], ROWS[1]])
    batches = read_all(connector(path))
    assert records_of(batches) == EXPECTED[:2]
    [rejected] = [r for b in batches for r in b.rejected]
    assert rejected.position == ("line 3" if fmt == "csv" else "row 3")
    assert rejected.reason == "the key is empty"


def test_csv_quoted_fields_blank_lines_and_header_row(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(
        'Export of 2024\n\nid,note\n1,"two\nlines"\n\n2,"a, ""b"""\n,,\n', encoding="utf-8"
    )
    batches = read_all(connector(path, header_row=3))
    assert records_of(batches) == [{"id": "1", "note": "two\nlines"}, {"id": "2", "note": 'a, "b"'}]
    assert list(batches[0].positions or []) == ["line 4", "line 7"]


def test_xlsx_keeps_numbers_and_dates(tmp_path: Path) -> None:
    path = tmp_path / "n.xlsx"
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append(["id", "balance", "since", None])
    ws.append([1001, 12.5, dt.date(2024, 5, 1)])
    ws.append([1002, None, None])
    book.save(path)
    assert records_of(read_all(connector(path))) == [
        {"id": 1001, "balance": 12.5, "since": "2024-05-01"},
        {"id": 1002, "balance": None, "since": None},
    ]


def test_composite_key_is_checked(tmp_path: Path) -> None:
    conn = connector(make_file(tmp_path, "csv", [HEADER, *ROWS]), key=["id", "city"])
    assert conn.discover()[0].key == ("id", "city")
