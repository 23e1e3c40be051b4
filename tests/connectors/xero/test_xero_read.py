"""Reading contacts through Prism: paging, ordering, If-Modified-Since, drift and bad contacts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tests.fakes.xero import XeroFake

from crmhub.connectors.xero import XeroConnector
from crmhub.connectors.xero.records import COLUMNS

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
MakeConnector = Callable[..., XeroConnector]


def ids_of(batches: list) -> list[str]:
    return [r["ContactID"] for b in batches for r in b.records]


def test_check_and_discover(fake: XeroFake, make_connector: MakeConnector) -> None:
    connector = make_connector()
    result = connector.check()
    assert result.ok, result.message
    (spec,) = connector.discover()
    assert (spec.name, spec.key, spec.cursor) == ("contacts", ("ContactID",), "UpdatedDateUTC")
    assert set(COLUMNS) <= set(spec.columns)


def test_full_read_pages_in_update_order(fake: XeroFake, make_connector: MakeConnector) -> None:
    made = [
        fake.add_contact(
            Name=f"Customer {n}",
            EmailAddress=f"c{n}@example.com",
            updated=T0 + timedelta(minutes=n),
        )
        for n in range(5)
    ]
    archived = fake.add_contact(Name="Old Ltd", ContactStatus="ARCHIVED", updated=T0)
    batches = list(make_connector(page_size=2).read("contacts", None))
    assert sorted(ids_of(batches)) == sorted([*made, archived])
    assert all(len(b.records) <= 2 for b in batches)
    first = fake.api_requests("/Contacts", "GET")[0]
    assert first.param("order") == "UpdatedDateUTC ASC"
    assert first.param("includeArchived") == "true"
    assert first.param("pageSize") == "2"
    assert first.header("xero-tenant-id") == fake.tenant_id
    assert first.header("accept") == "application/json"
    assert first.header("if-modified-since") is None


def test_default_page_size_sends_no_page_size(
    fake: XeroFake, make_connector: MakeConnector
) -> None:
    fake.add_contact(Name="Solo")
    assert len(ids_of(list(make_connector().read("contacts", None)))) == 1
    (request,) = fake.api_requests("/Contacts", "GET")
    assert request.param("page") == "1" and request.param("pageSize") is None


def test_archived_contacts_can_be_left_out(fake: XeroFake, make_connector: MakeConnector) -> None:
    kept = fake.add_contact(Name="Active Ltd")
    fake.add_contact(Name="Old Ltd", ContactStatus="ARCHIVED")
    batches = list(make_connector(include_archived=False).read("contacts", None))
    assert ids_of(batches) == [kept]


def test_incremental_read_at_a_boundary_second(
    fake: XeroFake, make_connector: MakeConnector
) -> None:
    a = fake.add_contact(Name="A", updated=T0)
    b = fake.add_contact(Name="B", updated=T0 + timedelta(seconds=30, milliseconds=200))
    state = list(make_connector().read("contacts", None))[-1].state_after
    assert state["cursor"] == "2024-05-01T09:00:30.200+00:00"
    # changes in the cursor's own second (before and after its milliseconds) and later
    c = fake.add_contact(Name="C", updated=T0 + timedelta(seconds=30, milliseconds=100))
    fake.update_contact(a, Name="A2", updated=T0 + timedelta(seconds=30, milliseconds=900))
    d = fake.add_contact(Name="D", updated=T0 + timedelta(seconds=31))
    before = len(fake.api.requests)
    resumed = list(make_connector().read("contacts", state))
    assert sorted(ids_of(resumed)) == sorted([a, c, d])  # b is not handed over again
    assert b not in ids_of(resumed)
    request = fake.api.requests[before]
    assert request.header("if-modified-since") == "2024-05-01T09:00:29+00:00"
    again = list(make_connector().read("contacts", resumed[-1].state_after))
    assert ids_of(again) == []


def test_new_fields_pass_through(fake: XeroFake, make_connector: MakeConnector) -> None:
    fake.add_contact(
        Name="Drift Ltd",
        LoyaltyTier="gold",
        Balances={"AccountsReceivable": {"Outstanding": 12.5, "Overdue": 0.0}},
    )
    (record,) = [r for b in make_connector().read("contacts", None) for r in b.records]
    assert record["LoyaltyTier"] == "gold"
    assert record["Balance"] == 12.5


def test_bad_contact_is_rejected_and_the_rest_read(
    fake: XeroFake, make_connector: MakeConnector
) -> None:
    good = fake.add_contact(Name="Good", updated=T0)
    bad = fake.add_bad_contact()
    batches = list(make_connector().read("contacts", None))
    assert ids_of(batches) == [good]
    (rejected,) = [r for b in batches for r in b.rejected]
    assert bad in rejected.reason and "not a date" in rejected.reason
    assert rejected.position.startswith("page 1")
    assert bad in rejected.raw
