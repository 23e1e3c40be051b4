"""Stage source records: key, raw payload, content hash; upsert in bulk with the stream state.

Python computes the source id, the XXH3-128 hash of the whole record as sorted JSON, the
canonical texts (C-level itemgetter; values rendered as they appear in the JSON) and `raw`:
the record without the fields its canonical columns give back exactly (see
`crmhub.golden_record.payload`), so each value is stored once. The database turns empty
strings into NULL. A `RecordFrame` batch takes the columnar path
(`crmhub.golden_record.columnar`), which gives the same `raw` texts and hashes.
Records whose date fields hold no date are quarantined with the field, value and position.
Each batch is one transaction that also writes the stream state, so a crash can never move the
state past data that was not committed.
"""

from __future__ import annotations

import hashlib
import operator
import queue
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import orjson
import polars as pl
import sqlalchemy as sa
import xxhash

from crmhub.canonical import CANONICAL_FIELDS
from crmhub.connectors.base import (
    Batch,
    Record,
    RecordFrame,
    RejectedRecord,
    StreamState,
    join_key,
)
from crmhub.golden_record import bulk, columnar, payload
from crmhub.golden_record.dates import DATE_FIELDS, find_invalid_dates

_DUMPS_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_PIPELINE_DEPTH = 1
"""Prepared batches waiting for the writer; the writer is the slower side, so more only holds
more memory (each in-flight batch is tens of MB) without going faster."""


@dataclass(frozen=True)
class StageStats:
    """What staging did: rows inserted, changed, seen again unchanged, and quarantined."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0

    def __add__(self, other: StageStats) -> StageStats:
        return StageStats(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.quarantined + other.quarantined,
        )

    @property
    def records(self) -> int:
        """Records staged (quarantined ones excluded)."""
        return self.inserted + self.updated + self.unchanged


@dataclass(frozen=True)
class StagingPlan:
    """How one source stream is staged; built once, used for every batch.

    The hash is keyed with the mapping, so changing the mapping restages every record once and
    refreshes its canonical columns, while the same mapping leaves unchanged records untouched.
    """

    key: tuple[str, ...]
    mapping: dict[str, tuple[str, ...]]
    ignore_fields: frozenset[str]
    hash_key: bytes

    @property
    def columns(self) -> tuple[str, ...]:
        """The canonical columns this stream fills, in the order of `extract_canonical`."""
        return tuple(name for name in CANONICAL_FIELDS if name in self.mapping)

    @property
    def hash_seed(self) -> int:
        """The 64-bit XXH3 seed derived from the mapping digest (see the class docstring)."""
        return int.from_bytes(self.hash_key[:8], "little")

    @property
    def single_sources(self) -> dict[str, str]:
        """Source field -> the canonical column it alone fills (kept there, not in `raw`)."""
        return payload.single_sources(self.mapping)

    @property
    def source_fields(self) -> tuple[str, ...]:
        """Every source field the mapping reads, in column order (repeats allowed)."""
        return tuple(src for name in self.columns for src in self.mapping[name])

    @classmethod
    def build(
        cls,
        key: str | Sequence[str],
        mapping: Mapping[str, str | Sequence[str]],
        ignore_fields: Iterable[str] = (),
    ) -> StagingPlan:
        """Validate and freeze a stream's key, mapping (canonical -> source fields), ignores."""
        keys = (key,) if isinstance(key, str) else tuple(key)
        if not keys:
            raise ValueError("a stream needs at least one key field")
        fields = {
            name: (src,) if isinstance(src, str) else tuple(src) for name, src in mapping.items()
        }
        unknown = sorted(set(fields) - set(CANONICAL_FIELDS))
        if unknown:
            raise ValueError(f"mapping names unknown canonical fields: {', '.join(unknown)}")
        for name, sources in fields.items():
            if not sources or any('"' in s for s in sources):
                raise ValueError(f"mapping of {name!r} needs field names without double quotes")
        digest = hashlib.blake2b(orjson.dumps(fields, option=_DUMPS_OPTIONS), digest_size=32)
        return cls(keys, fields, frozenset(ignore_fields), digest.digest())


def canonical_text(value: Any) -> str | None:
    """A source value as canonical text: ISO 8601 dates, 'true'/'false', '' for empty.

    The same text as the value has in the raw JSON payload, so the columns and `raw` agree.
    """
    if value is None or value.__class__ is str:
        return value  # type: ignore[no-any-return]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return str(value)


def _make_extractor(plan: StagingPlan) -> Any:
    """A fast function record -> tuple of canonical texts (C-level itemgetter when it can)."""
    fields = plan.source_fields
    groups = [len(plan.mapping[name]) for name in plan.columns]
    getter = operator.itemgetter(*fields) if fields else None
    joined = any(size > 1 for size in groups)
    single = len(fields) == 1

    def extract(record: Record) -> tuple[Any, ...]:
        if getter is None:
            return ()
        try:
            values = (getter(record),) if single else getter(record)
        except KeyError:
            values = tuple(map(record.get, fields))
        for value in values:
            if value is not None and value.__class__ is not str:
                values = tuple(map(canonical_text, values))
                break
        return _join_groups(values, groups) if joined else values

    return extract


