"""Clustering: connected components over the accepted pairs, singletons included.

Each record ends up in exactly one cluster; a cluster's label is the smallest ``record_id`` in it,
so labels do not depend on the order of the input or of the pairs. Components are found with
vectorised min-label propagation plus pointer jumping (a union-find on arrays), which converges
in a number of rounds that grows with the logarithm of the longest chain.
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
