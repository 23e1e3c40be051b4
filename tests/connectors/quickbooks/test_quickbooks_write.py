"""Write-back: sparse updates checked by the XSD, unchanged rows, QBO faults, requestid replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from qbo_support import MakeConnector
from tests.fakes.quickbooks import QuickBooksFake
from tests.fakes.server import Fault

from crmhub.connectors.base import RowStatus, Upsert
from crmhub.connectors.http import HttpStatusError
from crmhub.errors import RetriesExhaustedError

OLD = datetime.now(UTC).replace(microsecond=0) - timedelta(days=90)


def upsert(cid: str | None, key: str = "k1", **fields: object) -> Upsert:
    return Upsert(cid, "G-1", fields, key)


@pytest.fixture
def ada(fake: QuickBooksFake) -> str:
    return fake.add(
        OLD,
        GivenName="Ada",
        FamilyName="Lovelace",
        PrimaryEmailAddr={"Address": "ada@old.io"},
        BillAddr={"Id": "4", "Line1": "1 Bridge St", "City": "London", "PostalCode": "N1"},
        Notes="Pays late.",
    )


def test_sparse_update_sends_only_changes_then_is_unchanged(
    fake: QuickBooksFake, make_connector: MakeConnector, ada: str
) -> None:
    connector = make_connector()
    row = upsert(ada, crmhub_id="G-1", PrimaryEmailAddr="ada@new.io", BillAddrCity="Leeds")
    (result,) = connector.write("customers", [row]).rows
    assert (result.status, result.external_id) == (RowStatus.APPLIED, ada)
    (body,) = fake.updates
    assert body["sparse"] is True and (body["Id"], body["SyncToken"]) == (ada, "0")
    assert set(body) == {"Id", "SyncToken", "sparse", "PrimaryEmailAddr", "BillAddr", "Notes"}
    assert body["BillAddr"] == {
        "Id": "4",
        "Line1": "1 Bridge St",
        "City": "Leeds",
        "PostalCode": "N1",
    }
    assert body["Notes"] == "Pays late.\ncrmhub_id: G-1"  # people's notes are kept
    assert fake.customers[ada]["SyncToken"] == "1"
    (again,) = connector.write("customers", [upsert(ada, "k2", **row.fields)]).rows
    assert again.status is RowStatus.UNCHANGED
    assert len(fake.calls("/customer", "POST")) == 1


def test_the_requestid_comes_from_the_idempotency_key_and_version(
    fake: QuickBooksFake, make_connector: MakeConnector, ada: str
) -> None:
    connector = make_connector()
    connector.write("customers", [upsert(ada, "a" * 32, GivenName="Augusta")])
    fake.update(ada, GivenName="Ada")  # someone sets it back in QuickBooks
    (again,) = connector.write("customers", [upsert(ada, "a" * 32, GivenName="Augusta")]).rows
    assert again.status is RowStatus.APPLIED and fake.replays == 0  # not an old answer
    assert fake.customers[ada]["GivenName"] == "Augusta"
    first, second = (p.param("requestid") or "" for p in fake.calls("/customer", "POST"))
    assert first != second and all(0 < len(r) <= 50 for r in (first, second))
    row = upsert(None, "c" * 32, GivenName="Grace", FamilyName="Hopper")
    connector.write("customers", [row])
    assert fake.calls("/customer", "POST")[-1].param("requestid") == "c" * 32  # a create


def test_a_lost_answer_is_retried_and_applied_once(
    fake: QuickBooksFake, make_connector: MakeConnector, ada: str
) -> None:
    fake.lose_answers = 1
    (result,) = make_connector().write("customers", [upsert(ada, GivenName="Augusta")]).rows
    assert result.status is RowStatus.APPLIED
    first, retry = fake.calls("/customer", "POST")
    assert first.param("requestid") == retry.param("requestid")
    assert fake.replays == 1
    assert fake.customers[ada]["SyncToken"] == "1"  # applied once


def test_a_stale_sync_token_is_rejected_with_the_vendor_code(
    fake: QuickBooksFake, make_connector: MakeConnector, ada: str
) -> None:
    fake.before_post = lambda: fake.update(ada, FamilyName="Byron")  # another user was quicker
    (result,) = make_connector().write("customers", [upsert(ada, GivenName="Augusta")]).rows
    assert result.status is RowStatus.REJECTED
    assert "5010" in result.reason and "stale SyncToken" in result.reason


def test_rows_are_reported_in_order_and_a_refusal_does_not_stop_the_others(
    fake: QuickBooksFake, make_connector: MakeConnector, ada: str
) -> None:
    other = fake.add(OLD, GivenName="Charles", FamilyName="Babbage")
    rows = [
        upsert(ada, "k1", DisplayName="Charles Babbage"),  # QBO: names are unique
        upsert(other, "k2", Balance=5),  # read-only
        upsert("999", "k3", GivenName="Nobody"),
        upsert(other, "k4", Active="maybe"),
        upsert(other, "k5", GivenName="Charlie"),
        upsert(other, "k6", FamilyName="B."),  # same customer again: needs the new SyncToken
    ]
    results = make_connector().write("customers", rows).rows
    assert [r.idempotency_key for r in results] == ["k1", "k2", "k3", "k4", "k5", "k6"]
    statuses = [r.status for r in results]
    assert statuses == [RowStatus.REJECTED] * 4 + [RowStatus.APPLIED] * 2
    assert "6240" in results[0].reason and "duplicate name" in results[0].reason
    assert "'Balance' cannot be written" in results[1].reason
    assert "no QuickBooks customer with Id 999" in results[2].reason
    assert "Active must be true or false" in results[3].reason
    assert fake.customers[other]["GivenName"] == "Charlie"
    assert fake.customers[other]["FamilyName"] == "B."


def test_a_body_the_xsd_refuses_is_refused_like_qbo(
    fake: QuickBooksFake, make_connector: MakeConnector, ada: str
) -> None:
    body = {"Id": ada, "SyncToken": "0", "sparse": True, "crmhub_id": "G-1", "Active": "yes"}
    with pytest.raises(HttpStatusError) as info:
        make_connector()._post("customer", body, "rid-1")
    assert (info.value.status, info.value.vendor_code) == (400, "2010")
    assert any("crmhub_id" in v for v in fake.violations)
    assert any("Active" in v for v in fake.violations)
    fake.violations.clear()  # recorded on purpose


def test_create_without_external_id(fake: QuickBooksFake, make_connector: MakeConnector) -> None:
    row = upsert(None, GivenName="Grace", FamilyName="Hopper", PrimaryEmailAddr="g@navy.mil")
    (result,) = make_connector().write("customers", [row]).rows
    assert result.status is RowStatus.APPLIED and result.external_id in fake.customers
    created = fake.customers[str(result.external_id)]
    assert created["PrimaryEmailAddr"] == {"Address": "g@navy.mil"}


def test_golden_id_in_a_whole_field(
    fake: QuickBooksFake, make_connector: MakeConnector, ada: str
) -> None:
    connector = make_connector(golden_id_store="AcctNum", golden_id_column="golden")
    (result,) = connector.write("customers", [upsert(ada, golden="G-42")]).rows
    assert result.status is RowStatus.APPLIED
    assert fake.customers[ada]["AcctNum"] == "G-42"
    assert fake.customers[ada]["Notes"] == "Pays late."
    (record,) = [r for b in connector.read("customers", None) for r in b.records]
    assert (record["golden"], record["AcctNum"]) == ("G-42", "G-42")


def test_server_errors_on_post_are_raised_after_retries(
    fake: QuickBooksFake, make_connector: MakeConnector, ada: str
) -> None:
    connector = make_connector()
    connector.write("customers", [])  # no rows, no calls
    assert fake.server.requests == []
    fake.server.inject(Fault(503, times=5, retry_after="0", path_prefix=f"{fake.base}/customer"))
    with pytest.raises(RetriesExhaustedError, match="503"):
        connector.write("customers", [upsert(ada, GivenName="Augusta")])


def test_many_rows_go_in_batches_of_at_most_write_batch_size(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    cids = [fake.add(OLD, GivenName=f"G{n}", FamilyName="F") for n in range(5)]
    rows = [upsert(cid, f"k{n}", crmhub_id=f"G-{n}") for n, cid in enumerate(cids)]
    report = make_connector().write("customers", rows)
    assert [r.status for r in report.rows] == [RowStatus.APPLIED] * 5
    assert fake.batches == [5] and fake.calls("/customer", "POST") == []
    assert [fake.customers[c]["Notes"] for c in cids] == [f"crmhub_id: G-{n}" for n in range(5)]
    fake.batches.clear()
    again = [upsert(cid, f"j{n}", crmhub_id=f"H-{n}") for n, cid in enumerate(cids)]
    make_connector(write_batch_size=2).write("customers", again)
    assert fake.batches == [2, 2] and len(fake.calls("/customer", "POST")) == 1


def test_a_refused_batch_item_rejects_only_its_row(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    first, second, third = (fake.add(OLD, GivenName=f"G{n}") for n in range(3))
    fake.before_post = lambda: fake.update(second, FamilyName="Changed elsewhere")
    rows = [upsert(cid, f"k{n}", GivenName=f"N{n}") for n, cid in enumerate([first, second, third])]
    results = make_connector().write("customers", rows).rows
    assert [r.status for r in results] == [RowStatus.APPLIED, RowStatus.REJECTED, RowStatus.APPLIED]
    assert "5010" in results[1].reason
    assert (fake.customers[first]["GivenName"], fake.customers[third]["GivenName"]) == ("N0", "N2")


def test_a_lost_batch_answer_is_retried_and_applied_once(
    fake: QuickBooksFake, make_connector: MakeConnector
) -> None:
    cids = [fake.add(OLD, GivenName=f"G{n}") for n in range(3)]
    fake.lose_answers = 1
    rows = [upsert(cid, f"k{n}", GivenName=f"N{n}") for n, cid in enumerate(cids)]
    results = make_connector().write("customers", rows).rows
    assert [r.status for r in results] == [RowStatus.APPLIED] * 3
    assert fake.batches == [3] and fake.replays == 1
    assert {fake.customers[c]["SyncToken"] for c in cids} == {"1"}
    posts = fake.calls("/batch", "POST")
    assert len(posts) == 2 and posts[0].param("requestid") == posts[1].param("requestid")
