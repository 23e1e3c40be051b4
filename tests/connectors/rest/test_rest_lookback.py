"""Lookback and coarse cursor formats: the whole window delivered, nothing delivered twice.

A lookback (or a value sent in whole seconds) makes the API return records older than the
saved value. These must neither count as evidence that the API ignores its filter nor turn off
the restart that protects position-based paging, and a read of an unchanged source is empty.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rest_support import MakeConnector, stream_block
from tests.fakes.rest_api import EPOCH, RestApiFake, customer

from crmhub.connectors.base import Batch
from crmhub.connectors.rest import incremental
from crmhub.connectors.rest.incremental import Bookmark

PARAM = {"cursor_field": "updated_at", "param": "updated_since"}
HEADER = {"cursor_field": "updated_at", "header": "If-Modified-Since"}
IGNORED = "ignores the incremental filter"
CARRIERS = {
    "iso": PARAM,
    "epoch": {**PARAM, "format": "epoch"},
    "epoch_ms": {**PARAM, "format": "epoch_ms"},
    "http_date": HEADER,
}


def person(cid: str, seconds: float) -> dict[str, Any]:
    return customer(cid, "Ada", cid, f"{cid}@example.com", EPOCH + timedelta(seconds=seconds))


def ids(batches: list[Batch]) -> list[str]:
    return [r["id"] for b in batches for r in b.records]


def reader(make: MakeConnector, incremental: dict[str, Any], page_size: int = 2) -> Any:
    paging = {"type": "page_number", "page_size": page_size}
    return make(streams=[stream_block(incremental=incremental, pagination=paging)])


def read(conn: Any, state: Any) -> list[Batch]:
    return list(conn.read("customers", state))


def minutes_1_to_10(fake: RestApiFake) -> dict[str, Any]:
    """Records c001..c010 at minutes 1..10; the state of a read that ended at minute 6."""
    fake.seed([person(f"c{i:03d}", 60 * i) for i in range(1, 11)])
    cursor = (EPOCH + timedelta(minutes=6)).isoformat()
    return {"cursor": cursor, "cursor_type": "datetime", "boundary_keys": ["c006"]}


@pytest.mark.parametrize(
    ("lookback", "expected"),
    [
        (0, ["c007", "c008", "c009", "c010"]),
        ("5m", ["c001", "c002", "c003", "c004", "c005", "c007", "c008", "c009", "c010"]),
    ],
)
def test_lookback_window_is_delivered_whole_and_restarts_stay_on(
    fake: RestApiFake,
    make_connector: MakeConnector,
    caplog: pytest.LogCaptureFixture,
    lookback: Any,
    expected: list[str],
) -> None:
    state = minutes_1_to_10(fake)
    batches = read(reader(make_connector, {**PARAM, "lookback": lookback}), state)
    assert ids(batches) == expected
    assert IGNORED not in caplog.text
    assert batches[-1].state_after["cursor"] == (EPOCH + timedelta(minutes=10)).isoformat()


def test_lookback_restarts_from_the_bookmark_once_it_moves(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    state = minutes_1_to_10(fake)
    read(reader(make_connector, {**PARAM, "lookback": "5m"}), state)
    sent = [(r.param("updated_since"), r.param("page")) for r in fake.list_requests()]
    # pages 1-3 cover the window up to the saved value without a restart; page 4 moves the
    # bookmark to minute 8, so the query is asked again from 8 - 5 = minute 3
    assert sent[:5] == [
        ("2024-01-01T00:01:00Z", "1"),
        ("2024-01-01T00:01:00Z", "2"),
        ("2024-01-01T00:01:00Z", "3"),
        ("2024-01-01T00:01:00Z", "4"),
        ("2024-01-01T00:03:00Z", "1"),
    ]


@pytest.mark.parametrize("fmt", list(CARRIERS))
def test_sub_second_records_with_a_coarse_format_do_not_disable_restarts(
    fake: RestApiFake, make_connector: MakeConnector, caplog: pytest.LogCaptureFixture, fmt: str
) -> None:
    fake.seed([person(f"c{i:02d}", 0.3 * i) for i in range(12)])  # several per second
    conn = reader(make_connector, CARRIERS[fmt])
    full = read(conn, None)
    everything = [f"c{i:02d}" for i in range(12)]
    assert ids(full) == everything
    for index, batch in enumerate(full):  # resuming after any batch loses and repeats nothing
        done = ids(full[: index + 1])
        assert done + ids(read(conn, batch.state_after)) == everything, f"after batch {index}"
    assert IGNORED not in caplog.text


@pytest.mark.parametrize("fmt", list(CARRIERS))
@pytest.mark.parametrize("lookback", [0, "1s", "5m"])
def test_an_unchanged_source_gives_an_empty_incremental_read(
    fake: RestApiFake, make_connector: MakeConnector, fmt: str, lookback: Any
) -> None:
    # pairs share a timestamp, sub-second values, a page boundary inside a pair
    fake.seed([person(f"c{i:02d}", 0.6 * (i // 2)) for i in range(11)])
    conn = reader(make_connector, {**CARRIERS[fmt], "lookback": lookback}, page_size=3)
    state = read(conn, None)[-1].state_after
    again = read(conn, state)
    assert ids(again) == []
    assert not again or again[-1].state_after["cursor"] == state["cursor"]


def test_lookback_delivers_a_late_change_once_and_keeps_the_window_in_the_state(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    fake.seed([person(f"c{i}", 60 * i) for i in range(1, 6)])
    conn = reader(make_connector, {**PARAM, "lookback": "3m"})
    state = read(conn, None)[-1].state_after
    assert state["boundary_keys"] == ["c5"]
    assert sorted(state["recent"]) == ["c2", "c3", "c4"]  # minutes 2-4: within 3m of minute 5
    fake.upsert(person("c3", 60 * 3 + 30))  # committed late: older than the saved value
    again = read(conn, state)
    assert ids(again) == ["c3"]
    assert ids(read(conn, again[-1].state_after)) == []


def test_lookback_crash_after_any_batch_resumes_without_loss_or_duplicates(
    fake: RestApiFake, make_connector: MakeConnector
) -> None:
    fake.seed([person(f"c{i:02d}", 20 * (i // 3)) for i in range(14)])
    conn = reader(make_connector, {**PARAM, "lookback": "1m"})
    full = read(conn, None)
    everything = ids(full)
    assert sorted(everything) == [f"c{i:02d}" for i in range(14)]
    for index, batch in enumerate(full):
        done = ids(full[: index + 1])
        assert done + ids(read(conn, batch.state_after)) == everything, f"after batch {index}"


def test_the_window_kept_in_the_state_is_bounded_to_the_newest(
    fake: RestApiFake, make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incremental, "MAX_RECENT", 3)
    fake.seed([person(f"c{i}", i) for i in range(8)])
    conn = reader(make_connector, {**PARAM, "lookback": "1h"})
    state = read(conn, None)[-1].state_after
    assert sorted(state["recent"]) == ["c4", "c5", "c6"]
    # the forgotten ids come back (never lost); the remembered ones do not
    assert ids(read(conn, state)) == ["c0", "c1", "c2", "c3"]


def test_bookmark_state_round_trips_the_window() -> None:
    at = EPOCH + timedelta(minutes=5)
    bookmark = Bookmark(at, {"b"}, {"a": EPOCH, "c": EPOCH + timedelta(minutes=1)})
    state = bookmark.to_state()
    assert state["recent"] == {"a": EPOCH.isoformat(), "c": "2024-01-01T00:01:00+00:00"}
    assert Bookmark.from_state(state) == bookmark
    assert "recent" not in Bookmark(at, {"b"}).to_state()
