"""Reading a tab: header, row windows, cell text, rejected rows and both incremental modes."""

from __future__ import annotations

import pytest
from tests.connectors.google_sheets.conftest import (
    HEADER,
    SID,
    TAB,
    Make,
    customers,
    data_ranges,
)
from tests.fakes.google_sheets import FakeSheets

from crmhub.connectors.base import Batch, StreamState
from crmhub.connectors.spreadsheet.state import row_digest
from crmhub.errors import SourceContractError


def records(batches: list[Batch]) -> list[dict[str, object]]:
    return [dict(r) for b in batches for r in b.records]


def ids(batches: list[Batch]) -> list[str]:
    return [str(r["Customer No"]) for r in records(batches)]


def test_check_and_discover(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(3), row_count=10)
    connector = make(cursor="Updated")
    result = connector.check()
    assert result.ok, result.message
    assert result.message == "tab 'Customers': 5 columns, grid of 10 rows"
    [spec] = connector.discover()
    assert (spec.name, spec.key, spec.cursor) == (TAB, ("Customer No",), "Updated")
    assert spec.columns == tuple(HEADER)


def test_reads_in_windows_of_batch_size_rows(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(7), row_count=9)
    batches = list(make(batch_size=3).read(TAB, None))
    assert [len(b.records) for b in batches] == [3, 3, 1]
    assert ids(batches) == [str(n) for n in range(1001, 1008)]
    assert data_ranges(sheets) == [
        "'Customers'!A1:Z1",  # ZZ clamped to the grid's 26 columns
        "'Customers'!A2:E4",
        "'Customers'!A5:E7",
        "'Customers'!A8:E9",
    ]
    assert list(batches[0].positions or []) == ["row 2", "row 3", "row 4"]


