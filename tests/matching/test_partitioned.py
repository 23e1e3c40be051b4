"""Partitioned comparison: chunked (thread pool or Dask) levels equal `compare_pairs` exactly.

The Dask test starts a real `distributed.LocalCluster` (worker processes) and checks, from the
scheduler's task stream, that every chunk ran on one of its workers, not in the test process.
Tasks report to the session's Prefect test API, which the workers reach through the settings
Prefect serialises with each submitted task.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from crmhub.demo_data import generate_customers
from crmhub.matching.blocking import CandidatePairs, derive_keys, generate_pairs
from crmhub.matching.comparisons import (
    Comparison,
    RecordValues,
    compare_pairs,
    compile_comparisons,
)
from crmhub.matching.normalize import normalize_frame
from crmhub.matching.partitioned import (
    chunk_input,
    compare_chunk,
    compare_partitioned,
    comparison_columns,
    levels_for,
    partition_pairs,
)
from crmhub.matching.settings import MatchingSettings

needs_prefect_api = pytest.mark.usefixtures("prefect_harness")
"""For tests whose chunks run as Prefect task runs (the session's one test API)."""


@dataclass(frozen=True)
class Workload:
    normalized: pd.DataFrame
    candidates: CandidatePairs
    comparisons: list[Comparison]
    expected: np.ndarray


@pytest.fixture(scope="module")
def workload() -> Workload:
    settings = MatchingSettings()
    normalized = derive_keys(normalize_frame(generate_customers(3000, seed=11)))
    candidates = generate_pairs(normalized, settings.blocking, settings.max_block_size)
    comparisons = compile_comparisons(settings.comparisons)
    expected = compare_pairs(normalized, candidates.left, candidates.right, comparisons)
    assert len(candidates) > 1000, "too few pairs to make chunking meaningful"
    return Workload(normalized, candidates, comparisons, expected)


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[object]:
    import distributed

    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # any free port: the scheduler's HTTP server starts anyway
        silence_logs=logging.ERROR,
    )
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.mark.parametrize(("pairs", "partitions"), [(10, 3), (10, 1), (3, 8), (0, 4), (7, 7)])
def test_partition_pairs_contiguous_and_even(pairs: int, partitions: int) -> None:
    left, right = np.arange(pairs), np.arange(pairs) + 100
    chunks = partition_pairs(left, right, partitions)
    assert len(chunks) == min(pairs, partitions)
    bounds = [0, *(c.stop for c in chunks)]
    assert [c.start for c in chunks] == bounds[:-1]
    assert bounds[-1] == pairs
    sizes = [len(c) for c in chunks]
    assert not sizes or (min(sizes) >= 1 and max(sizes) - min(sizes) <= 1)
    for chunk in chunks:
        assert np.array_equal(chunk.left, left[chunk.start : chunk.stop])
        assert np.array_equal(chunk.right, right[chunk.start : chunk.stop])


def test_partition_pairs_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        partition_pairs(np.arange(3), np.arange(3), 0)
    with pytest.raises(ValueError, match="differ in length"):
        partition_pairs(np.arange(3), np.arange(2), 2)


def test_chunk_input_ships_only_touched_rows_and_read_columns(workload: Workload) -> None:
    chunk = partition_pairs(workload.candidates.left, workload.candidates.right, 9)[4]
    columns = comparison_columns(workload.normalized, workload.comparisons)
    work = chunk_input(workload.normalized, chunk, columns)

    touched = np.unique(np.concatenate([chunk.left, chunk.right]))
    assert len(work.records) == len(touched) < len(workload.normalized)
    assert list(work.records.columns) == columns
    assert "name_sorted" not in columns  # a blocking key no comparison reads stays home
    assert {c.column for c in workload.comparisons} <= set(columns)
    # the renumbered pairs point at the same records as the original positions
    shipped = work.records.iloc[np.concatenate([work.left, work.right])]
    source = workload.normalized[columns].iloc[np.concatenate([chunk.left, chunk.right])]
    assert shipped.reset_index(drop=True).equals(source.reset_index(drop=True))
    with pytest.raises(KeyError, match="no_such_column"):
        chunk_input(workload.normalized, chunk, ["email", "no_such_column"])
    levels = compare_chunk(work, workload.comparisons)
    assert levels.dtype == np.int8
    assert np.array_equal(levels, workload.expected[chunk.start : chunk.stop])


