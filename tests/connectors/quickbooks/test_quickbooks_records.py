"""Plain functions: golden id in Notes, flat records, bookmarks, vendor codes."""

from __future__ import annotations

from typing import Any

import pytest

from crmhub.connectors.quickbooks.records import GoldenIdSlot, to_record
from crmhub.connectors.quickbooks.streams import Bookmark
from crmhub.connectors.quickbooks.writing import build_body, same
from crmhub.errors import SourceContractError

NOTES = GoldenIdSlot("crmhub_id", "Notes")
META = {"LastUpdatedTime": "2024-05-01T09:00:00-07:00"}

# (Notes in QBO, golden id read, Notes the record shows)
NOTES_READ = [
    (None, None, None),
    ("Pays late.", None, "Pays late."),
    ("crmhub_id: G-1", "G-1", None),
    ("Pays late.\ncrmhub_id: G-1", "G-1", "Pays late."),
    ("a\ncrmhub_id: G-1\nb", "G-1", "a\nb"),
    ("crmhub_ids: x", None, "crmhub_ids: x"),
    ("a\r\ncrmhub_id: G-1\r\nb", "G-1", "a\r\nb"),
]


@pytest.mark.parametrize(("notes", "golden", "shown"), NOTES_READ)
def test_golden_id_line_is_read_from_notes(notes: str | None, golden: Any, shown: Any) -> None:
    assert NOTES.read({"Notes": notes}) == (golden, shown)


# (Notes in QBO, new golden id, new Notes text or ... to keep, Notes written)
NOTES_WRITE = [
    (None, "G-1", ..., "crmhub_id: G-1"),
    ("Pays late.", "G-1", ..., "Pays late.\ncrmhub_id: G-1"),
    ("Pays late.\ncrmhub_id: G-1", "G-2", ..., "Pays late.\ncrmhub_id: G-2"),
    ("Pays late.\ncrmhub_id: G-1", "G-1", "Pays on time.", "Pays on time.\ncrmhub_id: G-1"),
    ("Pays late.\ncrmhub_id: G-1", None, ..., "Pays late."),
]


@pytest.mark.parametrize(("notes", "golden", "text", "written"), NOTES_WRITE)
def test_golden_id_line_is_written_keeping_the_notes(
    notes: str | None, golden: Any, text: Any, written: str
) -> None:
    assert NOTES.write({"Notes": notes}, golden, text) == written


def test_a_deleted_customer_is_a_tombstone_record() -> None:
    record = to_record({"status": "Deleted", "Id": "7", "MetaData": META}, NOTES)
    assert record["Deleted"] is True and record["Active"] is False
    assert record["LastUpdatedTime"] == "2024-05-01T16:00:00+00:00"
    assert record["GivenName"] is None


@pytest.mark.parametrize(
    ("entity", "message"),
    [
        ({"MetaData": META}, "without an Id"),
        ({"Id": "1"}, "LastUpdatedTime"),
        ({"Id": "1", "MetaData": {"LastUpdatedTime": "yesterday"}}, "not an ISO date-time"),
    ],
)
def test_broken_customers_raise_value_error(entity: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_record(entity, NOTES)


def test_unchanged_values_build_no_body() -> None:
    entity = {
        "Id": "1",
        "SyncToken": "3",
        "MetaData": META,
        "Active": True,
        "PrimaryEmailAddr": {"Address": "a@x.io"},
        "Notes": "crmhub_id: G-1",
    }
    assert (
        build_body(
            {"PrimaryEmailAddr": " a@x.io ", "crmhub_id": "G-1", "Active": "true"}, entity, NOTES
        )
        is None
    )
    body = build_body({"PrimaryPhone": "+1 555"}, entity, NOTES)
    assert body == {
        "Id": "1",
        "SyncToken": "3",
        "sparse": True,
        "PrimaryPhone": {"FreeFormNumber": "+1 555"},
    }


@pytest.mark.parametrize(
    ("current", "wanted", "equal"),
    [
        (None, "", True),
        ("a", " a ", True),
        (True, True, True),
        (None, False, False),
        (12.5, "12.5", True),
        ("x", "y", False),
    ],
)
def test_values_compare_as_qbo_stores_them(current: Any, wanted: Any, equal: bool) -> None:
    assert same(current, wanted) is equal


def test_an_unreadable_state_is_a_contract_error() -> None:
    with pytest.raises(SourceContractError, match="unreadable quickbooks state"):
        Bookmark.load({"cursor": "last tuesday"})
    assert Bookmark.load(None).dump() == {}
    assert Bookmark.load({}).cursor is None
