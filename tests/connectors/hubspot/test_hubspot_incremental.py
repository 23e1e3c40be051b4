"""Incremental reads through the search API: GTE the cursor, boundary ids, the result cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hubspot_support import ConnectorFactory, assert_shape
from tests.fakes.hubspot import HubSpotFake, epoch_ms

from crmhub.connectors.base import Batch, StreamState
from crmhub.errors import SourceContractError

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def add(fake: HubSpotFake, minutes: float, name: str = "x", stream: str = "contacts") -> str:
    props = {"firstname": name} if stream == "contacts" else {"name": name}
    return fake.add(stream, props, modified=at(minutes))


def ids_of(batches: list[Batch]) -> list[str]:
    return [r["id"] for b in batches for r in b.records]


def full_state(connect: ConnectorFactory, stream: str = "contacts") -> StreamState:
    return list(connect().read(stream, None))[-1].state_after


def test_changes_are_searched_from_the_cursor(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    a, b, c = add(fake, 0), add(fake, 1), add(fake, 2)
    state = full_state(connect)
    assert state == {"cursor": "2024-05-01T09:02:00.000Z", "boundary_ids": [c]}
    fake.update("contacts", a, {"firstname": "changed"}, modified=at(5))
    batches = list(connect().read("contacts", state))
    assert ids_of(batches) == [a]
    assert batches[-1].state_after == {"cursor": "2024-05-01T09:05:00.000Z", "boundary_ids": [a]}
    [search] = fake.requests_to("POST", "/contacts/search")
    assert search.body["filterGroups"] == [
        {
            "filters": [
                {
                    "propertyName": "lastmodifieddate",
                    "operator": "GTE",
                    "value": str(epoch_ms(at(2))),
                }
            ]
        }
    ]
    assert search.body["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert search.body["limit"] == 100
    assert "lastmodifieddate" in search.body["properties"]
    assert b not in ids_of(batches)


def test_a_change_at_the_boundary_value_is_read(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    """Same millisecond as the cursor: the delivered id is dropped, the others come."""
    add(fake, 0)
    last = add(fake, 2)
    state = full_state(connect)
    same_time = add(fake, 2, "new at the boundary")
    later = add(fake, 3)
    batches = list(connect().read("contacts", state))
    assert ids_of(batches) == [same_time, later]
    assert last not in ids_of(batches)


def test_nothing_changed_yields_nothing(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    add(fake, 0)
    assert list(connect().read("contacts", full_state(connect))) == []


def test_companies_use_hs_lastmodifieddate(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    add(fake, 0, "Acme", "companies")
    state = full_state(connect, "companies")
    newer = add(fake, 4, "Globex", "companies")
    assert ids_of(list(connect().read("companies", state))) == [newer]
    [search] = fake.requests_to("POST", "/companies/search")
    assert search.body["filterGroups"][0]["filters"][0]["propertyName"] == "hs_lastmodifieddate"


def test_each_page_restarts_from_the_newest_time(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    """Pages move the cursor, so each page is a fresh query: the cap is never reached."""
    first = add(fake, 0)
    state = full_state(connect)
    fake.search_cap = 4
    changed = [add(fake, 1 + i) for i in range(11)]
    batches = list(connect(search_page_size=3, search_result_cap=4).read("contacts", state))
    assert ids_of(batches) == changed
    searches = fake.requests_to("POST", "/contacts/search")
    assert all(r.body.get("after") is None for r in searches)
    assert first not in ids_of(batches)


def test_search_follows_after_within_one_time_and_never_passes_the_cap(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    """Rows sharing one time are paged with `after`; the next newer time starts a new query."""
    add(fake, 0)
    state = full_state(connect)
    fake.search_cap = 6
    same = {add(fake, 1) for _ in range(5)}
    later = [add(fake, 2 + i) for i in range(4)]
    batches = list(connect(search_page_size=2, search_result_cap=6).read("contacts", state))
    read = ids_of(batches)
    assert len(read) == len(set(read)) == 9
    assert set(read[:5]) == same and read[5:] == later
    afters = [r.body.get("after") for r in fake.requests_to("POST", "/contacts/search")]
    assert "2" in afters and all(a is None or int(a) < 6 for a in afters)


def test_more_rows_at_one_time_than_the_cap_is_an_error(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    add(fake, 0)
    state = full_state(connect)
    fake.search_cap = 4
    for _ in range(6):
        add(fake, 1)
    reader = connect(search_page_size=2, search_result_cap=4).read("contacts", state)
    with pytest.raises(SourceContractError, match="more than 4 contacts share lastmodifieddate"):
        list(reader)


def test_a_row_modified_during_the_read_shifts_no_row_out(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    """Offset pages would skip a row when an earlier one moves to the end; fresh queries don't."""
    add(fake, 0)
    state = full_state(connect)
    rows = [add(fake, 1 + i) for i in range(6)]
    reader = connect(search_page_size=2).read("contacts", state)
    first = next(reader)
    fake.update("contacts", rows[0], {"firstname": "moved"}, modified=at(30))
    rest = list(reader)
    read = ids_of([first, *rest])
    assert set(rows) <= set(read)
    assert read[-1] == rows[0]


