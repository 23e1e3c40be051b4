"""Comparing candidate pairs in partitions, as Prefect tasks, so a Dask cluster can do the work.

On one machine `comparisons.compare_pairs` is already vectorised (integer-code gathers and
`rapidfuzz.process.cpdist` per comparison level, no Python loop per pair). When the candidate
pairs of a large hub no longer fit one machine's time budget, the same function runs here on
contiguous chunks of the pairs, each chunk a Prefect task submitted through a task runner:
Prefect's `ThreadPoolTaskRunner` by default, or `prefect_dask.DaskTaskRunner` to spread the
chunks over a Dask cluster. The code path is the same in both cases; only the runner differs.

Each task receives only what it needs, sliced before submission: the rows of the normalised
frame that its pairs touch (renumbered 0..k-1), only the columns the comparisons read, and the
pairs as positions into that slice. A worker therefore never sees the whole (possibly
million-row) frame, and what comes back is the chunk's int8 level matrix, small over the wire.

Why chunking is exact: today every comparison level depends only on the two values of a pair
(equality of value codes, per-pair fuzzy scores, per-record transforms), so comparing a chunk
against its own slice of the records yields exactly the rows `compare_pairs` yields for those
pairs on the full frame (value codes are renumbered per slice, but only their equality is
used). Whole-column statistics (term frequencies) are applied to the weights after the
levels come back, on the full records (`term_frequency`), so they do not break it; a comparison
level that one day depends on such statistics would: they must then be computed once on the
full frame and shipped with every chunk, or the chunked result will silently differ. The
equality test in ``tests/matching/test_partitioned.py`` exists to catch that.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW, temporary_settings
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from crmhub.matching.blocking import CandidatePairs
from crmhub.matching.comparisons import Comparison, RecordValues, compare_pairs


@dataclass(frozen=True)
class PairChunk:
    """Pairs ``start:stop`` of the candidate arrays; `left`/`right` are positions in the frame."""

    start: int
    stop: int
    left: np.ndarray
    right: np.ndarray

    def __len__(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class ChunkInput:
    """Everything one worker needs to compare a chunk, and nothing else.

    Attributes:
        records: the normalised rows the chunk's pairs touch, index 0..k-1, only the columns
            the comparisons read.
        left, right: the pairs as positions into `records`.
    """

    records: pd.DataFrame
    left: np.ndarray
    right: np.ndarray


def partition_pairs(left: np.ndarray, right: np.ndarray, partitions: int) -> list[PairChunk]:
    """Split the pairs into at most `partitions` contiguous chunks whose sizes differ by <= 1.

    Contiguous chunks keep the results in pair order with a plain slice assignment, and
    candidate pairs are grouped by blocking rule, so neighbouring pairs tend to share records
    and each chunk's slice of the frame stays small. No chunk is empty: with fewer pairs than
    `partitions` there is one chunk per pair, with no pairs there are none.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    if len(left) != len(right):
        raise ValueError(f"left and right differ in length ({len(left)} != {len(right)})")
    n = len(left)
    if n == 0:
        return []
    bounds = np.linspace(0, n, min(partitions, n) + 1).round().astype(np.int64)
    return [
        PairChunk(int(a), int(b), left[a:b], right[a:b])
        for a, b in itertools.pairwise(bounds)
        if b > a
    ]


def comparison_columns(normalized: pd.DataFrame, comparisons: Sequence[Comparison]) -> list[str]:
    """The frame's columns the comparisons read, in frame order.

    Read off the comparisons' own fields (any string, or tuple of strings, that names a column
    of the frame: `column`, `swap_with`, ...), so a new comparison kind that reads another
    column is covered without a list to keep in sync here. Naming a column by accident (a
    `name` equal to a column) only ships one column too many.
    """
    wanted: set[str] = set()
    for comparison in comparisons:
        for field in dataclasses.fields(comparison):
            value = getattr(comparison, field.name)
            names = value if isinstance(value, tuple) else (value,)
            wanted.update(v for v in names if isinstance(v, str))
    return [c for c in normalized.columns if c in wanted]


def chunk_input(
    normalized: pd.DataFrame, chunk: PairChunk, columns: Sequence[str] | None = None
) -> ChunkInput:
    """Slice `normalized` down to the rows (and `columns`) `chunk` touches, pairs renumbered.

    Done in the submitting process, before the task is sent, so only the slice travels.
    """
    both = np.concatenate([chunk.left, chunk.right])
    positions, inverse = np.unique(both, return_inverse=True)
    local = inverse.astype(np.int32 if len(positions) < 2**31 else np.int64)
    if columns is None:
        records = normalized.iloc[positions]
    else:  # rows and columns in one step: never copies the full-height frame
        at = normalized.columns.get_indexer(list(columns))
        if (at < 0).any():
            missing = [c for c, i in zip(columns, at, strict=True) if i < 0]
            raise KeyError(f"columns not in the normalised frame: {missing}")
        records = normalized.iloc[positions, at]
    records = records.reset_index(drop=True)
    n = len(chunk)
    return ChunkInput(records=records, left=local[:n], right=local[n:])