def test_cells_become_text_and_short_rows_are_padded(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(
        SID,
        TAB,
        [HEADER, [1001.0, "Ada", True, 12.5], [1002, "", None, None, "2024-05-01"], [], [1003]],
        row_count=6,
    )
    batches = list(make().read(TAB, None))
    assert records(batches) == [
        {
            "Customer No": "1001",
            "First Name": "Ada",
            "Last Name": "TRUE",
            "Email": "12.5",
            "Updated": None,
        },
        {
            "Customer No": "1002",
            "First Name": None,
            "Last Name": None,
            "Email": None,
            "Updated": "2024-05-01",
        },
        dict.fromkeys(HEADER) | {"Customer No": "1003"},
    ]
    assert list(batches[0].positions or []) == ["row 2", "row 3", "row 5"]


def test_formatted_values_are_read_as_shown(sheets: FakeSheets, make: Make) -> None:
    tab = sheets.add_tab(SID, TAB, [HEADER, [1001, "Ada", "L", 1234.5]], row_count=3)
    tab.formatted[(1, 3)] = "$1,234.50"
    [raw] = records(list(make().read(TAB, None)))
    sheets.server.requests.clear()
    [shown] = records(list(make(value_render="FORMATTED_VALUE").read(TAB, None)))
    assert (raw["Email"], shown["Email"]) == ("1234.5", "$1,234.50")
    gets = [r for r in sheets.server.requests if "/values/" in r.path]
    assert gets[-1].param("valueRenderOption") == "FORMATTED_VALUE"
    assert gets[-1].param("dateTimeRenderOption") == "FORMATTED_STRING"
    assert gets[-1].param("majorDimension") == "ROWS"


def test_columns_and_header_row_bound_the_read(sheets: FakeSheets, make: Make) -> None:
    rows: list[list[object]] = [
        ["Customer export"],
        ["", *HEADER, "Notes"],
        ["", 1001, "Ada", "L", "e", "u", "x"],
    ]
    sheets.add_tab(SID, TAB, rows, row_count=4)
    connector = make(header_row=2, columns="B:F")
    assert connector.discover()[0].columns == tuple(HEADER)
    assert records(list(connector.read(TAB, None))) == [
        {
            "Customer No": "1001",
            "First Name": "Ada",
            "Last Name": "L",
            "Email": "e",
            "Updated": "u",
        }
    ]
    assert data_ranges(sheets)[-1] == "'Customers'!B3:F4"


def test_empty_and_repeated_keys_are_rejected_with_their_row(
    sheets: FakeSheets, make: Make
) -> None:
    rows = [*customers(2), ["", "No", "Key"], [1001, "Again"], [1003, "Fine"]]
    sheets.add_tab(SID, TAB, rows, row_count=8)
    batches = list(make(batch_size=2).read(TAB, None))
    assert ids(batches) == ["1001", "1002", "1003"]
    rejected = [r for b in batches for r in b.rejected]
    assert [(r.position, r.reason) for r in rejected] == [
        ("row 4", "the key is empty"),
        ("row 5", "key '1001' repeats row 2"),
    ]
    assert '"First Name":"Again"' in rejected[1].raw


def test_composite_key(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, [["Region", "No"], ["EU", 1], ["US", 1], ["EU", 1]], row_count=5)
    batches = list(make(key=["Region", "No"]).read(TAB, None))
    assert [(r["Region"], r["No"]) for r in records(batches)] == [("EU", "1"), ("US", "1")]
    assert [r.reason for b in batches for r in b.rejected] == ["key 'EU|1' repeats row 2"]


def test_missing_tab_and_key_column_are_named(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, "Other", [["a"]])
    result = make().check()
    assert not result.ok
    assert "no tab 'Customers' (tabs: 'Other')" in result.message
    sheets.add_tab(SID, TAB, [["Name", "Email"]])
    result = make().check()
    assert "the header has no column 'Customer No' (columns: Name, Email)" in result.message
    with pytest.raises(SourceContractError, match="no stream 'Nope'"):
        list(make().read("Nope", None))


def test_unknown_spreadsheet_is_a_clean_failure(sheets: FakeSheets, make: Make) -> None:
    result = make().check()
    assert not result.ok
    assert "404" in result.message and "NOT_FOUND" in result.message


# -- incremental without a cursor: window digests --------------------------------------------


def final(batches: list[Batch]) -> StreamState:
    return batches[-1].state_after


def test_an_unchanged_sheet_yields_nothing(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(5), row_count=7)
    first = list(make(batch_size=2).read(TAB, None))
    assert ids(first) == ["1001", "1002", "1003", "1004", "1005"]
    assert set(final(first)) == {"windows"}
    assert list(make(batch_size=2).read(TAB, final(first))) == []


def test_only_changed_windows_are_read_again(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(6), row_count=7)
    state = final(list(make(batch_size=2).read(TAB, None)))
    sheets.tab(SID, TAB).rows[4][1] = "Changed"  # row 5, in the window of rows 4-5
    again = list(make(batch_size=2).read(TAB, state))
    assert ids(again) == ["1003", "1004"]
    assert list(make(batch_size=2).read(TAB, final(again))) == []


def test_a_resumed_digest_read_skips_committed_windows(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(6), row_count=7)
    state = final(list(make(batch_size=2).read(TAB, None)))
    for row in sheets.tab(SID, TAB).rows[1:]:
        row[2] = "New"
    crashed = next(iter(make(batch_size=2).read(TAB, state)))  # committed, then the run died
    resumed = list(make(batch_size=2).read(TAB, crashed.state_after))
    assert ids([crashed]) == ["1001", "1002"]
    assert ids(resumed) == ["1003", "1004", "1005", "1006"]


def test_a_new_column_reads_every_row_again(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(3), row_count=5)
    state = final(list(make().read(TAB, None)))
    tab = sheets.tab(SID, TAB)
    tab.rows[0].append("Segment")
    tab.rows[2].extend(["Gold"])
    connector = make()
    assert connector.discover()[0].columns == (*HEADER, "Segment")
    again = records(list(connector.read(TAB, state)))
    assert [r["Segment"] for r in again] == [None, "Gold", None]


def test_removed_rows_shrink_the_state(sheets: FakeSheets, make: Make) -> None:
    sheets.add_tab(SID, TAB, customers(5), row_count=7)
    state = final(list(make(batch_size=2).read(TAB, None)))
    del sheets.tab(SID, TAB).rows[3:]
    again = list(make(batch_size=2).read(TAB, state))
    assert ids(again) == []
    assert set(final(again)["windows"]) == {"2"}


# -- incremental with a cursor ---------------------------------------------------------------


def stamped(stamps: list[str]) -> list[list[object]]:
    rows = customers(len(stamps))
    for row, stamp in zip(rows[1:], stamps, strict=True):
        row[4] = stamp
    return rows


def test_cursor_reads_rows_at_or_after_the_last_value(sheets: FakeSheets, make: Make) -> None:
    stamps = ["2024-05-01T09:00:00Z", "2024-05-01T09:02:00Z", "2024-05-01T09:01:00Z"]
    sheets.add_tab(SID, TAB, stamped(stamps), row_count=6)
    first = list(make(cursor="Updated").read(TAB, None))
    assert final(first) == {
        "cursor": "2024-05-01T09:02:00Z",
        "boundary": {
            "1002": row_digest(
                ["1002", "First1002", "Last1002", "c1002@example.com", "2024-05-01T09:02:00Z"]
            )
        },
        "top": "2024-05-01T09:02:00Z",
    }
    tab = sheets.tab(SID, TAB)
    tab.rows[1][4] = "2024-05-01T09:02:00Z"  # changed AT the last value
    tab.rows.append([1004, "New", "Row", "n@example.com", "2024-05-01T09:03:00Z"])
    again = list(make(cursor="Updated").read(TAB, final(first)))
    assert ids(again) == ["1001", "1004"]
    assert list(make(cursor="Updated").read(TAB, final(again)))[-1].records == []


def test_cursor_read_resumes_after_a_crash(sheets: FakeSheets, make: Make) -> None:
    stamps = [f"2024-05-01T09:0{m}:00Z" for m in (0, 1, 1, 1, 2, 2, 3)]
    sheets.add_tab(SID, TAB, stamped(stamps), row_count=8)
    batches = list(make(cursor="Updated", batch_size=2).read(TAB, None))
    assert len(batches) == 4
    assert batches[0].state_after["rows_done"] == 3
    assert batches[0].state_after["anchor"] == [3, "1002"]
    resumed = list(make(cursor="Updated", batch_size=2).read(TAB, batches[0].state_after))
    assert ids(resumed) == ["1003", "1004", "1005", "1006", "1007"]


def test_a_shifted_sheet_is_not_resumed_by_position(sheets: FakeSheets, make: Make) -> None:
    stamps = [f"2024-05-01T09:0{m}:00Z" for m in (0, 1, 2, 3)]
    sheets.add_tab(SID, TAB, stamped(stamps), row_count=6)
    batches = list(make(cursor="Updated", batch_size=2).read(TAB, None))
    del sheets.tab(SID, TAB).rows[1]  # row 2 deleted: 1003 moves up to row 3
    resumed = list(make(cursor="Updated", batch_size=2).read(TAB, batches[0].state_after))
    assert ids(resumed) == ["1002", "1003", "1004"]  # read from the top: nothing lost


def test_rows_without_cursor_are_read_by_the_first_read_only(
    sheets: FakeSheets, make: Make
) -> None:
    sheets.add_tab(SID, TAB, stamped(["", "2024-05-01"]), row_count=4)
    first = list(make(cursor="Updated").read(TAB, None))
    assert ids(first) == ["1001", "1002"]
    sheets.tab(SID, TAB).rows[1][1] = "Changed, still without a cursor value"
    assert ids(list(make(cursor="Updated").read(TAB, final(first)))) == []


def test_a_row_edited_again_at_the_boundary_value_is_read_again(
    sheets: FakeSheets, make: Make
) -> None:
    """A date-only "Updated": an edit later the same day leaves the cursor cell as it was."""
    sheets.add_tab(SID, TAB, customers(3), row_count=5)  # every row at 2024-05-01
    first = list(make(cursor="Updated").read(TAB, None))
    assert final(first)["boundary"].keys() == {"1001", "1002", "1003"}
    sheets.tab(SID, TAB).rows[1][3] = "new-address@example.com"
    again = list(make(cursor="Updated").read(TAB, final(first)))
    assert [(r["Customer No"], r["Email"]) for r in records(again)] == [
        ("1001", "new-address@example.com")
    ]
    assert ids(list(make(cursor="Updated").read(TAB, final(again)))) == []


def test_a_saved_key_list_still_skips_its_keys(sheets: FakeSheets, make: Make) -> None:
    """States saved before digests hold ``boundary_keys``: those rows are skipped as before.

    The read then learns their digests, so their next edit is read.
    """
    sheets.add_tab(SID, TAB, customers(3), row_count=5)  # every row at 2024-05-01
    legacy = {"cursor": "2024-05-01", "boundary_keys": ["1001", "1002"]}
    again = list(make(cursor="Updated").read(TAB, legacy))
    assert ids(again) == ["1003"]
    assert final(again)["boundary"].keys() == {"1001", "1002", "1003"}
    sheets.tab(SID, TAB).rows[1][3] = "new-address@example.com"
    assert ids(list(make(cursor="Updated").read(TAB, final(again)))) == ["1001"]


def test_an_edit_above_the_scan_point_during_a_read_is_not_lost(
    sheets: FakeSheets, make: Make
) -> None:
    """Row 2 is edited at 09:05 after its window was read, row 5 at 09:06 before its window.

    The read sees only 09:06; saving that as the cursor would hide 09:05 for good. The read
    keeps the cursor it could vouch for when it started, so the next read finds row 2.
    """
    sheets.add_tab(SID, TAB, stamped(["2024-05-01T09:00:00Z"] * 4), row_count=6)
    state = final(list(make(cursor="Updated").read(TAB, None)))
    tab = sheets.tab(SID, TAB)
    connector = make(cursor="Updated", batch_size=2)
    real = connector.api.values

    def values(a1: str, render: str) -> list[list[object]]:
        cells = real(a1, render)
        if a1.endswith("!A2:E3"):  # rows 2-3 just read, rows 4-5 not yet
            tab.rows[1][4] = "2024-05-01T09:05:00Z"
            tab.rows[4][4] = "2024-05-01T09:06:00Z"
        return cells

    connector.api.values = values  # type: ignore[method-assign]
    during = list(connector.read(TAB, state))
    assert ids(during) == ["1004"]
    assert (final(during)["cursor"], final(during)["top"]) == (
        "2024-05-01T09:00:00Z",
        "2024-05-01T09:06:00Z",
    )
    after = list(make(cursor="Updated", batch_size=2).read(TAB, final(during)))
    assert ids(after) == ["1001"]
    assert final(after)["cursor"] == "2024-05-01T09:06:00Z"
    assert final(after)["boundary"].keys() == {"1004"}
    assert ids(list(make(cursor="Updated", batch_size=2).read(TAB, final(after)))) == []


def test_the_boundary_holds_only_rows_at_or_above_the_held_cursor(
    sheets: FakeSheets, make: Make
) -> None:
    """A read over several windows keeps the previous read's top, not its own, as cursor."""
    stamps = [f"2024-05-01T09:0{m}:00Z" for m in (3, 1, 2, 5, 4)]
    sheets.add_tab(SID, TAB, stamped(stamps), row_count=7)
    first = list(make(cursor="Updated", batch_size=2).read(TAB, None))
    assert final(first)["cursor"] == "2024-05-01T09:03:00Z"  # the first window's highest
    assert final(first)["boundary"].keys() == {"1001", "1004", "1005"}
    assert final(first)["top"] == "2024-05-01T09:05:00Z"
    second = list(make(cursor="Updated", batch_size=2).read(TAB, final(first)))
    assert ids(second) == []
    assert final(second)["cursor"] == "2024-05-01T09:05:00Z"
    assert final(second)["boundary"].keys() == {"1004"}


def test_a_held_cursor_read_resumes_exactly(sheets: FakeSheets, make: Make) -> None:
    """Resuming from any batch's state ends with the state of the read that did not stop."""
    stamps = [f"2024-05-01T09:0{m}:00Z" for m in (2, 1, 4, 3, 6, 5, 0)]
    sheets.add_tab(SID, TAB, stamped(stamps), row_count=8)
    state = final(list(make(cursor="Updated").read(TAB, None)))
    tab = sheets.tab(SID, TAB)
    for row, stamp in ((2, "09:07"), (5, "09:08"), (7, "09:09")):
        tab.rows[row][4] = f"2024-05-01T{stamp}:00Z"
    full = list(make(cursor="Updated", batch_size=2).read(TAB, state))
    assert ids(full) == ["1002", "1005", "1007"]
    for cut in range(len(full) - 1):
        resumed = list(make(cursor="Updated", batch_size=2).read(TAB, full[cut].state_after))
        assert ids(full[: cut + 1]) + ids(resumed) == ["1002", "1005", "1007"]
        assert final(resumed) == final(full)