def canonical_row(record: Record, plan: StagingPlan) -> tuple[str | None, ...]:
    """The canonical column values staging stores for `record` (in `plan.columns` order)."""
    return tuple(value or None for value in _make_extractor(plan)(record))


def _join_groups(values: tuple[Any, ...], groups: list[int]) -> tuple[Any, ...]:
    """Join the values of columns mapped from several source fields with single spaces."""
    out: list[Any] = []
    start = 0
    for size in groups:
        part = values[start : start + size]
        start += size
        out.append(part[0] if size == 1 else " ".join(v for v in part if v) or None)
    return tuple(out)


@dataclass
class PreparedBatch:
    """A batch turned into one row per source id, ready for the bulk writers."""

    rows: list[tuple[Any, ...]] | pl.DataFrame
    """`(source_id, raw_json, content_hash, *canonical texts in plan.columns order)`: tuples
    from the dict path, a frame with those columns (c0..cN) from the columnar path."""
    rejected: list[RejectedRecord] = field(default_factory=list)
    state_after: StreamState | None = None


@dataclass(frozen=True)
class StageTarget:
    """Where a batch goes: database, run, source stream and the time written as last seen."""

    engine: sa.Engine
    run_id: int
    source: str
    stream: str
    now: datetime


def stage_batch(
    engine: sa.Engine,
    run_id: int,
    source: str,
    stream: str,
    records: Sequence[Record],
    *,
    key: str | Sequence[str],
    mapping: Mapping[str, str | Sequence[str]],
    ignore_fields: Iterable[str] = (),
    positions: Sequence[str] | None = None,
    state_after: StreamState | None,
    rejected: Sequence[RejectedRecord] = (),
    now: datetime | None = None,
) -> StageStats:
    """Upsert one batch into `source_record` and store `state_after` in the same transaction.

    Records without a key value are quarantined (with their position) instead of staged, as
    are the connector's own `rejected` records. A record whose hash (raw payload minus
    `ignore_fields`, i.e. the write-back columns) did not change only gets its last-seen marks
    moved, so our own write-back echo never counts as a change.
    """
    plan = StagingPlan.build(key, mapping, ignore_fields)
    prepared = prepare_batch(records, plan, positions=positions)
    prepared.rejected.extend(rejected)
    prepared.state_after = state_after
    target = StageTarget(engine, run_id, source, stream, now or datetime.now(UTC))
    return write_prepared(target, plan, prepared)


def stage_batches(
    engine: sa.Engine,
    run_id: int,
    source: str,
    stream: str,
    batches: Iterable[Batch],
    *,
    key: str | Sequence[str],
    mapping: Mapping[str, str | Sequence[str]],
    ignore_fields: Iterable[str] = (),
    now: datetime | None = None,
) -> StageStats:
    """Stage a connector's batches, preparing the next batch while the previous one is written.

    Reading and hashing run in the calling thread; a writer thread commits batches in order
    (the database drivers release the GIL while they wait), and the bounded queue between
    them keeps memory flat whatever the number of batches. Each batch commits with its state.
    """
    plan = StagingPlan.build(key, mapping, ignore_fields)
    target = StageTarget(engine, run_id, source, stream, now or datetime.now(UTC))
    writer = _Writer(target, plan)
    writer.start()
    try:
        for batch in batches:
            prepared = prepare_batch(batch.records, plan, positions=batch.positions)
            prepared.rejected.extend(batch.rejected)
            prepared.state_after = batch.state_after
            if not writer.put(prepared):
                break
    finally:
        writer.finish()
    return writer.stats


def quarantine_records(
    engine: sa.Engine,
    run_id: int,
    source: str,
    stream: str,
    rejected: Sequence[RejectedRecord],
    *,
    now: datetime | None = None,
) -> int:
    """Store records a connector could not read (or a write-back rejected); returns the count."""
    with engine.begin() as conn:
        bulk.insert_quarantine(conn, run_id, source, stream, rejected, now or datetime.now(UTC))
    return len(rejected)


def prepare_batch(
    records: Sequence[Record], plan: StagingPlan, *, positions: Sequence[str] | None = None
) -> PreparedBatch:
    """Key, serialise and hash records; the last record wins when a key repeats in a batch."""
    if isinstance(records, RecordFrame) and columnar.is_stageable(records.frame):
        frame, rejected = columnar.prepare_frame(
            records.frame, plan, columnar.positions_getter(positions)
        )
        return PreparedBatch(frame, rejected)
    rows: dict[str, tuple[Any, ...]] = {}
    indexes: dict[str, int] = {}
    rejected: list[RejectedRecord] = []
    extract = _make_extractor(plan)
    key = plan.key[0] if len(plan.key) == 1 else None
    ignore = plan.ignore_fields
    dumps = orjson.dumps
    digest = xxhash.xxh3_128_hexdigest
    seed = plan.hash_seed
    sources = plan.single_sources
    kept = payload.raw_fields
    for index, record in enumerate(records):
        source_id = _source_id(record, key, plan.key)
        if source_id is None:
            rejected.append(_missing_key(record, index, plan.key, positions))
            continue
        full = dumps(record, default=_json_default, option=_DUMPS_OPTIONS)
        hashed = full if ignore.isdisjoint(record) else _without(record, ignore)
        raw = dumps(kept(record, sources), default=_json_default, option=_DUMPS_OPTIONS)
        rows[source_id] = (source_id, raw.decode(), digest(hashed, seed), *extract(record))
        indexes[source_id] = index
    rejected.extend(_drop_bad_dates(rows, indexes, plan, positions))
    return PreparedBatch(list(rows.values()), rejected)


