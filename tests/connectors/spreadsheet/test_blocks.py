"""The columnar CSV path over many blocks gives what the per-line path gives."""

from __future__ import annotations

from pathlib import Path

from spreadsheet_files import connector, read_all, records_of

from crmhub.connectors.base import RecordFrame

ROWS = 40_000  # several 1 MiB blocks


def _write(path: Path) -> Path:
    lines = ["id;name;city"]
    for i in range(1, ROWS + 1):
        lines.append(f"{i};Name {i};Köln")
    lines[1000] = "1000;too;many;fields"  # line 1001
    lines[20000] = '20000;"Multi\nline";"Bonn"'  # line 20001, the record spans two lines
    lines[30000] = ";no key;Wien"
    body = "\n".join(lines).encode("cp1252") + b"\n"
    bad_at = body.index(b"\n25000;") + 1
    body = body[:bad_at] + b"\x81\x81;x;y\n" + body[bad_at:]  # undecodable, before line 25001
    path.write_bytes(body)
    return path


def test_blocks_reject_bad_lines_with_their_numbers(tmp_path: Path) -> None:
    path = _write(tmp_path / "big.csv")
    batches = read_all(connector(path, encoding="cp1252", chunk_size=7_000))
    assert all(isinstance(b.records, RecordFrame) for b in batches)
    assert [len(b.records) for b in batches][:-1] == [7_000] * (len(batches) - 1)
    rejected = {r.position: r.reason for b in batches for r in b.rejected}
    # the quoted record adds a line after 20001, the undecodable line another one at 25002
    assert set(rejected) == {"line 1001", "line 25002", "line 30003"}
    assert "has 4 fields" in rejected["line 1001"]
    assert "cannot decode" in rejected["line 25002"]
    assert rejected["line 30003"] == "the key is empty"
    records = records_of(batches)
    assert len(records) == ROWS - 2
    by_id = {r["id"]: r for r in records}
    assert by_id["20000"]["name"] == "Multi\nline"
    assert by_id["39999"] == {"id": "39999", "name": "Name 39999", "city": "Köln"}
    positions = {
        b.records[i]["id"]: b.positions[i]
        for b in batches
        for i in range(len(b.records))
        if b.records[i]["id"] in {"19999", "20000", "20001", "29999"}
    }
    assert positions == {
        "19999": "line 20000",
        "20000": "line 20001",
        "20001": "line 20003",
        "29999": "line 30002",
    }


def test_resume_mid_file_continues_after_rows_done(tmp_path: Path) -> None:
    path = _write(tmp_path / "big.csv")
    conn = connector(path, encoding="cp1252", chunk_size=9_000)
    full = read_all(conn)
    resumed = read_all(conn, full[1].state_after)
    ids = [r["id"] for b in full[2:] for r in b.records]
    assert [r["id"] for b in resumed for r in b.records] == ids
