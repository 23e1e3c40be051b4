"""The connector conformance suite: written once, run for every connector kind.

Subclass `ConnectorConformance` and provide a `target` fixture that yields a
`ConformanceTarget`; every test below then runs against that target::

    class TestMyConnector(ConnectorConformance):
        @pytest.fixture
        def target(self, tmp_path):
            target = MyTarget(tmp_path)
            yield target
            target.close()

A test skips only when the kind does not declare the capability it checks (the reason says
so); everything else must pass against a real or faked source. Every test also runs with all
loggers at DEBUG and ends by checking that no value of `target.secrets()` was logged or shown
in an error. Needs pytest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from typing import Any

import pytest

from crmhub.connectors.base import (
    Batch,
    Capability,
    Connector,
    RowStatus,
    StreamSpec,
    StreamState,
    Upsert,
    WriteReport,
    join_key,
)
from crmhub.errors import AuthError
from crmhub.testing.leaks import LeakWatch
from crmhub.testing.samples import CHANGES, CRASH_BATCH_SIZE, CRASH_SEED, SEED, sample_rows
from crmhub.testing.target import ConformanceTarget, Fault, SampleRow

__all__ = ["ConformanceTarget", "ConnectorConformance", "Fault", "SampleRow", "sample_rows"]

# -- reading helpers -------------------------------------------------------------------------


def stream_of(target: ConformanceTarget, conn: Connector) -> StreamSpec:
    """The discovered stream that holds the samples."""
    return target.pick_stream(conn.discover())


def read_batches(conn: Connector, spec: StreamSpec, state: StreamState | None) -> list[Batch]:
    """Every batch of one read of `spec` from `state`."""
    return list(conn.read(spec.name, state))


def source_ids(batches: Sequence[Batch], spec: StreamSpec) -> list[str]:
    """The source id of every record, in read order (duplicates kept)."""
    return [join_key([r.get(k) for k in spec.key]) for b in batches for r in b.records]


def assert_each_once(ids: Sequence[str], what: str) -> None:
    """No source id appears twice within one read."""
    twice = sorted({i for i in ids if ids.count(i) > 1})
    assert not twice, f"{what}: ids delivered more than once in one read: {twice}"


def as_text(value: Any) -> str:
    """A value as a cell shows it, so 7, 7.0 and "7" compare equal."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def last_state(batches: Sequence[Batch]) -> StreamState:
    """The state after the whole read (what the hub saves)."""
    assert batches, "the read yielded no batch, so there is no state to resume from"
    return batches[-1].state_after


