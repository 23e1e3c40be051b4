"""Reading customers: records, keyset paging, query vs CDC incremental, boundary seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from qbo_support import MakeConnector
from tests.fakes.quickbooks import QuickBooksFake, parse_query

from crmhub.connectors.base import Batch

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = NOW - timedelta(days=90)
"""Outside CDC's 30 days: incremental reads use the query."""
RECENT = NOW - timedelta(days=2)


def ids(batches: list[Batch]) -> list[str]:
    return [r["Id"] for b in batches for r in b.records]


def seed(fake: QuickBooksFake, count: int, start: datetime, step: int = 1) -> list[str]:
    """`count` customers, the n-th changed at start + n*step seconds."""
    return [
        fake.add(start + timedelta(seconds=n * step), GivenName=f"G{n}", FamilyName=f"F{n}")
        for n in range(count)
    ]


def queries(fake: QuickBooksFake) -> list[Any]:
    return [parse_query(r.param("query") or "") for r in fake.calls("/query")]


def test_record_has_stable_flat_columns_in_utc(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    cid = fake.add(
        OLD,
        GivenName="Ada",
        FamilyName="Lovelace",
        CompanyName="Engines Ltd",
        PrimaryEmailAddr={"Address": "ada@engines.io"},
        PrimaryPhone={"FreeFormNumber": "+44 20 7946 0000"},
        BillAddr={"Id": "9", "Line1": "1 Bridge St", "City": "London", "PostalCode": "N1"},
        CurrencyRef={"value": "GBP", "name": "British Pound"},
        Balance=120.5,
        Notes="Pays late.\ncrmhub_id: G-7",
    )
    connector = make_connector()
    (record,) = [r for b in connector.read("customers", None) for r in b.records]
    assert record["Id"] == cid
    assert record["PrimaryEmailAddr"] == "ada@engines.io"
    assert record["PrimaryPhone"] == "+44 20 7946 0000"
    assert (record["BillAddrLine1"], record["BillAddrCity"]) == ("1 Bridge St", "London")
    assert record["CurrencyRef"] == "GBP"
    assert record["Balance"] == 120.5
    assert record["LastUpdatedTime"] == OLD.isoformat()  # company-local time, now UTC
    assert record["Notes"] == "Pays late."
    assert record["crmhub_id"] == "G-7"
    assert record["Deleted"] is False
    assert all(not isinstance(v, (dict, list)) for v in record.values())
    (spec,) = connector.discover()
    assert set(spec.columns) <= set(record)
    assert (spec.key, spec.cursor) == (("Id",), "LastUpdatedTime")


def test_full_read_pages_by_last_updated_time(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    expected = seed(fake, 5, OLD)
    batches = list(make_connector(page_size=2).read("customers", None))
    assert ids(batches) == expected  # each once, although pages overlap by the last second
    sent = queries(fake)
    assert all(q.max_results == 2 and q.order_by for q in sent)
    assert {q.start for q in sent} == {1}  # keyset pages, not offsets
    assert sent[1].conditions[-1] == ("LastUpdatedTime", ">=", OLD + timedelta(seconds=1))
    assert batches[-1].state_after["cursor"] == (OLD + timedelta(seconds=4)).isoformat()


def test_a_second_shared_by_more_rows_than_a_page_is_stepped_over(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    expected = seed(fake, 7, OLD, step=0)
    later = fake.add(OLD + timedelta(seconds=1), GivenName="Late")
    batches = list(make_connector(page_size=3).read("customers", None))
    assert sorted(ids(batches)) == sorted([*expected, later])
    assert len(ids(batches)) == 8
    assert [q.start for q in queries(fake)][:3] == [1, 1, 4]


def test_inactive_customers_are_read_unless_excluded(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    active, inactive = seed(fake, 2, OLD)
    fake.update(inactive, OLD + timedelta(seconds=5), Active=False)
    assert ids(list(make_connector().read("customers", None))) == [active, inactive]
    only_active = make_connector(include_inactive=False).read("customers", None)
    assert ids(list(only_active)) == [active]


def test_old_cursor_resumes_with_the_query_and_boundary_second(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    first, second = seed(fake, 2, OLD)
    connector = make_connector()
    state = list(connector.read("customers", None))[-1].state_after
    assert state == {"cursor": (OLD + timedelta(seconds=1)).isoformat(), "boundary": {second: "0"}}
    same_second = fake.add(OLD + timedelta(seconds=1), GivenName="Same second")
    fake.update(second, OLD + timedelta(seconds=1), GivenName="Changed in that second")
    newer = fake.add(OLD + timedelta(seconds=2), GivenName="Newer")
    fake.server.requests.clear()
    batches = list(connector.read("customers", state))
    assert ids(batches) == [second, same_second, newer]
    assert fake.calls("/cdc") == []
    (query,) = queries(fake)
    assert ("LastUpdatedTime", ">=", OLD + timedelta(seconds=1)) in query.conditions
    assert list(connector.read("customers", batches[-1].state_after))[-1].records == []
    assert first not in ids(batches)


def test_recent_cursor_uses_cdc_with_deletes(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    kept, gone = seed(fake, 2, RECENT)
    connector = make_connector()
    state = list(connector.read("customers", None))[-1].state_after
    fake.update(kept, RECENT + timedelta(seconds=1), FamilyName="Renamed")  # at the cursor
    fake.delete(gone, RECENT + timedelta(seconds=3))
    new = fake.add(RECENT + timedelta(seconds=2), GivenName="New")
    fake.server.requests.clear()
    batches = list(connector.read("customers", state))
    assert fake.calls("/query") == []
    (cdc,) = fake.calls("/cdc")
    assert cdc.param("entities") == "Customer"
    assert ids(batches) == [kept, new, gone]
    records = {r["Id"]: r for b in batches for r in b.records}
    assert records[kept]["FamilyName"] == "Renamed"
    assert records[gone]["Deleted"] is True and records[gone]["Active"] is False
    assert batches[-1].state_after["cursor"] == (RECENT + timedelta(seconds=3)).isoformat()
    assert ids(list(connector.read("customers", batches[-1].state_after))) == []


def test_cdc_batches_resume_exactly_after_a_crash(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    (anchor,) = seed(fake, 1, RECENT)
    connector = make_connector(page_size=2)
    state = list(connector.read("customers", None))[-1].state_after
    changed = seed(fake, 5, RECENT + timedelta(seconds=1), step=0)
    first, *_ = list(connector.read("customers", state))
    rest = list(connector.read("customers", first.state_after))
    assert sorted(ids([first, *rest])) == sorted(changed)
    assert anchor not in ids([first, *rest])


def test_cdc_at_its_limit_falls_back_to_the_query(
    fake: QuickBooksFake, make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("crmhub.connectors.quickbooks.connector.CDC_MAX_ENTITIES", 3)
    seed(fake, 1, RECENT)
    connector = make_connector()
    state = list(connector.read("customers", None))[-1].state_after
    changed = seed(fake, 3, RECENT + timedelta(seconds=1))
    fake.cdc_limit = 3
    fake.server.requests.clear()
    records = ids(list(connector.read("customers", state)))
    assert records == changed
    assert len(fake.calls("/cdc")) == 1 and len(fake.calls("/query")) == 1


def test_cdc_skips_inactive_customers_when_excluded(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    first, second = seed(fake, 2, RECENT)
    connector = make_connector(include_inactive=False)
    state = list(connector.read("customers", None))[-1].state_after
    fake.update(first, RECENT + timedelta(seconds=5), Active=False)
    fake.update(second, RECENT + timedelta(seconds=6), GivenName="Still active")
    batches = list(connector.read("customers", state))
    assert fake.calls("/cdc") and ids(batches) == [second]
    assert batches[-1].state_after["cursor"] == (RECENT + timedelta(seconds=6)).isoformat()


def test_cdc_is_not_used_when_disabled(fake: QuickBooksFake, make_connector: MakeConnector) -> None:
    seed(fake, 1, RECENT)
    connector = make_connector(use_cdc=False)
    state = list(connector.read("customers", None))[-1].state_after
    list(connector.read("customers", state))
    assert fake.calls("/cdc") == []


def test_a_broken_customer_is_rejected_and_the_read_goes_on(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    good = seed(fake, 2, OLD)
    fake.raw_rows.append({"DisplayName": "No id", "MetaData": {"LastUpdatedTime": OLD.isoformat()}})
    batches = list(make_connector().read("customers", None))
    assert ids(batches) == good
    (rejected,) = [r for b in batches for r in b.rejected]
    assert "without an Id" in rejected.reason
    assert "No id" in rejected.raw and "item" in rejected.position


def test_schema_drift_passes_new_fields_through_flattened(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    seed(fake, 1, OLD)
    fake.drift = {
        "ResaleNum": "R-1",
        "GSTIN": "29ABCDE1234F1Z5",
        "ShipAddr": {"Line1": "2 Dock Rd", "City": "Leeds"},
        "OtherContactInfo": [{"Type": "TelephoneNumber"}],
    }
    fake.unvalidated_drift = {"OtherContactInfo"}
    (record,) = [r for b in make_connector().read("customers", None) for r in b.records]
    assert record["ResaleNum"] == "R-1"
    assert record["GSTIN"] == "29ABCDE1234F1Z5"
    assert record["ShipAddr.City"] == "Leeds"
    assert record["OtherContactInfo"] == '[{"Type": "TelephoneNumber"}]'


def test_every_call_sends_minorversion_and_json_accept(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    seed(fake, 1, OLD)
    list(make_connector(minor_version=75).read("customers", None))
    calls = fake.calls("/query")
    assert calls, "the read made no query call"
    for request in calls:
        assert request.param("minorversion") == "75"
        assert request.header("accept") == "application/json"
