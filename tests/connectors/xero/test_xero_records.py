"""Xero contacts as flat records, and the incremental reader's paging, without HTTP."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crmhub.connectors.xero.records import (
    COLUMNS,
    contact_to_record,
    format_xero_date,
    iso_date,
    parse_xero_date,
)
from crmhub.connectors.xero.streams import ContactsReader, ReadState, StateError
from crmhub.errors import SourceContractError

ID = "5cc8cf28-567e-4d43-b287-687cfcaec47c"
T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)

# Xero's own example contact (spec, GET /Contacts), trimmed.
KATHERINE: dict[str, Any] = {
    "ContactID": ID,
    "ContactStatus": "ACTIVE",
    "Name": "Katherine Warren",
    "FirstName": "Katherine",
    "LastName": "Warren",
    "CompanyNumber": "NumberBusiness1234",
    "EmailAddress": "kat.warren@clampett.com",
    "BankAccountDetails": "",
    "TaxNumber": "",
    "Addresses": [
        {"AddressType": "STREET", "City": "", "Region": "", "PostalCode": "", "Country": ""},
        {
            "AddressType": "POBOX",
            "AddressLine1": "PO Box 12",
            "AddressLine2": "Suite 3",
            "AddressLine3": "",
            "AddressLine4": "",
            "City": "Palo Alto",
            "Region": "CA",
            "PostalCode": "94020",
            "Country": "United States",
        },
    ],
    "Phones": [
        {"PhoneType": "DDI", "PhoneNumber": "", "PhoneAreaCode": "", "PhoneCountryCode": ""},
        {
            "PhoneType": "DEFAULT",
            "PhoneNumber": "847-1294",
            "PhoneAreaCode": "(626)",
            "PhoneCountryCode": "1",
        },
        {"PhoneType": "MOBILE", "PhoneNumber": "555-1212", "PhoneAreaCode": "415"},
    ],
    "UpdatedDateUTC": "/Date(1503348544227+0000)/",
    "ContactGroups": [],
    "IsSupplier": True,
    "IsCustomer": True,
    "Balances": {
        "AccountsReceivable": {"Outstanding": 760.0, "Overdue": 920.0},
        "AccountsPayable": {"Outstanding": 231.6, "Overdue": 360.0},
    },
    "HasAttachments": False,
    "HasValidationErrors": False,
}


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("/Date(1503348544227+0000)/", "2017-08-21T20:49:04.227+00:00"),
        ("/Date(1573755038314)/", "2019-11-14T18:10:38.314+00:00"),
        ("/Date(1503348544227+1300)/", "2017-08-21T20:49:04.227+00:00"),  # offset is display only
        ("2020-02-06T12:17:43.202-08:00", "2020-02-06T20:17:43.202+00:00"),
        ("2020-02-06T12:17:43", "2020-02-06T12:17:43.000+00:00"),
    ],
)
def test_dates_become_iso_utc(text: str, iso: str) -> None:
    assert iso_date(text) == iso


@pytest.mark.parametrize("text", ["/Date(abc)/", "yesterday", ""])
def test_broken_dates_are_errors(text: str) -> None:
    with pytest.raises(ValueError):
        parse_xero_date(text)


def test_date_round_trip() -> None:
    assert parse_xero_date(format_xero_date(T0)) == T0


def test_contact_becomes_a_flat_record_with_stable_columns() -> None:
    record = contact_to_record(KATHERINE)
    assert set(COLUMNS) <= set(record)
    assert all(not isinstance(v, dict | list) for v in record.values())
    assert record["ContactID"] == ID
    assert record["Phone"] == "1 (626) 847-1294"
    assert record["Mobile"] == "415 555-1212"
    # STREET is empty, so the POBOX address is the one shown
    assert record["Street"] == "PO Box 12, Suite 3"
    assert (record["City"], record["Region"], record["PostalCode"]) == ("Palo Alto", "CA", "94020")
    assert record["Country"] == "United States"
    assert record["Balance"] == 760.0
    assert record["TaxNumber"] is None  # empty text is no value
    assert record["IsCustomer"] is True
    assert record["CompanyNumber"] == "NumberBusiness1234"
    assert record["UpdatedDateUTC"] == "2017-08-21T20:49:04.227+00:00"
    assert "Addresses" not in record and "Balances" not in record


def test_street_address_wins_when_filled() -> None:
    street = {"AddressType": "STREET", "AddressLine1": "1 Main St", "City": "Auckland"}
    record = contact_to_record({**KATHERINE, "Addresses": [*KATHERINE["Addresses"], street]})
    # the first STREET entry is empty; the later one of the same type replaces it
    assert (record["Street"], record["City"]) == ("1 Main St", "Auckland")


def test_unknown_fields_pass_through_flat() -> None:
    drifted = {
        **KATHERINE,
        "LoyaltyTier": "gold",
        "Risk": {"Score": 7, "Since": "/Date(1573755038314)/"},
        "Tags": ["a", "b"],
    }
    record = contact_to_record(drifted)
    assert record["LoyaltyTier"] == "gold"
    assert record["Risk.Score"] == 7
    assert record["Risk.Since"] == "2019-11-14T18:10:38.314+00:00"
    assert record["Tags"] == '["a", "b"]'


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ContactID": None}, "no ContactID"),
        ({"UpdatedDateUTC": None}, "no UpdatedDateUTC"),
        ({"UpdatedDateUTC": "/Date(soon)/"}, "is not a date"),
    ],
)
def test_unusable_contacts_are_errors(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        contact_to_record({**KATHERINE, **change})


# -- the reader, over an in-memory organisation ------------------------------------------------


class Org:
    """Contacts by id with their times; answers pages as Xero does (IMS inclusive, by second)."""

    def __init__(self) -> None:
        self.times: dict[str, datetime] = {}
        self.calls: list[tuple[datetime | None, int]] = []

    def set(self, contact_id: str, when: datetime) -> None:
        self.times[contact_id] = when

    def fetch(
        self, since: datetime | None, page: int, size: int = 2
    ) -> tuple[list[dict[str, Any]], int | None]:
        self.calls.append((since, page))
        rows = sorted(self.times.items(), key=lambda kv: (kv[1], kv[0]))
        if since is not None:
            rows = [r for r in rows if r[1].replace(microsecond=0) >= since]
        chunk = rows[(page - 1) * size : page * size]
        return [{"ContactID": i, "UpdatedDateUTC": format_xero_date(t)} for i, t in chunk], None


def read_ids(org: Org, state: Mapping[str, Any] | None, lookback: int = 0) -> list[list[str]]:
    reader = ContactsReader(org.fetch, page_size=2, lookback_seconds=lookback)
    return [[r["ContactID"] for r in b.records] for b in reader.read(state)]


def states(org: Org, state: Mapping[str, Any] | None, lookback: int = 0) -> list[dict[str, Any]]:
    reader = ContactsReader(org.fetch, page_size=2, lookback_seconds=lookback)
    return [dict(b.state_after) for b in reader.read(state)]


def flat(batches: Sequence[Sequence[str]]) -> list[str]:
    return [i for batch in batches for i in batch]


def test_full_read_pages_through_everything_once() -> None:
    org = Org()
    for n in range(7):
        org.set(f"c{n}", T0 + timedelta(minutes=n))
    assert sorted(flat(read_ids(org, None))) == [f"c{n}" for n in range(7)]
    assert org.calls[0] == (None, 1)


def test_more_contacts_in_one_second_than_a_page_holds() -> None:
    org = Org()
    for n in range(7):
        org.set(f"c{n}", T0 + timedelta(milliseconds=n))  # all in one second
    assert sorted(flat(read_ids(org, None))) == [f"c{n}" for n in range(7)]


def test_resume_from_every_batch_loses_and_repeats_nothing() -> None:
    org = Org()
    times = [0, 1, 1, 1, 2, 2, 3]
    for n, minute in enumerate(times):
        org.set(f"c{n}", T0 + timedelta(minutes=minute))
    full = read_ids(org, None)
    for k, state in enumerate(states(org, None)):
        done = flat(full[: k + 1])
        rest = flat(read_ids(org, state))
        assert sorted(done + rest) == sorted(org.times), (k, done, rest)


def test_change_at_the_boundary_second_is_read() -> None:
    org = Org()
    org.set("a", T0)
    org.set("b", T0 + timedelta(seconds=10, milliseconds=300))
    state = states(org, None)[-1]
    # another contact changes in the same second as the cursor, and one a second later
    org.set("c", T0 + timedelta(seconds=10, milliseconds=900))
    org.set("d", T0 + timedelta(seconds=11))
    assert sorted(flat(read_ids(org, state))) == ["c", "d"]
    assert org.calls[-1][0] == T0 + timedelta(seconds=9)  # one second before the boundary


def test_edit_during_a_read_is_not_skipped() -> None:
    """Page numbers alone would skip c2 when c0 moves to the end between two pages."""
    org = Org()
    for n in range(5):
        org.set(f"c{n}", T0 + timedelta(minutes=n))
    reader = ContactsReader(org.fetch, page_size=2, lookback_seconds=0)
    batches = reader.read(None)
    first = next(batches)
    org.set("c0", T0 + timedelta(minutes=10))
    rest = [r["ContactID"] for b in batches for r in b.records]
    assert {r["ContactID"] for r in first.records} | set(rest) == set(org.times)


def test_lookback_rereads_the_window_but_hands_over_only_new_changes() -> None:
    org = Org()
    for n in range(4):
        org.set(f"c{n}", T0 + timedelta(seconds=n))
    state = states(org, None, lookback=60)[-1]
    assert sorted(state["seen"]) == ["c0", "c1", "c2", "c3"]  # the window is remembered
    # a change committed late: its time lies before the cursor
    org.set("late", T0 + timedelta(seconds=1, milliseconds=500))
    assert flat(read_ids(org, state, lookback=0)) == []
    assert flat(read_ids(org, state, lookback=60)) == ["late"]


def test_a_state_from_elsewhere_is_refused() -> None:
    with pytest.raises(StateError):
        ReadState.load({"cursor": "last tuesday"})
    with pytest.raises(StateError):
        ReadState.load({"cursor": None, "seen": ["a"]})


def test_contacts_out_of_order_are_a_contract_error() -> None:
    def backwards(since: datetime | None, page: int) -> tuple[list[dict[str, Any]], None]:
        return [
            {"ContactID": "b", "UpdatedDateUTC": format_xero_date(T0 + timedelta(minutes=1))},
            {"ContactID": "a", "UpdatedDateUTC": format_xero_date(T0)},
        ], None

    reader = ContactsReader(backwards, page_size=2, lookback_seconds=0, source="acc")
    with pytest.raises(SourceContractError, match="out of UpdatedDateUTC order"):
        list(reader.read(None))


def test_an_api_ignoring_page_size_is_still_read_to_the_end() -> None:
    org = Org()
    for n in range(5):
        org.set(f"c{n}", T0 + timedelta(minutes=n))

    def capped(since: datetime | None, page: int) -> tuple[list[dict[str, Any]], int]:
        return org.fetch(since, page, size=2)[0], 2  # asked for 1000, got pages of 2

    reader = ContactsReader(capped, page_size=1000, lookback_seconds=0)
    read = [r["ContactID"] for b in reader.read(None) for r in b.records]
    assert sorted(read) == sorted(org.times)


def test_a_broken_contact_is_rejected_once_per_read() -> None:
    """The restart after page 1 fetches the broken contact again; it is not rejected twice."""
    org = Org()
    for n, minute in enumerate([0, 2, 3]):
        org.set(f"c{n}", T0 + timedelta(minutes=minute))
    org.set("bad", T0 + timedelta(minutes=1))
    fetched_bad = 0

    def fetch(since: datetime | None, page: int) -> tuple[list[dict[str, Any]], int | None]:
        nonlocal fetched_bad
        contacts, size = org.fetch(since, page)
        fetched_bad += sum(c["ContactID"] == "bad" for c in contacts)
        broken = {"UpdatedDateUTC": "/Date(not-a-date)/"}
        return [{**c, **broken} if c["ContactID"] == "bad" else c for c in contacts], size

    batches = list(ContactsReader(fetch, page_size=2, lookback_seconds=0).read(None))
    assert fetched_bad == 2
    assert [json.loads(r.raw)["ContactID"] for b in batches for r in b.rejected] == ["bad"]
    assert sorted(r["ContactID"] for b in batches for r in b.records) == ["c0", "c1", "c2"]