def compare_chunk(work: ChunkInput, comparisons: Sequence[Comparison]) -> np.ndarray:
    """The chunk's (pairs x comparisons) int8 level matrix; pure, so any worker may run it."""
    return compare_pairs(work.records, work.left, work.right, comparisons)


@task(
    name="compare-pairs",
    task_run_name="compare-pairs-{part}",
    cache_policy=NO_CACHE,
    persist_result=False,
)
def compare_chunk_task(
    work: ChunkInput, comparisons: tuple[Comparison, ...], part: int
) -> np.ndarray:
    """`compare_chunk` as a Prefect task (`part` only names the run).

    No cache and no persisted result: the output is cheap to recompute, only ever consumed by
    the caller, and hashing the input frame for a cache key would cost more than it saves.
    """
    return compare_chunk(work, comparisons)


def compare_partitioned(
    normalized: pd.DataFrame,
    left: np.ndarray,
    right: np.ndarray,
    comparisons: Sequence[Comparison],
    *,
    partitions: int,
    task_runner: TaskRunner[Any] | None = None,
) -> np.ndarray:
    """`compare_pairs(normalized, left, right, comparisons)`, computed in `partitions` tasks.

    Args:
        normalized: the normalised records (`normalize.normalize_frame`, blocking keys may be
            present); `left`/`right` are row positions into it.
        partitions: how many chunks (tasks) to split the pairs into, at most one per pair.
        task_runner: where the tasks run. None uses a `ThreadPoolTaskRunner` with one thread
            per chunk up to the CPU count. Pass e.g.
            ``prefect_dask.DaskTaskRunner(address="tcp://scheduler:8786")`` to run on Dask.
            A runner that is not started is duplicated and started for this call only (what a
            Prefect flow does with its runner), so one configured runner can serve many calls;
            pass a started runner (inside ``with runner:``) to keep its cluster connection
            open across calls.

    Returns:
        The int8 (pairs x comparisons) level matrix, rows in the order of `left`/`right`.

    Raises whatever a chunk raised; the tasks need a reachable Prefect API (or Prefect's
    ephemeral one), the same as any task run.
    """
    comparisons = tuple(comparisons)
    left, right = np.asarray(left), np.asarray(right)
    chunks = partition_pairs(left, right, partitions)
    out = np.zeros((len(left), len(comparisons)), dtype=np.int8)
    if not chunks or not comparisons:
        return out
    columns = comparison_columns(normalized, comparisons)
    runner = task_runner or ThreadPoolTaskRunner(max_workers=min(len(chunks), os.cpu_count() or 1))
    with _quiet_outside_flow(), _started(runner) as running:
        futures = [
            running.submit(
                compare_chunk_task,
                {
                    "work": chunk_input(normalized, chunk, columns),
                    "comparisons": comparisons,
                    "part": part,
                },
            )
            for part, chunk in enumerate(chunks)
        ]
        for chunk, future in zip(chunks, futures, strict=True):
            out[chunk.start : chunk.stop] = future.result()
    return out


def levels_for(
    candidates: CandidatePairs,
    records: RecordValues | pd.DataFrame,
    comparisons: Sequence[Comparison],
    *,
    partitions: int = 1,
    task_runner: TaskRunner[Any] | None = None,
) -> np.ndarray:
    """The level matrix of `candidates`, in process or partitioned, for the matching engine.

    With one partition and no runner the pairs are compared right here on `records`, reusing a
    `RecordValues` the caller also needs (u estimation) and involving no Prefect at all;
    otherwise `compare_partitioned` runs the chunks on the runner. Both give the same matrix.
    """
    if partitions <= 1 and task_runner is None:
        return compare_pairs(records, candidates.left, candidates.right, comparisons)
    frame = records.frame if isinstance(records, RecordValues) else records
    return compare_partitioned(
        frame,
        candidates.left,
        candidates.right,
        comparisons,
        partitions=max(partitions, 1),
        task_runner=task_runner,
    )


@contextmanager
def _started(runner: TaskRunner[Any]) -> Iterator[TaskRunner[Any]]:
    """`runner` itself if the caller already started it, else a started duplicate.

    A started runner belongs to the caller (a flow's own runner, or one kept open across calls).
    An idle one is duplicated because prefect-dask's `DaskTaskRunner` cannot be entered twice
    (its client stays closed after the first exit); Prefect's flow engine duplicates for the
    same reason.
    """
    if runner._started:
        yield runner
        return
    with runner.duplicate() as fresh:
        yield fresh


def _quiet_outside_flow() -> AbstractContextManager[object]:
    """Outside a flow run, tell Prefect not to warn that task-run logs cannot reach the API.

    Task runs without a parent flow run (the CLI, tests) have no flow run to file logs under,
    and Prefect warns once per task run. Inside a flow (the sync flow) nothing changes and the
    logs go to the flow run. Set through a settings context, which Prefect serialises with
    every task it sends to Dask, so the workers stay quiet too.
    """
    if FlowRunContext.get() is not None:
        return nullcontext()
    return temporary_settings(updates={PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW: "ignore"})