def test_resume_after_a_crash_in_a_full_read(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    ids = [add(fake, m) for m in (0, 1, 1, 1, 2, 2, 3)]
    batches = list(connect(page_size=2).read("contacts", None))
    resumed = list(connect(page_size=2).read("contacts", batches[0].state_after))
    assert ids_of(batches[:1]) + ids_of(resumed) == ids


def test_a_change_during_a_full_read_is_found_by_the_next_read(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    """The list is in id order: an object listed early and changed later in the listing is
    older than the newest one listed, so the cursor after a full read is the listing's start."""
    ids = [add(fake, m) for m in range(4)]
    reader = connect(page_size=2).read("contacts", None)
    first = next(reader)
    fake.update("contacts", ids[0], {"firstname": "changed while listing"})  # now, in 2026
    fake.update("contacts", ids[3], {"firstname": "changed later"})
    batches = [first, *reader]
    assert "list_started" in first.state_after
    state = batches[-1].state_after
    assert state["boundary_ids"] == []
    assert state["cursor"] < fake.objects["contacts"][ids[0]].modified.isoformat()
    assert set(ids_of(list(connect().read("contacts", state)))) == {ids[0], ids[3]}


def test_a_change_indexed_late_is_found_by_the_next_search(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    """The cursor of a search stays a minute behind HubSpot's clock: the index lags changes."""
    add(fake, 0)
    state = full_state(connect)
    newest = fake.add("contacts", {"firstname": "just now"})
    batches = list(connect().read("contacts", state))
    assert ids_of(batches) == [newest]
    state = batches[-1].state_after
    assert state["boundary_ids"] == []
    late = fake.add(
        "contacts",
        {"firstname": "changed before, indexed after"},
        modified=fake.objects["contacts"][newest].modified - timedelta(seconds=5),
    )
    assert set(ids_of(list(connect().read("contacts", state)))) == {late, newest}


def test_resume_after_a_crash_in_a_search(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    add(fake, 0)
    state = full_state(connect)
    changed = [add(fake, m) for m in (1, 1, 1, 2, 2, 3)]
    batches = list(connect(search_page_size=2).read("contacts", state))
    assert sorted(ids_of(batches)) == sorted(changed)
    resumed = list(connect(search_page_size=2).read("contacts", batches[0].state_after))
    assert sorted(ids_of(batches[:1]) + ids_of(resumed)) == sorted(changed)


def test_search_request_and_answer_have_the_sdk_shapes(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    add(fake, 0)
    state = full_state(connect)
    add(fake, 1)
    add(fake, 2)
    list(connect(search_page_size=1).read("contacts", state))
    search = fake.requests_to("POST", "/contacts/search")[-1]
    body = dict(search.body)
    # the SDK types `sorts` as strings; HubSpot's docs (and the connector) send objects
    assert body.pop("sorts") == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert_shape(body, "PublicObjectSearchRequest")
    answer = connect().http.request("POST", "crm/v3/objects/contacts/search", json=search.body)
    assert_shape(answer.json(), "CollectionResponseWithTotalSimplePublicObjectForwardPaging")
