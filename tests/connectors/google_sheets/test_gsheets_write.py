"""Write-back: only changed cells are sent, a repeat sends nothing, the header grows."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from tests.connectors.google_sheets.conftest import HEADER, SID, TAB, Make, customers
from tests.fakes.google_sheets import FakeSheets
from tests.fakes.server import Fault, Request

from crmhub.connectors.base import RowStatus, Upsert, WriteReport
from crmhub.connectors.google_sheets.connector import MAX_RANGES_PER_CALL


def golden(external_id: str | None, gid: str, **fields: object) -> Upsert:
    return Upsert(external_id, gid, {"crmhub_id": gid, **fields}, f"key-{gid}")


def statuses(report: WriteReport) -> list[tuple[str | None, str]]:
    return [(r.external_id, r.status.value) for r in report.rows]


def writes(fake: FakeSheets) -> list[Request]:
    return [r for r in fake.server.requests if r.method in ("PUT", "POST")]


def test_write_applies_then_is_unchanged_and_sends_nothing(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(3), row_count=5)
    rows = [golden("1003", "G3"), golden("1001", "G1", Email="new@example.com")]
    first = make().write(TAB, rows)
    assert statuses(first) == [("1003", "applied"), ("1001", "applied")]
    assert [r.idempotency_key for r in first.rows] == ["key-G3", "key-G1"]
    values = sheets.values(SID, TAB)
    assert values[0] == [*HEADER, "crmhub_id"]
    assert values[1][3:] == ["new@example.com", "2024-05-01", "G1"]
    assert values[3][5] == "G3"
    assert values[2][5:] == []  # untouched row
    [batch] = writes(sheets)
    assert (batch.method, batch.path) == ("POST", f"/v4/spreadsheets/{SID}/values:batchUpdate")
    assert batch.body["valueInputOption"] == "RAW"
    assert [d["range"] for d in batch.body["data"]] == [
        "'Customers'!F1:F1",
        "'Customers'!D2:F2",
        "'Customers'!F4:F4",
    ]
    assert batch.body["data"][1]["values"] == [["new@example.com", None, "G1"]]  # null: skip

    sheets.server.requests.clear()
    second = make().write(TAB, rows)
    assert statuses(second) == [("1003", "unchanged"), ("1001", "unchanged")]
    assert writes(sheets) == []


def test_one_changed_range_is_a_put(sheets: FakeSheets, make: Make) -> None:
    rows = customers(2)
    rows[0].append("crmhub_id")
    sheets.add_tab(SID, TAB, rows, row_count=4)
    report = make().write(TAB, [golden("1002", "G2")])
    assert statuses(report) == [("1002", "applied")]
    [put] = writes(sheets)
    assert put.method == "PUT"
    assert unquote(put.path.rsplit("/", 1)[-1]) == "'Customers'!F3:F3"
    assert put.param("valueInputOption") == "RAW"
    assert put.body == {"range": "'Customers'!F3:F3", "majorDimension": "ROWS", "values": [["G2"]]}


def test_values_compare_as_text_and_keep_their_type(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, [[*HEADER, "Limit", "Active"], [1001, "A", "B", "e", "u", 500, True]])
    same = Upsert("1001", "G", {"Limit": 500.0, "Active": True, "Customer No": "1001"}, "k")
    assert statuses(make().write(TAB, [same])) == [("1001", "unchanged")]
    changed = Upsert("1001", "G", {"Limit": 750, "Email": None}, "k")
    assert statuses(make().write(TAB, [changed])) == [("1001", "applied")]
    assert sheets.values(SID, TAB)[1] == [1001, "A", "B", None, "u", 750, True]


def test_unknown_key_and_missing_id_are_rejected(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(1), row_count=3)
    report = make().write(TAB, [golden("9999", "G9"), golden(None, "G0"), golden("1001", "G1")])
    assert statuses(report) == [(("9999"), "rejected"), (None, "rejected"), ("1001", "applied")]
    assert report.rows[0].reason == "no row with key '9999' in tab 'Customers'"
    assert "updates existing rows only" in report.rows[1].reason
    assert report.count(RowStatus.APPLIED) == 1


def test_without_add_missing_columns_a_new_column_is_refused(
    sheets: FakeSheets, make: Make
) -> None:
    sheets.add_tab(SID, TAB, customers(1), row_count=3)
    report = make(add_missing_columns=False).write(TAB, [golden("1001", "G1")])
    assert statuses(report) == [("1001", "rejected")]
    assert "has no column 'crmhub_id'" in report.rows[0].reason
    assert writes(sheets) == []


def test_a_full_grid_is_widened_before_the_header_grows(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(1), row_count=3, column_count=5)
    report = make().write(TAB, [golden("1001", "G1")])
    assert statuses(report) == [("1001", "applied")]
    assert sheets.tab(SID, TAB).column_count == 6
    grow, put = writes(sheets)
    assert grow.path == f"/v4/spreadsheets/{SID}:batchUpdate"
    assert grow.body["requests"][0]["appendDimension"]["dimension"] == "COLUMNS"
    assert put.method == "POST" and len(put.body["data"]) == 2


def test_a_new_column_must_fit_the_configured_columns(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(1), row_count=3)
    report = make(columns="A:E").write(TAB, [golden("1001", "G1")])
    assert statuses(report) == [("1001", "rejected")]
    assert "no room for column 'crmhub_id'" in report.rows[0].reason


def test_a_column_with_values_but_no_header_is_not_taken(sheets: FakeSheets, make: Make) -> None:
    rows = customers(2)
    rows[2].append("a note someone typed")  # column F, which has no header
    sheets.add_tab(SID, TAB, rows, row_count=4)
    report = make().write(TAB, [golden("1001", "G1"), golden("1002", "G2", Email="x@y.z")])
    assert statuses(report) == [("1001", "rejected"), ("1002", "rejected")]
    assert "column F has values but no header" in report.rows[0].reason
    assert report.count(RowStatus.APPLIED) == 0
    update = make().write(TAB, [Upsert("1002", "G2", {"Email": "x@y.z"}, "k")])
    assert statuses(update) == [("1002", "applied")]


def test_upserts_of_one_key_apply_in_order(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(1), row_count=3)
    rows = [golden("1001", "G1"), golden("1001", "G1"), golden("1001", "G2")]
    assert statuses(make().write(TAB, rows)) == [
        ("1001", "applied"),
        ("1001", "unchanged"),
        ("1001", "applied"),
    ]
    assert sheets.values(SID, TAB)[1][5] == "G2"


def test_a_refused_update_rejects_its_rows(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(2), row_count=4)
    body = {"error": {"code": 400, "message": "protected", "status": "FAILED_PRECONDITION"}}
    sheets.server.inject(Fault(400, body=body, path_prefix=f"/v4/spreadsheets/{SID}/values:"))
    report = make().write(TAB, [golden("1001", "G1"), golden("1002", "G2"), golden("7", "G7")])
    assert [r.status.value for r in report.rows] == ["rejected"] * 3
    assert "400 Bad Request (vendor code FAILED_PRECONDITION)" in report.rows[0].reason
    assert report.rows[2].reason.startswith("no row with key")


def test_many_rows_are_split_into_several_calls(sheets: FakeSheets, make: Make) -> None:
    count = MAX_RANGES_PER_CALL + 5
    sheets.add_tab(SID, TAB, customers(count), row_count=count + 1)
    rows = [golden(str(1001 + i), f"G{i}") for i in range(count)]
    report = make(batch_size=count).write(TAB, rows)
    assert report.count(RowStatus.APPLIED) == count
    calls = writes(sheets)
    assert [len(c.body["data"]) for c in calls] == [MAX_RANGES_PER_CALL, 6]
    assert all(c.path.endswith("values:batchUpdate") for c in calls)


def test_an_api_key_cannot_write(sheets: FakeSheets, make: Make) -> None:
    auth = {"type": "api_key", "name": "key", "value": {"env": "GS_API_KEY"}, "location": "query"}
    sheets.add_tab(SID, TAB, customers(1), row_count=3)
    report = make(auth=auth, base_url=sheets.server.url).write(TAB, [golden("1001", "G1")])
    assert statuses(report) == [("1001", "rejected")]
    assert "an API key can only read" in report.rows[0].reason
    assert sheets.server.requests == []


def test_a_refused_header_call_stops_the_later_calls(sheets: FakeSheets, make: Make) -> None:
    """The first call adds the column; once it is refused, nothing else is sent."""
    count = MAX_RANGES_PER_CALL + 5
    sheets.add_tab(SID, TAB, customers(count), row_count=count + 1)
    before = sheets.values(SID, TAB)
    body = {"error": {"code": 400, "message": "protected", "status": "FAILED_PRECONDITION"}}
    sheets.server.inject(Fault(400, body=body, path_prefix=f"/v4/spreadsheets/{SID}/values:"))
    rows = [golden(str(1001 + i), f"G{i}") for i in range(MAX_RANGES_PER_CALL)]
    rows += [Upsert(str(1001 + i), "G", {"Email": "x@y.z"}, "k") for i in range(len(rows), count)]
    report = make(batch_size=count).write(TAB, rows)
    assert report.count(RowStatus.REJECTED) == count
    refused = {r.reason for r in report.rows[:MAX_RANGES_PER_CALL]}
    unsent = {r.reason for r in report.rows[MAX_RANGES_PER_CALL:]}
    assert [len(refused), len(unsent)] == [1, 1]
    assert refused.pop().startswith("Sheets refused the update: ")
    assert unsent.pop().startswith("not sent: Sheets refused the update adding columns: ")
    assert len(writes(sheets)) == 1
    assert sheets.values(SID, TAB) == before


def _then(connector: object, change: Callable[[], None]) -> None:
    """Run `change` right after the write's scan of the tab (between planning and sending)."""
    scan = connector._rows_by_key  # type: ignore[attr-defined]

    def scan_then_change(*args: object) -> object:
        found = scan(*args)
        change()
        return found

    connector._rows_by_key = scan_then_change  # type: ignore[attr-defined]


