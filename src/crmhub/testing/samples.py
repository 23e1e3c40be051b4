"""The suite's test data: a few customers whose modified times make the hard cases.

Times repeat on purpose: rows sharing the last cursor value, and a run of equal values that
straddles a batch boundary, are where incremental reads lose or repeat rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from crmhub.testing.target import SampleRow

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
_NAMES = [
    ("Ada", "Lovelace"),
    ("Zoë", "Müller"),
    ("François", "Lefèvre"),
    ("Ana", "Peña"),
    ("Jörg", "Strauß"),
    ("Grace", "Hopper"),
    ("Émile", "Durand"),
    ("Søren", "Kierkegaard"),
]


def sample(number: int, minutes: int, *, last_name: str | None = None) -> SampleRow:
    """Sample customer `c00<number>` modified `minutes` after T0."""
    first, last = _NAMES[(number - 1) % len(_NAMES)]
    return SampleRow(
        id=f"c{number:03d}",
        first_name=first,
        last_name=last_name or last,
        email=f"c{number:03d}@example.com",
        updated_at=T0 + timedelta(minutes=minutes),
    )


def sample_rows(minutes: Sequence[int]) -> list[SampleRow]:
    """Customers c001, c002, ... modified at the given minutes after T0."""
    return [sample(i, m) for i, m in enumerate(minutes, start=1)]


SEED = sample_rows([0, 1, 2, 2, 3])
"""Five customers; c005 is the latest, c003 and c004 share a modified time."""

CHANGES = [
    sample(2, 5, last_name="Changed-Later"),  # an update after the last cursor value
    sample(1, 3, last_name="Changed-At-Boundary"),  # an update AT the last cursor value
    sample(6, 3),  # a new row AT the last cursor value
    sample(7, 6),  # a new row after it
]

CRASH_SEED = sample_rows([0, 1, 1, 1, 2, 2, 3])
"""With batches of 2, the three rows at minute 1 straddle the first batch boundary."""

CRASH_BATCH_SIZE = 2