class ConnectorConformance:
    """The behaviours every connector kind must show; subclasses provide `target`."""

    # -- fixtures ----------------------------------------------------------------------------

    @pytest.fixture
    def target(self) -> ConformanceTarget:
        """Overridden by each subclass: yields a fresh target, closes it afterwards."""
        pytest.fail("a ConnectorConformance subclass must define a `target` fixture")

    @pytest.fixture
    def leaks(self, target: ConformanceTarget) -> LeakWatch:
        """What the test logged and showed, to be searched for the target's secrets."""
        return LeakWatch(target.secrets)

    @pytest.fixture(autouse=True)
    def _no_secret_in_logs_or_errors(
        self, leaks: LeakWatch, caplog: pytest.LogCaptureFixture
    ) -> Iterator[None]:
        """Run with every logger at DEBUG, then fail if a secret was logged or shown."""
        caplog.set_level("DEBUG")
        with leaks.watching():
            yield
        leaks.assert_clean()

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def require(target: ConformanceTarget, capability: Capability) -> None:
        """Skip (naming the reason) unless the target's kind declares `capability`."""
        reason = target.skip_reason(capability)
        if reason:
            pytest.skip(reason)

    @staticmethod
    def full_read(
        target: ConformanceTarget, *, batch_size: int | None = None
    ) -> tuple[StreamSpec, list[Batch]]:
        """Discover and read everything with a fresh connector."""
        with closing(target.connector(batch_size=batch_size)) as conn:
            spec = stream_of(target, conn)
            return spec, read_batches(conn, spec, None)

    @staticmethod
    def resume(
        target: ConformanceTarget, state: StreamState, *, batch_size: int | None = None
    ) -> list[str]:
        """Source ids read by a fresh connector (a new run) resuming from `state`."""
        with closing(target.connector(batch_size=batch_size)) as conn:
            spec = stream_of(target, conn)
            return source_ids(read_batches(conn, spec, state), spec)

    # -- check and discover ------------------------------------------------------------------

    def test_check_succeeds(self, target: ConformanceTarget, leaks: LeakWatch) -> None:
        target.seed(SEED)
        with closing(target.connector()) as conn:
            result = conn.check()
        leaks.note_text("check() message", result.message)
        assert result.ok, f"check() failed on a working source: {result.message}"
        assert "\n" not in result.message, "check() message must be one line"

    def test_check_fails_cleanly_on_bad_credentials(
        self, target: ConformanceTarget, leaks: LeakWatch
    ) -> None:
        self.require(target, Capability.AUTH)
        target.seed(SEED)
        with closing(target.connector(bad_credentials=True)) as conn:
            try:
                result = conn.check()
            except Exception as exc:
                leaks.note_error(exc)
                pytest.fail(f"check() raised {type(exc).__name__} instead of returning ok=False")
        leaks.note_text("check() message", result.message)
        assert not result.ok, "check() accepted credentials the source refuses"
        assert result.message.strip(), "check() gave no reason for failing"
        assert "\n" not in result.message, f"check() message is not one line: {result.message!r}"

    def test_discover_names_a_key(self, target: ConformanceTarget) -> None:
        target.seed(SEED)
        with closing(target.connector()) as conn:
            spec = stream_of(target, conn)
        assert spec.key, f"stream {spec.name!r} has no key"
        missing = [k for k in spec.key if k not in spec.columns]
        assert not missing, f"key column(s) {missing} not among the columns {spec.columns}"

    def test_discover_names_a_cursor(self, target: ConformanceTarget) -> None:
        self.require(target, Capability.INCREMENTAL)
        target.seed(SEED)
        with closing(target.connector()) as conn:
            spec = stream_of(target, conn)
        assert spec.cursor, f"stream {spec.name!r} is incremental but has no cursor"
        assert spec.cursor in spec.columns, f"cursor {spec.cursor!r} is not among the columns"

    # -- reading -----------------------------------------------------------------------------

    def test_full_read_returns_exactly_the_seeded_rows(self, target: ConformanceTarget) -> None:
        ids = target.seed(SEED)
        spec, batches = self.full_read(target)
        read = source_ids(batches, spec)
        assert_each_once(read, "full read")
        assert set(read) == set(ids.values()), (
            f"full read returned {sorted(read)}, seeded {sorted(ids.values())}"
        )
        assert not [r for b in batches for r in b.rejected], "good rows were rejected"

    def test_incremental_resume_loses_no_change(self, target: ConformanceTarget) -> None:
        self.require(target, Capability.INCREMENTAL)
        seeded = target.seed(SEED)
        spec, first = self.full_read(target)
        assert_each_once(source_ids(first, spec), "first read")
        changed = target.change(CHANGES)
        resumed = self.resume(target, last_state(first))
        assert_each_once(resumed, "resumed read")
        lost = {sid: src for sid, src in changed.items() if src not in resumed}
        assert not lost, f"changed rows missing from the resumed read: {lost}"
        boundary = max(r.updated_at for r in SEED)
        allowed = {seeded[r.id] for r in SEED if r.updated_at == boundary}
        extra = set(resumed) - set(changed.values()) - allowed
        assert not extra, f"unchanged rows below the last cursor value were re-read: {extra}"

    def test_incremental_read_of_an_unchanged_source_returns_nothing(
        self, target: ConformanceTarget
    ) -> None:
        self.require(target, Capability.INCREMENTAL)
        target.seed(SEED)
        _, first = self.full_read(target)
        resumed = self.resume(target, last_state(first))
        assert not resumed, f"a read after nothing changed delivered rows again: {resumed}"

    def test_incremental_resumes_after_a_crash_between_batches(
        self, target: ConformanceTarget
    ) -> None:
        self.require(target, Capability.INCREMENTAL)
        seeded = target.seed(CRASH_SEED)
        spec, batches = self.full_read(target, batch_size=CRASH_BATCH_SIZE)
        assert len(batches) >= 2, (
            f"batch_size={CRASH_BATCH_SIZE} gave {len(batches)} batch(es) for "
            f"{len(CRASH_SEED)} rows; the target must pass batch_size to the connector"
        )
        done = source_ids(batches[:1], spec)
        resumed = self.resume(target, batches[0].state_after, batch_size=CRASH_BATCH_SIZE)
        assert_each_once(resumed, "resumed read")
        lost = set(seeded.values()) - set(done) - set(resumed)
        assert not lost, f"rows lost when resuming from the first batch's state: {lost}"
        by_source = {seeded[r.id]: r.updated_at for r in CRASH_SEED}
        boundary = max(by_source[i] for i in done)
        again = {i for i in resumed if i in done and by_source[i] != boundary}
        assert not again, f"rows before the first batch's last cursor value re-read: {again}"

    def test_bad_row_is_rejected_and_good_rows_read(self, target: ConformanceTarget) -> None:
        ids = target.seed(SEED)
        target.add_bad_row()
        spec, batches = self.full_read(target)
        rejected = [r for b in batches for r in b.rejected]
        assert rejected, "the malformed row was not reported as a RejectedRecord"
        assert all(r.position and r.reason for r in rejected), "a rejection lacks position/reason"
        read = source_ids(batches, spec)
        assert_each_once(read, "read with a bad row")
        assert set(read) == set(ids.values()), (
            f"read returned {sorted(read)} next to the bad row, expected {sorted(ids.values())}"
        )

    # -- writing -----------------------------------------------------------------------------

    def write_twice(
        self, target: ConformanceTarget
    ) -> tuple[list[Upsert], WriteReport, WriteReport]:
        """Seed, then write the target's upserts for three rows (not in id order) twice."""
        seeded = target.seed(SEED)
        rows = target.upserts({sid: seeded[sid] for sid in ("c004", "c001", "c003")})
        assert rows, "target.upserts() returned no rows"
        reports = []
        for _ in range(2):
            with closing(target.connector()) as conn:
                reports.append(conn.write(stream_of(target, conn).name, rows))
        return rows, reports[0], reports[1]

    def test_write_applies_then_is_unchanged(self, target: ConformanceTarget) -> None:
        self.require(target, Capability.WRITE)
        rows, first, second = self.write_twice(target)
        wanted = [(u.external_id, u.idempotency_key) for u in rows]
        for name, report, status in (
            ("first", first, RowStatus.APPLIED),
            ("second", second, RowStatus.UNCHANGED),
        ):
            got = [(r.external_id, r.idempotency_key) for r in report.rows]
            assert got == wanted, f"{name} write report is not in input order: {got} != {wanted}"
            bad = [
                (r.external_id, r.status.value, r.reason)
                for r in report.rows
                if r.status is not status
            ]
            assert not bad, f"{name} write: expected every row {status.value}, got {bad}"

    def test_written_fields_are_read_back(self, target: ConformanceTarget) -> None:
        self.require(target, Capability.WRITE)
        rows, _, _ = self.write_twice(target)
        spec, batches = self.full_read(target)
        records = {join_key([r.get(k) for k in spec.key]): r for b in batches for r in b.records}
        for row in rows:
            record = records.get(str(row.external_id))
            assert record is not None, f"written row {row.external_id!r} is gone"
            differ = {
                f: (record.get(f), v)
                for f, v in row.fields.items()
                if as_text(record.get(f)) != as_text(v)
            }
            assert not differ, f"row {row.external_id!r} reads back (read, written): {differ}"

    # -- faults ------------------------------------------------------------------------------

    def read_through(
        self, target: ConformanceTarget, fault: Fault
    ) -> tuple[list[str], list[float]]:
        """Read everything while the peer answers the first requests with `fault`."""
        ids = target.seed(SEED)
        with closing(target.connector()) as conn:
            spec = stream_of(target, conn)
            before = len(target.request_times())
            target.inject(fault)
            read = source_ids(read_batches(conn, spec, None), spec)
        assert_each_once(read, "read through faults")
        assert set(read) == set(ids.values()), (
            f"read through {fault.status}s returned {sorted(read)}"
        )
        return read, target.request_times()[before:]

    def test_429_is_retried_after_retry_after(self, target: ConformanceTarget) -> None:
        self.require(target, Capability.RETRY)
        _, times = self.read_through(target, Fault(429, times=1, retry_after="2"))
        assert len(times) >= 2, f"expected a 429 and a retry, the peer saw {len(times)}"
        gap = times[1] - times[0]
        # longer than any backoff of the first retry, so only honouring the header explains it
        assert gap >= 2.0, f"Retry-After: 2 not honoured, the retry came after {gap:.2f} s"

    def test_503_is_retried(self, target: ConformanceTarget) -> None:
        self.require(target, Capability.RETRY)
        _, times = self.read_through(target, Fault(503, times=3))
        assert len(times) >= 4, f"expected three 503s and a retry, the peer saw {len(times)}"

    def test_401_raises_auth_error(self, target: ConformanceTarget, leaks: LeakWatch) -> None:
        self.require(target, Capability.AUTH)
        target.seed(SEED)
        with closing(target.connector()) as conn:
            spec = stream_of(target, conn)
            target.inject(Fault(401, times=1000))
            with pytest.raises(AuthError) as caught:
                read_batches(conn, spec, None)
        leaks.note_error(caught.value)

    # -- secrets -----------------------------------------------------------------------------

    def test_no_secret_in_logs_or_errors(self, target: ConformanceTarget, leaks: LeakWatch) -> None:
        """Drive every path the kind has, the failing ones too, and search what it showed."""
        seeded = target.seed(SEED)
        caps = {c for c in Capability if target.skip_reason(c) is None}
        with closing(target.connector()) as conn:
            leaks.note_text("check() message", conn.check().message)
            spec = stream_of(target, conn)
            read_batches(conn, spec, None)
            if Capability.WRITE in caps:
                conn.write(spec.name, target.upserts({"c002": seeded["c002"]}))
            self._drive_failures(target, conn, spec, caps, leaks)
        if Capability.AUTH in caps:
            with closing(target.connector(bad_credentials=True)) as bad:
                leaks.note_text("check() message", bad.check().message)
        leaks.assert_clean()

    @staticmethod
    def _drive_failures(
        target: ConformanceTarget,
        conn: Connector,
        spec: StreamSpec,
        caps: set[Capability],
        leaks: LeakWatch,
    ) -> None:
        """Errors are where secrets slip out: an unknown stream, a 5xx, a 400, a refused login."""
        failures: list[tuple[Fault | None, str]] = [(None, "crmhub-no-such-stream")]
        if Capability.RETRY in caps:
            failures += [(Fault(503, times=1), spec.name), (Fault(400, times=1), spec.name)]
        if Capability.AUTH in caps:
            failures.append((Fault(401, times=1000), spec.name))
        for fault, stream in failures:
            if fault is not None:
                target.inject(fault)
            try:
                list(conn.read(stream, None))
            except Exception as exc:  # any error counts: its text is what a person sees
                leaks.note_error(exc)
