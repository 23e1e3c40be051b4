"""Clustering: connected components with singletons and order-free labels."""

from __future__ import annotations

import numpy as np

from crmhub.matching.clustering import cluster_records, connected_components


def test_chain_and_singletons() -> None:
    ids = np.array([50, 10, 30, 20, 40, 60])
    # positions: 0-1, 1-2 chain; 3 alone; 4-5 pair
    out = cluster_records(ids, np.array([0, 1, 4]), np.array([1, 2, 5]))
    assert out["record_id"].tolist() == ids.tolist()
    assert out["cluster"].tolist() == [10, 10, 10, 20, 40, 40]


def test_no_pairs_means_every_record_alone() -> None:
    out = cluster_records(np.array([3, 1, 2]), np.array([], dtype=int), np.array([], dtype=int))
    assert out["cluster"].tolist() == [3, 1, 2]


def test_empty_input() -> None:
    out = cluster_records(
        np.array([], dtype=np.int64), np.array([], dtype=int), np.array([], dtype=int)
    )
    assert out.empty and list(out.columns) == ["record_id", "cluster"]


def test_long_chain_in_any_edge_order_is_one_component() -> None:
    n = 2_000
    rng = np.random.default_rng(0)
    order = rng.permutation(n - 1)
    left, right = order, order + 1  # path 0-1-2-...-(n-1), edges shuffled
    swap = rng.random(n - 1) < 0.5
    roots = connected_components(n, np.where(swap, right, left), np.where(swap, left, right))
    assert set(roots.tolist()) == {0}


def test_matches_a_reference_union_find() -> None:
    rng = np.random.default_rng(5)
    n = 500
    left, right = rng.integers(0, n, 400), rng.integers(0, n, 400)
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    expected = [find(i) for i in range(n)]
    assert connected_components(n, left, right).tolist() == expected
