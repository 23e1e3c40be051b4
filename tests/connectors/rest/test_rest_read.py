"""Reading: every paging style, record selectors, flattening, rejected records, drift."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from rest_support import MakeConnector, stream_block
from tests.fakes.rest_api import EPOCH, RestApiFake, customer
from tests.fakes.server import Fault

from crmhub.connectors.base import Batch
from crmhub.connectors.rest.selector import flatten, select_records
from crmhub.errors import RetriesExhaustedError, SourceContractError

PAGING: dict[str, tuple[dict[str, Any] | str, str]] = {
    "page_number": ({"type": "page_number", "page_size": 3}, "data.items"),
    "page_number_total": (
        {"type": "page_number", "page_size": 3, "total_pages_path": "meta.total_pages"},
        "data.items",
    ),
    "offset": ({"type": "offset", "limit": 3}, "data.items"),
    "offset_total": ({"type": "offset", "limit": 3, "total_path": "meta.total"}, "data.items"),
    "cursor": (
        {"type": "cursor", "cursor_path": "meta.next_cursor", "page_size_param": "limit"}
        | {"page_size": 3},
        "data.items",
    ),
    "next_url": (
        {"type": "next_url", "path": "links.next", "page_size_param": "limit", "page_size": 3},
        "$.data.items",
    ),
    "link_header": ({"type": "link_header", "page_size_param": "limit", "page_size": 3}, "$"),
    "none": ("none", ""),
}


def seed(fake: RestApiFake, count: int) -> list[str]:
    ids = [f"c{i:03d}" for i in range(count)]
    fake.seed(
        [
            customer(cid, "Ada", f"L{i}", f"ada{i}@example.com", EPOCH + timedelta(seconds=i))
            for i, cid in enumerate(ids)
        ]
    )
    return ids


def read_all(connector: Any, state: Any = None) -> list[Batch]:
    return list(connector.read("customers", state))


@pytest.mark.parametrize("style", list(PAGING))
@pytest.mark.parametrize("count", [0, 7, 9])
def test_every_paging_style_reads_every_record_once(
    fake: RestApiFake, make_connector: MakeConnector, style: str, count: int
) -> None:
    ids = seed(fake, count)
    fake.paging = style.removesuffix("_total")
    pagination, selector = PAGING[style]
    block = stream_block(pagination=pagination, record_selector=selector)
    batches = read_all(make_connector(streams=[block]))
    got = [r["id"] for b in batches for r in b.records]
    assert got == ids
    if style != "none" and count:
        assert [len(b.records) for b in batches][:2] == [3, 3]
    pages = len(fake.list_requests())
    assert pages <= (1 if style == "none" else count // 3 + 1)


def test_page_number_stops_at_total_pages_without_an_extra_call(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    seed(fake, 9)
    pagination = {"type": "page_number", "page_size": 3, "total_pages_path": "meta.total_pages"}
    read_all(make_connector(streams=[stream_block(pagination=pagination)]))
    assert [r.param("page") for r in fake.list_requests()] == ["1", "2", "3"]


def test_records_are_flat_with_nested_objects_dotted_and_lists_as_json(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    fake.seed([customer("c1", "Ada", "Lovelace", "ada@example.com", EPOCH, tags=["vip", "b2b"])])
    record = read_all(make_connector())[0].records[0]
    assert record["address.city"] == "Berlin"
    assert record["tags"] == '["vip","b2b"]'
    assert record["custom.crmhub_id"] is None
    assert all(not isinstance(v, dict | list) for v in record.values())


def test_schema_drift_new_field_arrives_in_records(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    seed(fake, 2)
    fake.add_field("loyalty", {"tier": "gold", "points": 10})
    records = read_all(make_connector())[0].records
    assert records[0]["loyalty.tier"] == "gold"
    assert records[0]["loyalty.points"] == 10


def test_discover_lists_key_cursor_and_columns(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    seed(fake, 2)
    incremental = {"cursor_field": "updated_at", "param": "updated_since"}
    sampled = make_connector(streams=[stream_block(incremental=incremental)]).discover()[0]
    assert (sampled.name, sampled.key, sampled.cursor) == ("customers", ("id",), "updated_at")
    assert {"id", "email", "address.city", "updated_at"} <= set(sampled.columns)
    explicit = stream_block(fields=["email", "first_name"], incremental=incremental)
    spec = make_connector(streams=[explicit]).discover()[0]
    assert spec.columns == ("email", "first_name", "id", "updated_at")


def test_explicit_fields_are_present_in_every_record(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    seed(fake, 1)
    block = stream_block(fields=["email", "nickname"])
    record = read_all(make_connector(streams=[block]))[0].records[0]
    assert record["nickname"] is None
    assert record["email"] == "ada0@example.com"


def test_bad_records_are_rejected_with_position_and_the_read_goes_on(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    seed(fake, 4)
    fake.add_bad_row(EPOCH + timedelta(seconds=1, milliseconds=500))
    batches = read_all(make_connector())
    rejected = [r for b in batches for r in b.rejected]
    assert [r["id"] for b in batches for r in b.records] == ["c000", "c001", "c002", "c003"]
    assert len(rejected) == 1
    assert rejected[0].position == "page 1 item 3"
    assert "primary key" in rejected[0].reason
    assert json.loads(rejected[0].raw)["first_name"] == "Broken"
    assert batches[0].positions == ["page 1 item 1", "page 1 item 2"]


def test_batch_size_groups_pages(fake: RestApiFake, make_connector: MakeConnector) -> None:
    seed(fake, 10)
    block = stream_block(batch_size=5)
    sizes = [len(b.records) for b in read_all(make_connector(streams=[block]))]
    assert sizes == [6, 4]


def test_missing_record_selector_is_a_contract_error_naming_the_keys(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    seed(fake, 2)
    with pytest.raises(SourceContractError) as info:
        read_all(make_connector(streams=[stream_block(record_selector="results")]))
    assert "record_selector 'results'" in str(info.value)
    assert "'data'" in str(info.value) and "'meta'" in str(info.value)


def test_a_page_pointing_to_itself_stops_the_read(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    seed(fake, 5)
    fake.paging = "cursor"
    # the token is read from a field that never changes: the API would be read forever
    pagination = {"type": "cursor", "cursor_path": "data.items.0.id", "param": "x"}
    block = stream_block(pagination=pagination)
    with pytest.raises(SourceContractError, match="points to itself"):
        read_all(make_connector(streams=[block]))


def test_next_link_to_another_host_is_refused(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    seed(fake, 2)
    fake.paging = "next_url"
    block = stream_block(
        pagination={"type": "next_url", "path": "data.items.0.email", "page_size_param": "limit"}
    )
    fake.seed([customer("c1", "A", "B", "https://evil.example.net/x", EPOCH)])
    with pytest.raises(SourceContractError, match="another host"):
        read_all(make_connector(streams=[block]))


def test_server_errors_and_429_are_retried(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    seed(fake, 4)
    fake.inject(Fault(429, times=1, retry_after="1"))
    fake.inject(Fault(503, times=2))
    batches = read_all(make_connector())
    assert sum(len(b.records) for b in batches) == 4
    first, second = fake.list_requests()[:2]
    assert second.at - first.at >= 1.0


def test_unknown_stream_names_the_streams(make_connector: MakeConnector) -> None:
    with pytest.raises(SourceContractError, match="this source has 'customers'"):
        list(make_connector().read("contacts", None))


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [
        ([{"id": 1}], "$", [{"id": 1}]),
        ([{"id": 1}], "", [{"id": 1}]),
        ({"data": {"items": [{"id": 1}]}}, "data.items", [{"id": 1}]),
        ({"data": {"items": [{"id": 1}]}}, "$.data.items", [{"id": 1}]),
        ({"results": [[{"id": 1}], [{"id": 2}]]}, "results.1", [{"id": 2}]),
        ({"data": None}, "data", []),
        ({"record": {"id": 1}}, "record", [{"id": 1}]),
        (None, "data", []),
    ],
)
def test_record_selector_paths(body: Any, path: str, expected: list[Any]) -> None:
    assert select_records(body, path) == expected


def test_record_selector_pointing_at_a_scalar_says_so() -> None:
    with pytest.raises(ValueError, match="points at a int"):
        select_records({"count": 3}, "count")


def test_flatten_keeps_scalars_and_empty_objects() -> None:
    assert flatten({"a": {"b": {"c": 1}}, "e": {}, "f": [1, {"g": 2}], "h": True}) == {
        "a.b.c": 1,
        "e": None,
        "f": '[1,{"g":2}]',
        "h": True,
    }


def test_rate_budget_spaces_the_calls(fake: RestApiFake, make_connector: MakeConnector) -> None:
    seed(fake, 26)  # 9 pages of 3 with a budget of 5 calls a second, 5 of them at once
    connector = make_connector(rate_limit={"per_second": 5, "api": f"test-{id(fake)}"})
    read_all(connector)
    times = [r.at for r in fake.list_requests()]
    assert len(times) == 9
    assert times[-1] - times[0] >= 0.7


def test_retry_overrides_reach_the_client(fake: RestApiFake, make_connector: MakeConnector) -> None:
    seed(fake, 2)
    connector = make_connector(retry={"attempts": 2, "statuses": [503], "backoff": 0.01})
    policy = connector.http.retry
    assert (policy.attempts, policy.statuses, policy.backoff) == (2, frozenset({503}), 0.01)
    fake.inject(Fault(503, times=2))
    with pytest.raises(RetriesExhaustedError, match="after 2 attempts"):
        read_all(connector)


CAPPED = {
    # the API ignores the size parameter sent and serves pages of 2, with a total in the body
    "page_number_total": {
        "type": "page_number",
        "page_size": 5,
        "page_size_param": "limit",
        "total_pages_path": "meta.total_pages",
    },
    "offset_total": {
        "type": "offset",
        "limit": 5,
        "limit_param": "max",
        "total_path": "meta.total",
    },
}


@pytest.mark.parametrize("style", list(CAPPED))
def test_a_short_page_goes_on_when_the_total_says_more_follow(
    fake: RestApiFake, make_connector: MakeConnector, caplog: pytest.LogCaptureFixture, style: str
) -> None:
    fake.paging = style.removesuffix("_total")
    fake.default_page_size = 2
    ids = seed(fake, 7)
    conn = make_connector(streams=[stream_block(pagination=CAPPED[style])])
    assert [r["id"] for b in read_all(conn) for r in b.records] == ids
    assert len(fake.list_requests()) == 4  # stops by the total, no empty page asked for
    warnings = [r for r in caplog.records if "fewer than the 5 asked for" in r.getMessage()]
    assert len(warnings) == 1  # once per read, not once per page


@pytest.mark.parametrize(
    "pagination",
    [
        {"type": "page_number", "page_size": 5, "page_size_param": "limit"},
        {"type": "offset", "limit": 5, "limit_param": "max"},
    ],
    ids=["page_number", "offset"],
)
def test_without_a_total_a_short_page_is_the_last(
    fake: RestApiFake, make_connector: MakeConnector, pagination: dict[str, Any]
) -> None:
    fake.paging = pagination["type"]
    fake.default_page_size = 2
    ids = seed(fake, 7)
    conn = make_connector(streams=[stream_block(pagination=pagination)])
    assert [r["id"] for b in read_all(conn) for r in b.records] == ids[:2]