def test_a_row_moved_after_the_scan_is_not_written(sheets: FakeSheets, make: Make) -> None:
    """A row inserted above the targets shifts them: their values would land on other rows."""
    sheets.add_tab(SID, TAB, customers(4), row_count=8)
    tab = sheets.tab(SID, TAB)
    inserted = [1009, "Inserted", "Row", "i@example.com", "2024-05-02"]
    connector = make()
    _then(connector, lambda: tab.rows.insert(3, list(inserted)))  # 1003 and 1004 move down
    rows = [golden("1001", "G1"), golden("1003", "G3"), golden("1004", "G4", Email="x@y.z")]
    report = connector.write(TAB, rows)
    assert statuses(report) == [("1001", "applied"), ("1003", "rejected"), ("1004", "rejected")]
    assert [r.reason for r in report.rows[1:]] == ["row moved; retried next run"] * 2
    values = sheets.values(SID, TAB)
    assert values[1][5] == "G1"
    assert [v[5:] for v in values[2:]] == [[], [], [], []]  # the inserted row is untouched
    again = make().write(TAB, rows)
    assert statuses(again) == [("1001", "unchanged"), ("1003", "applied"), ("1004", "applied")]
    assert [v[0] for v in sheets.values(SID, TAB)[4:6]] == [1003, 1004]
    assert [v[5] for v in sheets.values(SID, TAB)[4:6]] == ["G3", "G4"]


def test_a_row_deleted_after_the_scan_is_not_written(sheets: FakeSheets, make: Make) -> None:
    """Deleting rows also shrinks the grid, so the last target row may not exist any more."""
    sheets.add_tab(SID, TAB, customers(3), row_count=4)
    tab = sheets.tab(SID, TAB)

    def delete_row_2() -> None:
        del tab.rows[1]
        tab.row_count -= 1

    connector = make()
    _then(connector, delete_row_2)
    report = connector.write(TAB, [golden("1002", "G2"), golden("1003", "G3")])
    assert statuses(report) == [("1002", "rejected"), ("1003", "rejected")]
    assert writes(sheets) == []
    assert sheets.values(SID, TAB)[1:] == customers(3)[2:]
