"""Full reads: paging, flat records, the properties asked for, drift, rejected objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hubspot_support import ConnectorFactory, assert_shape
from tests.fakes.hubspot import HubSpotFake

from crmhub.connectors.base import join_key
from crmhub.errors import SourceContractError

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def seed_contacts(fake: HubSpotFake, count: int) -> list[str]:
    return [
        fake.add(
            "contacts",
            {"firstname": f"First{i}", "lastname": f"Last{i}", "email": f"c{i}@example.com"},
            modified=T0 + timedelta(minutes=i),
        )
        for i in range(count)
    ]


def test_full_read_pages_with_after(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    ids = seed_contacts(fake, 7)
    batches = list(connect(page_size=3).read("contacts", None))
    assert [len(b.records) for b in batches] == [3, 3, 1]
    assert [r["id"] for b in batches for r in b.records] == ids
    lists = fake.requests_to("GET", "/crm/v3/objects/contacts")
    assert [r.param("after") for r in lists] == [None, ids[3], ids[6]]
    assert {r.param("limit") for r in lists} == {"3"}
    assert {r.param("archived") for r in lists} == {"false"}
    for batch in batches[:-1]:
        assert "list_after" in batch.state_after
    assert batches[-1].state_after == {
        "cursor": "2024-05-01T09:06:00.000Z",
        "boundary_ids": [ids[6]],
    }


def test_records_are_flat_with_stable_columns(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    oid = fake.add("contacts", {"firstname": "Ada", "email": "ada@example.com"}, modified=T0)
    conn = connect()
    [batch] = list(conn.read("contacts", None))
    [record] = batch.records
    spec = next(s for s in conn.discover() if s.name == "contacts")
    assert tuple(record) == spec.columns
    assert record["id"] == oid == join_key([record[k] for k in spec.key])
    assert record["firstname"] == "Ada"
    assert record["lastname"] is None
    assert record["lastmodifieddate"] == "2024-05-01T09:00:00.000Z"
    assert record["archived"] is False
    assert record["createdAt"] == "2024-05-01T09:00:00.000Z"
    assert all(v is None or isinstance(v, str | bool) for v in record.values())


def test_configured_properties_are_requested(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    fake.add("companies", {"name": "Acme", "domain": "acme.example", "industry": "TOOLS"})
    conn = connect(
        streams={"companies": {"properties": ["name"], "extra_properties": ["industry"]}}
    )
    [batch] = list(conn.read("companies", None))
    [request] = fake.requests_to("GET", "/crm/v3/objects/companies")
    assert request.param("properties") == "name,industry,hs_lastmodifieddate"
    assert batch.records[0]["industry"] == "TOOLS"
    spec = next(s for s in conn.discover() if s.name == "companies")
    assert spec.columns == (
        "id", "name", "industry", "hs_lastmodifieddate", "createdAt", "updatedAt", "archived",
    )  # fmt: skip
    assert spec.cursor == "hs_lastmodifieddate"


def test_default_properties(connect: ConnectorFactory) -> None:
    specs = {s.name: s for s in connect().discover()}
    assert specs["contacts"].columns[1:-3] == (
        "firstname", "lastname", "email", "phone", "mobilephone", "address", "city", "zip",
        "country", "company", "lastmodifieddate", "hs_object_id",
    )  # fmt: skip
    assert specs["companies"].columns[1:-3] == (
        "name", "domain", "phone", "address", "city", "zip", "country", "hs_lastmodifieddate",
    )  # fmt: skip
    assert specs["contacts"].key == ("id",)
    assert specs["contacts"].cursor == "lastmodifieddate"


def test_unexpected_property_is_kept(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    fake.add("contacts", {"email": "a@example.com"})
    fake.drift["hs_brand_new_thing"] = "surprise"
    [batch] = list(connect().read("contacts", None))
    assert batch.records[0]["hs_brand_new_thing"] == "surprise"


def test_unreadable_object_is_rejected_not_fatal(
    fake: HubSpotFake, connect: ConnectorFactory
) -> None:
    good = seed_contacts(fake, 2)
    bad = fake.add_broken("contacts")
    batches = list(connect().read("contacts", None))
    assert [r["id"] for b in batches for r in b.records] == good
    [rejected] = [r for b in batches for r in b.rejected]
    assert rejected.position == f"contacts id {bad}"
    assert "lastmodifieddate" in rejected.reason
    assert bad in rejected.raw


def test_empty_account_reads_nothing(connect: ConnectorFactory) -> None:
    batches = list(connect().read("contacts", None))
    assert [b.records for b in batches] == [[]]
    assert batches[0].state_after == {}


def test_unknown_stream(connect: ConnectorFactory) -> None:
    with pytest.raises(SourceContractError, match="unknown stream 'deals'"):
        list(connect().read("deals", None))


def test_unreadable_state_is_a_contract_error(connect: ConnectorFactory) -> None:
    with pytest.raises(SourceContractError, match="unreadable stream state"):
        list(connect().read("contacts", {"cursor": "last tuesday"}))


def test_list_answer_has_the_sdk_shape(fake: HubSpotFake, connect: ConnectorFactory) -> None:
    """The fake's list page has the SDK's list-response shape."""
    seed_contacts(fake, 3)
    fake.drift["hs_extra"] = "x"
    list(connect(page_size=2).read("contacts", None))
    response = connect().http.request(
        "GET", "crm/v3/objects/contacts", params={"limit": 2, "properties": "email"}
    )
    assert_shape(
        response.json(), "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging"
    )
