"""Write-back: golden id column added, idempotent second write, atomic replace, rejections."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from spreadsheet_files import HEADER, ROWS, connector, make_file, read_all, records_of, write_csv

from crmhub.connectors.base import RowStatus, Upsert
from crmhub.connectors.spreadsheet import sheets


def upserts(*pairs: tuple[str | None, str], **fields: str) -> list[Upsert]:
    return [
        Upsert(ext, golden, {"crmhub_id": golden, **fields}, f"k-{ext}-{golden}")
        for ext, golden in pairs
    ]


def statuses(report: object) -> list[RowStatus]:
    return [row.status for row in report.rows]  # type: ignore[attr-defined]


def test_write_adds_golden_id_and_second_write_is_unchanged(tmp_path: Path, fmt: str) -> None:
    path = make_file(tmp_path, fmt, [HEADER, *ROWS])
    conn = connector(path)
    stream = conn.discover()[0].name
    rows = upserts(("1", "G1"), ("3", "G3"))
    assert statuses(conn.write(stream, rows)) == [RowStatus.APPLIED] * 2
    assert conn.discover()[0].columns == (*HEADER, "crmhub_id")
    records = records_of(read_all(conn))
    assert [r["crmhub_id"] for r in records] == ["G1", None, "G3", None]
    assert [[r[c] for c in HEADER] for r in records] == ROWS

    mtime = path.stat().st_mtime_ns
    assert statuses(conn.write(stream, rows)) == [RowStatus.UNCHANGED] * 2
    assert path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_unknown_key_and_missing_id_are_rejected(tmp_path: Path, fmt: str) -> None:
    path = make_file(tmp_path, fmt, [HEADER, *ROWS])
    conn = connector(path)
    report = conn.write(conn.discover()[0].name, upserts(("99", "G9"), (None, "GX"), ("2", "G2")))
    assert statuses(report) == [RowStatus.REJECTED, RowStatus.REJECTED, RowStatus.APPLIED]
    assert "'99'" in report.rows[0].reason and "existing rows" in report.rows[1].reason
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_nothing_applied_leaves_file_untouched(tmp_path: Path, fmt: str) -> None:
    path = make_file(tmp_path, fmt, [HEADER, *ROWS])
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    conn = connector(path)
    report = conn.write(conn.discover()[0].name, upserts(("99", "G9")))
    assert statuses(report) == [RowStatus.REJECTED]
    assert (path.read_bytes(), path.stat().st_mtime_ns) == (before, mtime)


def test_csv_keeps_bom_encoding_delimiter_and_untouched_bytes(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", [HEADER, *ROWS], encoding="cp1252", delimiter=";")
    path.write_bytes(path.read_bytes().replace(b"Ana", b'"Ana"').replace(b"\n", b"\r\n"))
    conn = connector(path)
    report = conn.write("c", upserts(("2", "G2"), city="Saint-Étienne"))
    assert statuses(report) == [RowStatus.APPLIED]
    lines = path.read_bytes().split(b"\r\n")
    assert lines[0] == b"id;first_name;last_name;city;updated_at;crmhub_id"
    assert lines[1] == "1;Zoë;Müller;Köln;2024-01-01;".encode("cp1252")
    assert lines[2] == "2;François;Lefèvre;Saint-Étienne;2024-01-02;G2".encode("cp1252")
    assert lines[3] == '3;"Ana";Peña;Málaga;2024-01-02;'.encode("cp1252")
    assert records_of(read_all(conn))[1]["city"] == "Saint-Étienne"


def test_csv_bom_survives_and_unencodable_value_is_rejected(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "b.csv", [HEADER, *ROWS], bom=True)
    conn = connector(path)
    assert statuses(conn.write("b", upserts(("1", "G1")))) == [RowStatus.APPLIED]
    assert path.read_bytes().startswith(b"\xef\xbb\xbfid,first_name")
    latin = write_csv(tmp_path / "l.csv", [HEADER, *ROWS], encoding="cp1252")
    report = connector(latin).write("l", upserts(("1", "G1"), city="東京"))
    assert statuses(report) == [RowStatus.REJECTED]
    assert "encoding" in report.rows[0].reason


def test_composite_key_write(tmp_path: Path) -> None:
    conn = connector(make_file(tmp_path, "csv", [HEADER, *ROWS]), key=["id", "city"])
    report = conn.write("customers", upserts(("2|Besançon", "G2"), ("2|Paris", "GX")))
    assert statuses(report) == [RowStatus.APPLIED, RowStatus.REJECTED]


def test_xlsx_keeps_other_sheets(tmp_path: Path) -> None:
    path = make_file(tmp_path, "xlsx", [HEADER, *ROWS])
    connector(path).write("Customers", upserts(("4", "G4")))
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Customers", "Notes"]
    assert [c.value for c in book["Notes"][1]] == ["keep", "me"]
    assert book["Customers"]["F5"].value == "G4"


@pytest.mark.parametrize("fmt_name", ["xlsx", "ods"])
def test_rebuilt_workbook_keeps_sheets_and_values(
    tmp_path: Path, fmt_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large XLSX (threshold lowered here) and ODS files are rebuilt from cell values."""
    monkeypatch.setattr(sheets, "XLSX_IN_PLACE_MAX_BYTES", 0)
    path = make_file(tmp_path, fmt_name, [HEADER, *ROWS])
    conn = connector(path)
    assert statuses(conn.write("Customers", upserts(("4", "G4")))) == [RowStatus.APPLIED]
    records = records_of(read_all(conn))
    assert records[3]["crmhub_id"] == "G4" and records[0]["last_name"] == "Müller"
    other = connector(path, sheet="Notes", key="keep")
    assert other.discover()[0].columns == ("keep", "me")
    assert statuses(conn.write("Customers", upserts(("4", "G4")))) == [RowStatus.UNCHANGED]


def test_rows_without_key_get_the_new_column_too(tmp_path: Path) -> None:
    rows = [ROWS[0], ["", *ROWS[1][1:]], *ROWS[2:]]
    path = make_file(tmp_path, "csv", [HEADER, *rows])
    conn = connector(path)
    stream = conn.discover()[0].name
    conn.write(stream, upserts(("1", "G1")))
    widths = {len(line.split(",")) for line in path.read_text(encoding="utf-8").splitlines()}
    assert widths == {len(HEADER) + 1}
    batches = list(conn.read(stream, None))
    assert [r.reason for b in batches for r in b.rejected] == ["the key is empty"]
