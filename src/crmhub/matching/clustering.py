"""Clustering: connected components over the accepted pairs, singletons included, with a guard
against chains.

Each record ends up in exactly one cluster; a cluster's label is the smallest ``record_id`` in it,
so labels do not depend on the order of the input or of the pairs. Components are found with
vectorised min-label propagation plus pointer jumping (a union-find on arrays), which converges
in a number of rounds that grows with the logarithm of the longest chain.

Connected components are transitive: A~B and B~C put A and C together even when A and C were
compared and are clearly two people -- a parent and child who share a landline and an address,
linked through a third record that holds only the surname, the phone and the street. The guard
(`cluster_guarded`) takes such *cannot-link* pairs (scored far below the review band) and
rebuilds only the components that contain one: their accepted pairs are added strongest first,
and a pair that would join two records known to differ is left out. Components without a
conflict -- nearly all -- keep the vectorised result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def connected_components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Component root (smallest member position) of each of `n` nodes joined by the edges."""
    labels = np.arange(n, dtype=np.int64)
    if len(left) == 0:
        return labels
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    while True:
        lowest = np.minimum(labels[left], labels[right])
        before = labels.copy()
        np.minimum.at(labels, labels[left], lowest)  # hook roots onto the smaller root
        np.minimum.at(labels, labels[right], lowest)
        np.minimum.at(labels, left, lowest)
        np.minimum.at(labels, right, lowest)
        while True:  # pointer jumping: every node points at its root
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels, before):
            return labels


def cluster_records(record_ids: np.ndarray, left: np.ndarray, right: np.ndarray) -> pd.DataFrame:
    """Clusters of records joined by accepted pairs given as positions into `record_ids`.

    Returns:
        DataFrame[record_id, cluster] with every record, cluster = smallest record_id in it.
    """
    record_ids = np.asarray(record_ids, dtype=np.int64)
    roots = connected_components(len(record_ids), left, right)
    smallest = np.full(len(record_ids), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, roots, record_ids)
    return pd.DataFrame({"record_id": record_ids, "cluster": smallest[roots]})


def cluster_guarded(
    record_ids: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    weights: np.ndarray,
    cannot_left: np.ndarray,
    cannot_right: np.ndarray,
    ties: np.ndarray | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """`cluster_records`, except that no cluster holds both records of a cannot-link pair.

    Args:
        left, right, weights: accepted pairs (positions into `record_ids`) and their weights.
        cannot_left, cannot_right: pairs known to be different people (positions).
        ties: per accepted pair, what orders pairs of equal weight (default: their position);
            pass something from the records' content to make the result order-independent.

    Returns:
        (DataFrame[record_id, cluster], bool mask over the accepted pairs: True where a pair
        was left out to keep a cannot-link pair apart).
    """
    record_ids = np.asarray(record_ids, dtype=np.int64)
    left, right = np.asarray(left, np.int64), np.asarray(right, np.int64)
    roots = connected_components(len(record_ids), left, right)
    cannot_left, cannot_right = (
        np.asarray(cannot_left, np.int64),
        np.asarray(cannot_right, np.int64),
    )
    conflict = roots[cannot_left] == roots[cannot_right]
    refused = np.zeros(len(left), dtype=bool)
    if conflict.any():
        bad_roots = np.unique(roots[cannot_left[conflict]])
        inside = np.flatnonzero(np.isin(roots[left], bad_roots))
        tie = np.arange(len(left)) if ties is None else np.asarray(ties)
        rebuilt, refused[inside] = _greedy_components(
            left[inside],
            right[inside],
            np.asarray(weights, np.float64)[inside],
            tie[inside],
            cannot_left[conflict],
            cannot_right[conflict],
        )
        for member, root in rebuilt.items():
            roots[member] = root
        roots = _relabel(roots)
    smallest = np.full(len(record_ids), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, roots, record_ids)
    return pd.DataFrame({"record_id": record_ids, "cluster": smallest[roots]}), refused


def _greedy_components(
    left: np.ndarray,
    right: np.ndarray,
    weights: np.ndarray,
    ties: np.ndarray,
    cannot_left: np.ndarray,
    cannot_right: np.ndarray,
) -> tuple[dict[int, int], np.ndarray]:
    """Union-find over the edges strongest first (equal weights by `ties`), never
    joining two sets that hold a cannot-link pair; returns (member -> root, refused mask)."""
    parent: dict[int, int] = {}
    apart: dict[int, set[int]] = {}  # root -> roots of sets it must stay apart from
    for a, b in zip(cannot_left.tolist(), cannot_right.tolist(), strict=True):
        apart.setdefault(a, set()).add(b)
        apart.setdefault(b, set()).add(a)
        parent.setdefault(a, a)
        parent.setdefault(b, b)

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    refused = np.zeros(len(weights), dtype=bool)
    for edge in np.lexsort((ties, -weights)).tolist():
        a, b = find(int(left[edge])), find(int(right[edge]))
        if a == b:
            continue
        enemies_a = {find(x) for x in apart.get(a, ())}
        if b in enemies_a:
            refused[edge] = True
            continue
        parent[b] = a
        apart[a] = enemies_a | {find(x) for x in apart.pop(b, ())}
    return {member: find(member) for member in parent}, refused


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Point every node at the smallest position of its group (labels: any group id)."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    first = np.minimum.reduceat(order, starts) if len(order) else order
    out = np.empty_like(labels)
    out[order] = np.repeat(first, sizes)
    return out
