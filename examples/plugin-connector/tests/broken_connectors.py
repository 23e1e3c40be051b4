"""Deliberately broken variants of the connector, each of which the suite must fail.

Not collected by default (the name does not start with `test_`): crmhub's own tests run this
file explicitly to show that the conformance suite catches each kind of breakage it claims
to, and that a passing run means something.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from crmhub.connectors.base import Batch, StreamState, Upsert, WriteReport
from crmhub.testing import ConnectorConformance

from crmhub_jsonl.connector import JsonLinesConnector
from crmhub_jsonl.lines import Line
from jsonl_target import JsonLinesTarget

SECRET = "s3cret-token-123"
vendor_log = logging.getLogger("vendor.sdk")
vendor_log.propagate = False  # a library logging to its own handler only, at DEBUG
vendor_log.setLevel(logging.WARNING)


class SkipsTheBoundary(JsonLinesConnector):
    """Reads `cursor > last`, losing rows changed at exactly the last cursor value."""

    def _is_new(self, line: Line, last: str | None, seen: set[str]) -> bool:
        return last is None or self._cursor(line) > last


class SavesTheFinalState(JsonLinesConnector):
    """Gives every batch the state of the whole read, so a crash after batch 1 loses rows."""

    def read(self, stream: str, state: StreamState | None) -> Iterator[Batch]:
        batches = list(super().read(stream, state))
        yield from (replace(b, state_after=batches[-1].state_after) for b in batches)


class RepeatsABatch(JsonLinesConnector):
    """Delivers the last batch twice."""

    def read(self, stream: str, state: StreamState | None) -> Iterator[Batch]:
        batches = list(super().read(stream, state))
        yield from [*batches, batches[-1]]


class ReportsOutOfOrder(JsonLinesConnector):
    """Returns the write report in reverse order."""

    def write(self, stream: str, rows: Sequence[Upsert]) -> WriteReport:
        return WriteReport(list(reversed(super().write(stream, rows).rows)))


class DropsBadLines(JsonLinesConnector):
    """Skips malformed lines silently instead of rejecting them."""

    def read(self, stream: str, state: StreamState | None) -> Iterator[Batch]:
        yield from (replace(b, rejected=()) for b in super().read(stream, state))


class LogsItsToken(JsonLinesConnector):
    """Prints its token in a debug line of a private logger."""

    def read(self, stream: str, state: StreamState | None) -> Iterator[Batch]:
        vendor_log.debug("GET /customers?token=%s", SECRET)
        yield from super().read(stream, state)


class ShowsItsToken(JsonLinesConnector):
    """Puts its token into an error message."""

    def _check_stream(self, stream: str) -> None:
        if stream != self.stream:
            raise ValueError(f"unknown stream {stream!r} (token {SECRET})")


def _suite(cls: type[JsonLinesConnector]) -> type[ConnectorConformance]:
    class Target(JsonLinesTarget):
        def secrets(self) -> list[str]:
            return [SECRET]

    class Suite(ConnectorConformance):
        @pytest.fixture
        def target(self, tmp_path: Path) -> Iterator[JsonLinesTarget]:
            yield Target(tmp_path, cls)

    return Suite


TestSkipsTheBoundary = _suite(SkipsTheBoundary)
TestSavesTheFinalState = _suite(SavesTheFinalState)
TestRepeatsABatch = _suite(RepeatsABatch)
TestReportsOutOfOrder = _suite(ReportsOutOfOrder)
TestDropsBadLines = _suite(DropsBadLines)
TestLogsItsToken = _suite(LogsItsToken)
TestShowsItsToken = _suite(ShowsItsToken)