def _drop_bad_dates(
    rows: dict[str, tuple[Any, ...]],
    indexes: dict[str, int],
    plan: StagingPlan,
    positions: Sequence[str] | None,
) -> list[RejectedRecord]:
    """Take records whose date fields hold no date out of `rows`; reject them (vectorised)."""
    checks = [(name, 3 + i) for i, name in enumerate(plan.columns) if name in DATE_FIELDS]
    if not checks or not rows:
        return []
    position_of = columnar.positions_getter(positions)
    bad: dict[str, str] = {}
    for name, at in checks:
        values = pl.Series([row[at] for row in rows.values()], dtype=pl.String)
        for source_id in pl.Series(list(rows)).filter(find_invalid_dates(values)).to_list():
            bad.setdefault(source_id, f"{name}: not a recognisable date: {rows[source_id][at]!r}")
    rejected = []
    sources = plan.single_sources
    for source_id, reason in bad.items():
        row = rows.pop(source_id)
        canonical = dict(zip(plan.columns, row[3:], strict=True))
        full = payload.rebuild_record(row[1], canonical, sources)
        raw = orjson.dumps(full, option=_DUMPS_OPTIONS).decode()
        rejected.append(RejectedRecord(position_of(indexes[source_id]), reason, raw))
    return rejected


def write_prepared(target: StageTarget, plan: StagingPlan, prepared: PreparedBatch) -> StageStats:
    """Write one prepared batch, its quarantined records and its state in one transaction."""
    with target.engine.begin() as conn:
        bulk.save_state(conn, target, prepared.state_after)
        inserted, updated, unchanged = bulk.upsert_records(conn, target, plan, prepared.rows)
        bulk.insert_quarantine(
            conn, target.run_id, target.source, target.stream, prepared.rejected, target.now
        )
    return StageStats(inserted, updated, unchanged, len(prepared.rejected))


def _source_id(record: Record, key: str | None, keys: tuple[str, ...]) -> str | None:
    if key is not None:
        value = record.get(key)
        if value is None or value == "":
            return None
        return value if value.__class__ is str else str(value)
    values = [record.get(k) for k in keys]
    if any(v is None or v == "" for v in values):
        return None
    return join_key(values)


def _missing_key(
    record: Record, index: int, keys: tuple[str, ...], positions: Sequence[str] | None
) -> RejectedRecord:
    position = positions[index] if positions is not None else f"record {index + 1}"
    raw = orjson.dumps(record, default=_json_default, option=_DUMPS_OPTIONS).decode()
    return RejectedRecord(position, f"missing key value ({', '.join(keys)})", raw)


def _without(record: Record, ignore: frozenset[str]) -> bytes:
    kept = {k: v for k, v in record.items() if k not in ignore}
    return orjson.dumps(kept, default=_json_default, option=_DUMPS_OPTIONS)


def _json_default(value: Any) -> Any:
    """Serialise what orjson does not know (Decimal, bytes, ...) as text, the way it reads."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


class _Writer:
    """The writer thread of `stage_batches`: commits prepared batches in order."""

    def __init__(self, target: StageTarget, plan: StagingPlan) -> None:
        self._target = target
        self._plan = plan
        self._queue: queue.Queue[PreparedBatch | None] = queue.Queue(maxsize=_PIPELINE_DEPTH)
        self._thread = threading.Thread(target=self._run, name="crmhub-stage-writer", daemon=True)
        self._error: BaseException | None = None
        self.stats = StageStats()

    def start(self) -> None:
        self._thread.start()

    def put(self, prepared: PreparedBatch) -> bool:
        """Queue a batch; False once the writer has failed (the caller stops reading)."""
        while self._error is None:
            try:
                self._queue.put(prepared, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def finish(self) -> None:
        """Wait for every queued batch, then re-raise the writer's error if it had one."""
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.5)
                break
            except queue.Full:
                continue
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (prepared := self._queue.get()) is not None:
            try:
                self.stats += write_prepared(self._target, self._plan, prepared)
            except BaseException as exc:  # handed to the reading thread by finish()
                self._error = exc
                return


def content_hash(record: Record, plan: StagingPlan) -> str:
    """The content hash staging stores for `record`: what write-back patches must match."""
    hashed = _without(record, plan.ignore_fields)
    return xxhash.xxh3_128_hexdigest(hashed, plan.hash_seed)
