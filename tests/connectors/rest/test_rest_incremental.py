"""Incremental reads: `>=` from the last value, boundary ids dropped, crash-resume, lookback."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_support import MakeConnector, stream_block
from tests.fakes.rest_api import EPOCH, RestApiFake, customer

from crmhub.connectors.base import Batch
from crmhub.connectors.rest.incremental import Bookmark, format_cursor, parse_cursor
from crmhub.errors import SourceContractError

PARAM = {"cursor_field": "updated_at", "param": "updated_since"}
HEADER = {"cursor_field": "updated_at", "header": "If-Modified-Since"}


def at(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def person(cid: str, seconds: float, **extra: Any) -> dict[str, Any]:
    return customer(cid, "Ada", cid, f"{cid}@example.com", at(seconds), **extra)


def ids(batches: list[Batch]) -> list[str]:
    return [r["id"] for b in batches for r in b.records]


def connector(make: MakeConnector, incremental: dict[str, Any], **stream: Any) -> Any:
    return make(streams=[stream_block(incremental=incremental, **stream)])


def read(conn: Any, state: Any) -> list[Batch]:
    return list(conn.read("customers", state))


@pytest.mark.parametrize("incremental", [PARAM, HEADER], ids=["param", "header"])
def test_resume_delivers_new_and_boundary_records_once(
    fake: RestApiFake, make_connector: MakeConnector, incremental: dict[str, Any]
) -> None:
    fake.seed([person(f"c{i}", i // 2) for i in range(7)])  # c5 and c6 share second 2/3
    conn = connector(make_connector, incremental)
    first = read(conn, None)
    assert ids(first) == [f"c{i}" for i in range(7)]
    state = first[-1].state_after
    assert state["cursor"] == at(3).isoformat() and state["boundary_keys"] == ["c6"]

    assert ids(read(conn, state)) == []  # the boundary record is asked for again, not delivered
    fake.upsert(person("c7", 3))  # a new record AT the last value
    fake.upsert(person("c1", 4))  # a change after it
    before = len(fake.list_requests())
    again = read(conn, state)
    assert ids(again) == ["c7", "c1"]
    assert again[-1].state_after["boundary_keys"] == ["c1"]
    sent = fake.list_requests()[before]
    if "param" in incremental:
        assert sent.param("updated_since") == "2024-01-01T00:00:03Z"
    else:
        assert sent.header("if-modified-since") == "Mon, 01 Jan 2024 00:00:03 GMT"


def test_crash_after_any_batch_resumes_without_loss_or_duplicates(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    # seven records share one timestamp across three pages of three
    fake.seed([person(f"c{i:02d}", 0 if i < 2 else (5 if i < 9 else 6 + i)) for i in range(12)])
    conn = connector(make_connector, PARAM)
    full = read(conn, None)
    everything = ids(full)
    assert len(everything) == 12
    for index, batch in enumerate(full):
        done = ids(full[: index + 1])
        rest = ids(read(conn, batch.state_after))
        assert done + rest == everything, f"resumed after batch {index}"


def test_header_cursor_rounded_to_seconds_drops_records_already_read(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    fake.seed([person("a", 1.2), person("b", 1.5), person("c", 1.7)])
    conn = connector(make_connector, HEADER)
    state = read(conn, None)[-1].state_after
    assert state["boundary_keys"] == ["c"]
    # If-Modified-Since says 00:00:01, so a and b come back; they were delivered already
    fake.upsert(person("d", 1.9))
    assert ids(read(conn, state)) == ["d"]


def test_if_modified_since_with_nothing_new_is_a_304_and_no_batch(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    fake.seed([person("a", 1)])
    conn = connector(make_connector, HEADER)
    state = read(conn, None)[-1].state_after
    fake.seed([])
    assert read(conn, state) == []
    last = fake.server.requests[-1]
    assert last.header("if-modified-since") == email.utils.format_datetime(at(1), usegmt=True)


@pytest.mark.parametrize(
    ("incremental", "sent"),
    [(PARAM, "2024-01-01T00:01:20Z"), (HEADER, "Mon, 01 Jan 2024 00:01:20 GMT")],
    ids=["param", "header"],
)
def test_lookback_asks_earlier_and_delivers_late_arrivals(
    fake: RestApiFake, make_connector: MakeConnector, incremental: dict[str, Any], sent: str
) -> None:
    fake.seed([person("a", 50), person("b", 200)])
    conn = connector(make_connector, {**incremental, "lookback": "2m"})
    state = read(conn, None)[-1].state_after
    fake.upsert(person("late", 150))  # committed late with an older timestamp
    again = read(conn, state)
    request = fake.list_requests()[-1]
    assert sent in (request.param("updated_since"), request.header("if-modified-since"))
    # b sits at the boundary and was delivered: dropped; late is in the lookback window
    assert ids(again) == ["late"]
    after = again[-1].state_after  # the bookmark never moves back
    assert (after["cursor"], after["boundary_keys"]) == (state["cursor"], state["boundary_keys"])
    assert after["recent"] == {"late": at(150).isoformat()}
    assert ids(read(conn, after)) == []  # late is not delivered twice


def test_without_lookback_older_records_are_not_delivered_again(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    fake.seed([person("a", 100), person("b", 200)])
    conn = connector(make_connector, {**PARAM, "format": "epoch"})
    state = read(conn, None)[-1].state_after
    assert ids(read(conn, state)) == []
    assert fake.list_requests()[-1].param("updated_since") == str(int(at(200).timestamp()))


def test_start_value_limits_the_first_read(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    fake.seed([person("old", 10), person("new", 20)])
    conn = connector(make_connector, {**PARAM, "start": "2024-01-01T00:00:15Z"})
    assert ids(read(conn, None)) == ["new"]
    assert fake.list_requests()[0].param("updated_since") == "2024-01-01T00:00:15Z"


def test_unsorted_api_checkpoints_only_at_the_end(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    fake.seed([person(f"c{i}", i) for i in range(7)])
    conn = connector(make_connector, {**PARAM, "sorted": False})
    batches = read(conn, None)
    assert [b.state_after for b in batches[:-1]] == [{}] * (len(batches) - 1)
    assert batches[-1].state_after["cursor"] == at(6).isoformat()


def test_empty_state_is_a_full_read(fake: RestApiFake, make_connector: MakeConnector) -> None:
    fake.seed([person("a", 1)])
    conn = connector(make_connector, PARAM)
    assert ids(read(conn, {})) == ["a"]
    assert fake.list_requests()[0].param("updated_since") is None


def test_records_without_a_cursor_are_delivered_and_do_not_move_the_bookmark(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    fake.seed([person("a", 1)])
    conn = connector(make_connector, {**PARAM, "cursor_field": "synced_at"})
    batches = read(conn, None)
    assert ids(batches) == ["a"] and batches[-1].state_after == {}


def test_a_cursor_that_is_not_a_date_among_dates_is_rejected(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    fake.seed([person("a", 1), person("b", 2, seen="never")])
    conn = connector(make_connector, {**PARAM, "cursor_field": "seen"}, fields=["seen"])
    fake.seed([person("a", 1, seen="2024-02-01T00:00:00Z"), person("b", 2, seen="never")])
    batch = read(conn, None)[0]
    assert ids([batch]) == ["a"]
    assert "cannot be compared" in batch.rejected[0].reason


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        ("2024-03-01T10:00:00Z", None, datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("2024-03-01T10:00:00", None, datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("2024-03-01T12:00:00+02:00", None, datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("Fri, 01 Mar 2024 10:00:00 GMT", None, datetime(2024, 3, 1, 10, tzinfo=UTC)),
        (1709287200, "epoch", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        (1709287200000, "epoch_ms", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("1709287200", "epoch", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        (42, None, 42),
        ("v-17", None, "v-17"),
        ("", None, None),
    ],
)
def test_parse_cursor(value: Any, unit: Any, expected: Any) -> None:
    assert parse_cursor(value, unit) == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("iso", "2024-03-01T10:00:00.700000Z"),
        ("epoch", "1709287200"),
        ("epoch_ms", "1709287200700"),
        ("http_date", "Fri, 01 Mar 2024 10:00:00 GMT"),
    ],
)
def test_format_cursor_rounds_down(fmt: Any, expected: str) -> None:
    value = datetime(2024, 3, 1, 10, 0, 0, 700_000, tzinfo=UTC)
    assert format_cursor(value, fmt) == expected


@pytest.mark.parametrize("cursor", [datetime(2024, 3, 1, tzinfo=UTC), 17, 2.5, "v-9"])
def test_bookmark_state_round_trips_with_its_type(cursor: Any) -> None:
    bookmark = Bookmark(cursor, {"b", "a"})
    state = bookmark.to_state()
    assert state["boundary_keys"] == ["a", "b"]
    assert Bookmark.from_state(state) == bookmark


def test_a_corrupt_saved_state_is_a_contract_error(make_connector: MakeConnector) -> None:
    conn = connector(make_connector, PARAM)
    state = {"cursor": "yesterday", "cursor_type": "datetime", "boundary_keys": []}
    with pytest.raises(SourceContractError, match="saved state cannot be used"):
        read(conn, state)


@pytest.mark.parametrize("pagination", ["page_number", "offset"])
def test_a_record_updated_during_the_read_does_not_make_paging_skip_one(
    fake: RestApiFake, make_connector: MakeConnector, pagination: str
) -> None:
    fake.seed([person(f"c{i}", i) for i in range(9)])
    fake.paging = pagination
    paging = {"type": "page_number", "page_size": 3}
    if pagination == "offset":
        paging = {"type": "offset", "limit": 3}
    batches = connector(make_connector, PARAM, pagination=paging).read("customers", None)
    first = next(batches)
    fake.upsert(person("c1", 20))  # moves to the end; later positions shift by one
    rest = list(batches)
    assert ids([first]) == ["c0", "c1", "c2"]
    assert ids(rest) == ["c3", "c4", "c5", "c6", "c7", "c8", "c1"]
    assert rest[-1].state_after["cursor"] == at(20).isoformat()


def test_many_records_on_one_value_page_by_position_within_the_value(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    fake.seed([person(f"c{i}", 0 if i < 8 else i) for i in range(10)])
    batches = read(connector(make_connector, HEADER), None)
    assert ids(batches) == [f"c{i}" for i in range(10)]
    sent = [(r.header("if-modified-since"), r.param("page")) for r in fake.list_requests()]
    t0, t8 = (email.utils.format_datetime(at(s), usegmt=True) for s in (0, 8))
    # page 1 moves the bookmark to t0: ask from t0, then by position while it stays there
    assert sent == [(None, "1"), (t0, "1"), (t0, "2"), (t0, "3"), (t8, "1")]


def test_an_api_ignoring_the_filter_falls_back_to_plain_paging(
    fake: RestApiFake, make_connector: MakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    fake.seed([person(f"c{i}", i) for i in range(8)])
    fake.honours_since = False
    batches = read(connector(make_connector, PARAM), None)
    assert ids(batches) == [f"c{i}" for i in range(8)]
    assert "ignores the incremental filter" in caplog.text
    assert len(fake.list_requests()) == 4  # page 1, page 1 re-asked, pages 2 and 3


def test_strict_filter_with_a_one_second_lookback_loses_nothing(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    fake.seed([person(f"c{i}", i // 2) for i in range(8)])  # pairs share a second
    fake.strict_since = True  # `>`: a record at exactly the value asked from is not returned
    conn = connector(make_connector, {**PARAM, "lookback": "1s"})
    first = read(conn, None)
    assert ids(first) == [f"c{i}" for i in range(8)]
    fake.upsert(person("c8", 3))  # shares the last second with c6 and c7
    assert ids(read(conn, first[-1].state_after)) == ["c8"]
