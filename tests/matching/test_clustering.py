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


def test_guard_keeps_a_cannot_link_pair_apart_and_drops_the_weakest_bridge() -> None:
    from crmhub.matching.clustering import cluster_guarded

    ids = np.arange(10, 16)
    # 0-1 strong, 1-2 weak bridge, 2-3 strong; 0 and 3 are known to differ; 4-5 untouched
    left, right = np.array([0, 1, 2, 4]), np.array([1, 2, 3, 5])
    weights = np.array([20.0, 5.0, 18.0, 9.0])
    plain = cluster_records(ids, left, right)
    assert plain["cluster"].tolist() == [10, 10, 10, 10, 14, 14]  # the chain joins 0 and 3
    guarded, refused = cluster_guarded(ids, left, right, weights, np.array([0]), np.array([3]))
    assert guarded["cluster"].tolist() == [10, 10, 12, 12, 14, 14]
    assert refused.tolist() == [False, True, False, False]


def test_guard_changes_nothing_without_conflicts() -> None:
    from crmhub.matching.clustering import cluster_guarded

    rng = np.random.default_rng(3)
    left, right = rng.integers(0, 300, 400), rng.integers(0, 300, 400)
    ids = rng.permutation(1000)[:300]
    guarded, refused = cluster_guarded(
        ids, left, right, rng.random(400), np.array([7]), np.array([7])
    )
    assert guarded.equals(cluster_records(ids, left, right)) and not refused.any()


def test_guard_with_several_enemies_in_one_component() -> None:
    """A star of records around one hub: three known-different people, the hub joins one."""
    from crmhub.matching.clustering import cluster_guarded

    ids = np.arange(5)
    left, right = np.array([0, 0, 0, 0]), np.array([1, 2, 3, 4])
    weights = np.array([3.0, 9.0, 4.0, 2.0])
    apart_left, apart_right = np.array([1, 1, 2]), np.array([2, 3, 3])
    guarded, refused = cluster_guarded(ids, left, right, weights, apart_left, apart_right)
    clusters = guarded.set_index("record_id")["cluster"]
    assert clusters[0] == clusters[2]  # the strongest link wins
    assert len({clusters[1], clusters[2], clusters[3]}) == 3
    assert clusters[4] == clusters[0]  # 4 conflicts with nobody
    assert refused.tolist() == [True, False, True, False]