@needs_prefect_api
@pytest.mark.parametrize("partitions", [1, 7])
def test_thread_pool_equals_compare_pairs(workload: Workload, partitions: int) -> None:
    got = compare_partitioned(
        workload.normalized,
        workload.candidates.left,
        workload.candidates.right,
        workload.comparisons,
        partitions=partitions,
    )
    assert got.dtype == np.int8
    assert got.shape == workload.expected.shape
    assert np.array_equal(got, workload.expected)


@needs_prefect_api
def test_more_partitions_than_pairs(workload: Workload) -> None:
    left, right = workload.candidates.left[:5], workload.candidates.right[:5]
    got = compare_partitioned(workload.normalized, left, right, workload.comparisons, partitions=50)
    assert np.array_equal(got, workload.expected[:5])


def test_zero_pairs(workload: Workload) -> None:
    empty = np.empty(0, dtype=np.int64)
    got = compare_partitioned(workload.normalized, empty, empty, workload.comparisons, partitions=4)
    assert got.shape == (0, len(workload.comparisons))
    assert got.dtype == np.int8


@needs_prefect_api
def test_levels_for_in_process_and_partitioned(workload: Workload) -> None:
    values = RecordValues(workload.normalized)
    inline = levels_for(workload.candidates, values, workload.comparisons)
    chunked = levels_for(workload.candidates, values, workload.comparisons, partitions=3)
    assert np.array_equal(inline, workload.expected)
    assert np.array_equal(chunked, workload.expected)


@needs_prefect_api
def test_started_runner_is_used_and_left_running(workload: Workload) -> None:
    from prefect.task_runners import ThreadPoolTaskRunner

    with ThreadPoolTaskRunner(max_workers=2) as runner:
        got = compare_partitioned(
            workload.normalized,
            workload.candidates.left,
            workload.candidates.right,
            workload.comparisons,
            partitions=4,
            task_runner=runner,
        )
        assert runner._started, "a runner the caller started is the caller's to stop"
    assert np.array_equal(got, workload.expected)


@needs_prefect_api
def test_inside_a_task_of_a_flow_run(workload: Workload) -> None:
    """Where the engine runs in production: inside the sync flow's match-and-build task."""
    from prefect import flow, task

    @task
    def match_step() -> np.ndarray:
        return compare_partitioned(
            workload.normalized,
            workload.candidates.left,
            workload.candidates.right,
            workload.comparisons,
            partitions=3,
        )

    @flow
    def matching_flow() -> np.ndarray:
        return match_step()

    assert np.array_equal(matching_flow(), workload.expected)


@needs_prefect_api
def test_dask_cluster_equals_compare_pairs(workload: Workload, dask_cluster: object) -> None:
    import distributed
    import prefect_dask

    address = dask_cluster.scheduler_address  # type: ignore[attr-defined]
    workers = set(dask_cluster.scheduler_info["workers"])  # type: ignore[attr-defined]
    runner = prefect_dask.DaskTaskRunner(address=address)

    with distributed.Client(address) as client, distributed.get_task_stream(client) as stream:
        got = compare_partitioned(
            workload.normalized,
            workload.candidates.left,
            workload.candidates.right,
            workload.comparisons,
            partitions=6,
            task_runner=runner,
        )
    assert np.array_equal(got, workload.expected)

    ran = [t for t in stream.data if "compare" in t["key"] and t.get("status") == "OK"]
    assert len(ran) == 6, [t["key"] for t in stream.data]
    assert {t["worker"] for t in ran} <= workers

    # the runner is duplicated per call, so the same configured runner serves a second call
    again = compare_partitioned(
        workload.normalized,
        workload.candidates.left[:500],
        workload.candidates.right[:500],
        workload.comparisons,
        partitions=2,
        task_runner=runner,
    )
    assert np.array_equal(again, workload.expected[:500])


@needs_prefect_api
def test_match_records_on_dask_gives_the_same_clusters(dask_cluster: object) -> None:
    """The whole engine with its comparisons on the cluster: same clusters, same pairs."""
    import prefect_dask

    from crmhub.matching.engine import match_records

    data = generate_customers(2500, seed=4)
    records = data.drop(columns=["source_id", "entity_id"]).assign(record_id=np.arange(len(data)))
    plain = match_records(records)
    runner = prefect_dask.DaskTaskRunner(address=dask_cluster.scheduler_address)  # type: ignore[attr-defined]
    on_dask = match_records(records, MatchingSettings(partitions=4), task_runner=runner)
    assert plain.clusters["cluster"].nunique() < len(records)  # something was merged
    pd.testing.assert_frame_equal(on_dask.clusters, plain.clusters)
    pd.testing.assert_frame_equal(on_dask.pairs, plain.pairs)
