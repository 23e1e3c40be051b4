"""The connector contract: check, discover, read with state, write with a per-row report.

A connector is small on purpose (Singer's Tap/Stream/Sink, shrunk): the hub does staging,
matching and state bookkeeping, so a connector only moves records and reports what happened.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, overload

from pydantic import AfterValidator, BaseModel, ConfigDict

from crmhub.errors import CapabilityError

if TYPE_CHECKING:
    import polars as pl

StreamState = dict[str, Any]
"""JSON-serialisable bookmark of a stream; persisted only with the records it covers."""

Record = Mapping[str, Any]


class Capability(StrEnum):
    """What a connector kind can do; the registry checks each is implemented."""

    READ = "read"
    INCREMENTAL = "incremental"
    WRITE = "write"
    AUTH = "auth"
    """Logs in with credentials, so bad credentials make `check()` fail."""
    RETRY = "retry"
    """Retries passing faults (429, 5xx, dropped connections) itself, honouring Retry-After."""


def _distinct_key_columns(value: str | list[str]) -> str | list[str]:
    if isinstance(value, list) and (not value or len(set(value)) != len(value)):
        raise ValueError("key must name at least one column, each once")
    return value


KeyColumns = Annotated[str | list[str], AfterValidator(_distinct_key_columns)]
"""A config's `key`: one column, or a list of distinct columns for a composite key."""


class ConnectorConfig(BaseModel):
    """Base of every connector's own config block: unknown keys are errors, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str


@dataclass(frozen=True)
class CheckResult:
    """Outcome of `check()`: ok, or a one-line reason a person can act on."""

    ok: bool
    message: str = ""


@dataclass(frozen=True)
class StreamSpec:
    """What `discover()` reports about one stream."""

    name: str
    key: tuple[str, ...]
    cursor: str | None
    columns: tuple[str, ...]


@dataclass(frozen=True)
class RejectedRecord:
    """A raw record the connector could not turn into a record (bad encoding, broken row).

    `position` says where it was (e.g. ``line 17`` or ``row 9``) so a person can find it.
    """

    position: str
    reason: str
    raw: str


class RecordFrame(Sequence[Mapping[str, Any]]):
    """Records held as columns: a polars DataFrame that still reads as a sequence of dicts.

    Connectors that can produce columns hand them over like this, so staging serialises,
    hashes and writes them in native code, while every other caller sees plain records.
    Columns are String, Int64 or Boolean holding exactly what the record's JSON payload shows
    (dates as ISO text, decimals as text): then the columnar and the per-record staging give
    the same payload and hash. `converters` turn a column's text back into the Python value a
    record of the dict path carries (e.g. a datetime), only when a record is materialised.
    """

    def __init__(
        self,
        frame: pl.DataFrame,
        converters: Mapping[str, Callable[[Any], Any]] | None = None,
    ) -> None:
        self.frame = frame
        self.converters = dict(converters or {})

    def __len__(self) -> int:
        return int(self.frame.height)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> RecordFrame: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | RecordFrame:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return RecordFrame(self.frame[list(range(start, stop, step))], self.converters)
            return RecordFrame(self.frame.slice(start, max(stop - start, 0)), self.converters)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("record index out of range")
        return self._convert(self.frame.row(index, named=True))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for row in self.frame.iter_rows(named=True):
            yield self._convert(row)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RecordFrame({len(self)} records, columns={self.frame.columns})"

    def _convert(self, row: dict[str, Any]) -> dict[str, Any]:
        for name, convert in self.converters.items():
            value = row.get(name)
            if value is not None:
                row[name] = convert(value)
        return row


@dataclass(frozen=True)
class Batch:
    """Records read together and the stream state once they are safely stored."""

    records: Sequence[Record]
    state_after: StreamState
    rejected: Sequence[RejectedRecord] = ()
    positions: Sequence[str] | None = None
    """Optional position of each record (same order), used when quarantining it later."""


@dataclass(frozen=True)
class Upsert:
    """One row to write back: the source's own id (None for a create), golden id and fields."""

    external_id: str | None
    golden_id: str
    fields: Mapping[str, Any]
    idempotency_key: str


class RowStatus(StrEnum):
    """What happened to one written row."""

    APPLIED = "applied"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True)
class RowResult:
    """Per-row outcome of a write; `reason` is set when the row was rejected."""

    external_id: str | None
    idempotency_key: str
    status: RowStatus
    reason: str = ""


@dataclass(frozen=True)
class WriteReport:
    """Every row's outcome of one `write()` call, in input order."""

    rows: list[RowResult] = field(default_factory=list)

    def count(self, status: RowStatus) -> int:
        """How many rows ended with `status`."""
        return sum(1 for row in self.rows if row.status is status)


def join_key(values: Sequence[Any]) -> str:
    """The source id of a record: its key values as text, joined for composite keys."""
    return "|".join("" if v is None else str(v) for v in values)


class Connector(ABC):
    """Base class of every connector kind; subclasses set the three class attributes."""

    kind: ClassVar[str]
    config_model: ClassVar[type[ConnectorConfig]]
    capabilities: ClassVar[frozenset[Capability]]
    default_mapping: ClassVar[Mapping[str, str | Sequence[str]]] = {}
    """Canonical field -> record field, used when a source block gives no `mapping`."""

    def __init__(self, config: ConnectorConfig, *, name: str | None = None) -> None:
        self.config = config
        self.name = name or self.kind

    @abstractmethod
    def check(self) -> CheckResult:
        """Try the connection and credentials; return a reason instead of raising."""

    @abstractmethod
    def discover(self) -> list[StreamSpec]:
        """List the streams with their keys, cursor and columns."""

    @abstractmethod
    def read(self, stream: str, state: StreamState | None) -> Iterator[Batch]:
        """Yield batches from `state` on (all records when None); each carries its new state."""

    def write(self, stream: str, rows: Sequence[Upsert]) -> WriteReport:
        """Upsert `rows` idempotently and report each row; only kinds declaring WRITE do."""
        raise CapabilityError(self.kind, Capability.WRITE)

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections and files."""
