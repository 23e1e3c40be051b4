"""Incremental reads: cursor windows with boundary duplicates, fingerprints, crash-resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from spreadsheet_files import connector, make_file, read_all, records_of

HEADER = ["id", "name", "updated_at"]


def rows(ids: range, day: str) -> list[list[Any]]:
    return [[str(i), f"n{i}", day] for i in ids]


# Five rows share the boundary day 02, spread over chunks of two.
FIRST = [HEADER, *rows(range(1, 4), "2024-01-01"), *rows(range(4, 9), "2024-01-02")]
# Later: one more row at the boundary day and two after it; rows of day 01 unchanged.
SECOND = [*FIRST, *rows(range(9, 10), "2024-01-02"), *rows(range(10, 12), "2024-01-03")]


def ids(batches: list[Any]) -> list[str]:
    return [r["id"] for r in records_of(batches)]


def test_cursor_read_resumes_without_loss_or_duplicates(tmp_path: Path, fmt: str) -> None:
    path = make_file(tmp_path, fmt, FIRST)
    conn = connector(path, cursor="updated_at", chunk_size=2)
    first = read_all(conn)
    assert ids(first) == [str(i) for i in range(1, 9)]
    state = orjson.loads(orjson.dumps(first[-1].state_after))  # stored as JSON by the hub
    assert state["cursor"] == "2024-01-02" and len(state["boundary"]) == 5

    make_file(tmp_path, fmt, SECOND)
    second = read_all(conn, state)
    assert ids(second) == ["9", "10", "11"]
    assert read_all(conn, second[-1].state_after) == []


def test_crash_between_batches_resumes_exactly(tmp_path: Path, fmt: str) -> None:
    """Resuming from any batch's state reads exactly the rows after that batch."""
    path = make_file(tmp_path, fmt, FIRST)
    conn = connector(path, cursor="updated_at", chunk_size=2)
    base = read_all(conn)
    make_file(tmp_path, fmt, SECOND)
    full = read_all(conn, base[-1].state_after)
    for cut in range(len(full)):
        resumed = read_all(conn, full[cut].state_after)
        assert ids(full[: cut + 1]) + ids(resumed) == ["9", "10", "11"]
        final = (resumed or full)[-1].state_after
        assert final == full[-1].state_after


def test_unchanged_file_yields_nothing_and_changed_file_is_read_fully(
    tmp_path: Path, fmt: str
) -> None:
    path = make_file(tmp_path, fmt, FIRST)
    conn = connector(path, chunk_size=3)
    first = read_all(conn)
    assert ids(first) == [str(i) for i in range(1, 9)]
    assert "rows_done" not in first[-1].state_after
    assert read_all(conn, first[-1].state_after) == []
    make_file(tmp_path, fmt, SECOND)
    assert ids(read_all(conn, first[-1].state_after)) == [str(i) for i in range(1, 12)]


def test_crash_resume_without_cursor(tmp_path: Path, fmt: str) -> None:
    path = make_file(tmp_path, fmt, SECOND)
    conn = connector(path, chunk_size=3)
    full = read_all(conn)
    assert [len(b.records) for b in full] == [3, 3, 3, 2]
    for cut in range(len(full) - 1):
        assert full[cut].state_after["rows_done"] > 0
        resumed = read_all(conn, full[cut].state_after)
        assert ids(full[: cut + 1]) + ids(resumed) == [str(i) for i in range(1, 12)]


def test_crash_resume_keeps_rejected_lines_once(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"id,name\n1,Zo\xc3\xab\n2,b\n3\n4,d\n5,\xff\n6,f\n")
    conn = connector(path, chunk_size=2)
    full = read_all(conn)
    assert [[r.position for r in b.rejected] for b in full] == [[], ["line 4", "line 6"]]
    for cut in range(len(full) - 1):
        resumed = read_all(conn, full[cut].state_after)
        later = [r.position for b in resumed for r in b.rejected]
        earlier = [r.position for b in full[: cut + 1] for r in b.rejected]
        assert earlier + later == ["line 4", "line 6"]


def test_a_row_edited_again_at_the_boundary_value_is_read_again(tmp_path: Path, fmt: str) -> None:
    """A date-only cursor: row 5 changes later the same day, its cursor stays at the boundary."""
    path = make_file(tmp_path, fmt, FIRST)
    conn = connector(path, cursor="updated_at", chunk_size=2)
    state = orjson.loads(orjson.dumps(read_all(conn)[-1].state_after))
    edited = [list(row) for row in FIRST]
    edited[5][1] = "n5, new address"  # id 5, still 2024-01-02
    make_file(tmp_path, fmt, edited)
    again = read_all(conn, state)
    assert [(r["id"], r["name"]) for r in records_of(again)] == [("5", "n5, new address")]
    edited[1][1] = "n1, below the cursor"  # the file changes, no boundary row does
    make_file(tmp_path, fmt, edited)
    assert ids(read_all(conn, again[-1].state_after)) == []


def test_a_saved_key_list_still_skips_its_keys(tmp_path: Path, fmt: str) -> None:
    """States saved before digests hold ``boundary_keys``: those rows are skipped as before."""
    path = make_file(tmp_path, fmt, SECOND)
    conn = connector(path, cursor="updated_at", chunk_size=2)
    legacy = {"cursor": "2024-01-02", "boundary_keys": [str(i) for i in range(4, 9)]}
    again = read_all(conn, legacy)
    assert ids(again) == ["9", "10", "11"]
    assert again[-1].state_after["boundary"].keys() == {"10", "11"}
