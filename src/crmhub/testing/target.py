"""What the conformance suite needs from a connector kind: a target that owns test data.

A target stands between the neutral test data of the suite (`SampleRow`) and one real or faked
source (a database schema, a file, a fake vendor API). The suite never learns the vendor's shape:
it seeds rows, changes them, asks for upserts and faults, and checks what the connector reports.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from crmhub.connectors.base import Capability, Connector, StreamSpec, Upsert


@dataclass(frozen=True)
class SampleRow:
    """A neutral customer; the target turns it into its vendor's shape.

    `id` is the test's own id (e.g. ``c001``), not necessarily the source's id: `seed` and
    `change` return the mapping to the source ids the connector reports.
    """

    id: str
    first_name: str
    last_name: str
    email: str
    updated_at: datetime
    """tz-aware UTC, whole seconds: the source's own modified time of this row."""


@dataclass(frozen=True)
class Fault:
    """Answer the next `times` requests with `status` (and `retry_after` seconds, if set).

    Defined here rather than by a test fake so that out-of-tree packages can run the suite
    without importing crmhub's own tests; a target translates it for its fake.
    """

    status: int
    times: int = 1
    retry_after: str | None = None
    body: Mapping[str, Any] | None = None
    path_prefix: str = ""
    """Only requests whose path starts with this are affected (default: every request)."""


class ConformanceTarget(ABC):
    """One source the suite runs against, owning its data for the duration of one test.

    Subclasses implement the abstract methods; `inject` and `request_times` are needed only by
    kinds that declare RETRY or AUTH. A target may narrow what the suite exercises through
    `skip_reason` (e.g. a database without logins), never widen it.
    """

    kind: ClassVar[str]
    stream: ClassVar[str | None] = None
    """The stream the samples live in; needed only when `discover()` lists several."""

    _connector_class: type[Connector] | None = None

    @abstractmethod
    def connector(
        self, *, bad_credentials: bool = False, batch_size: int | None = None
    ) -> Connector:
        """A connector on this target, its config validated through the kind's `config_model`.

        `batch_size` is the page or batch size (None: the connector's default);
        `bad_credentials` gives it credentials the source refuses.
        """

    @abstractmethod
    def seed(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        """Replace all data by `rows`; returns sample id -> source id."""

    @abstractmethod
    def change(self, rows: Sequence[SampleRow]) -> dict[str, str]:
        """Add or update `rows` (a known sample id updates); returns sample id -> source id."""

    @abstractmethod
    def add_bad_row(self) -> None:
        """Add one malformed record that the connector must reject, not crash on."""

    @abstractmethod
    def upserts(self, ids: Mapping[str, str]) -> list[Upsert]:
        """Writes for the given sample id -> source id: the golden id plus one field each."""

    @abstractmethod
    def secrets(self) -> list[str]:
        """Every secret value in use (good and bad credentials): never to be logged or shown."""

    def inject(self, fault: Fault) -> None:
        """Make the peer answer the next requests with `fault` (RETRY and AUTH kinds only)."""
        raise NotImplementedError(f"{type(self).__name__} cannot inject faults")

    def request_times(self) -> list[float]:
        """Arrival times (time.monotonic) of every request the peer saw, in order."""
        raise NotImplementedError(f"{type(self).__name__} does not log requests")

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Drop what the target created (schema, database, fake server)."""

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What the suite exercises: by default what the connector class declares."""
        return self.connector_class.capabilities

    @property
    def connector_class(self) -> type[Connector]:
        """The class `connector()` returns, found by building (and closing) one connector."""
        if self._connector_class is None:
            probe = self.connector()
            probe.close()
            self._connector_class = type(probe)
        return self._connector_class

    def skip_reason(self, capability: Capability) -> str | None:
        """Why the suite must not exercise `capability` here, or None when it must.

        The default skips exactly what the kind does not declare; an override may add a
        reason specific to this target (say, SQLite has no logins) for a declared capability.
        """
        if capability not in self.capabilities:
            return f"{self.kind} does not declare '{capability.value}'"
        return None

    def pick_stream(self, specs: Sequence[StreamSpec]) -> StreamSpec:
        """The discovered stream holding the samples: `stream`, or the only one."""
        if self.stream is not None:
            for spec in specs:
                if spec.name == self.stream:
                    return spec
            names = ", ".join(s.name for s in specs)
            raise AssertionError(f"discover() has no stream {self.stream!r} (it lists {names})")
        if len(specs) != 1:
            names = ", ".join(s.name for s in specs) or "none"
            raise AssertionError(
                f"discover() lists {len(specs)} streams ({names}); "
                f"set {type(self).__name__}.stream to the one holding the samples"
            )
        return specs[0]
