"""Union-find over candidate edges, and the deterministic survivor of each cluster."""

from __future__ import annotations

import numpy as np


class UnionFind:
    """Disjoint sets over arbitrary int64 ids (only the ids that appear in edges).

    Path halving plus union by smaller root id: the partition depends only on the edge
    set, and each root is its cluster's smallest id whatever order edges come in.
    """

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        parent = self.parent
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra

    def union_edges(self, edges: np.ndarray) -> None:
        for a, b in edges.tolist():
            self.union(a, b)

    def components(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, root of each) for every id seen, sorted by id."""
        ids = np.array(sorted(self.parent), dtype=np.int64)
        roots = np.array([self.find(int(x)) for x in ids], dtype=np.int64)
        return ids, roots


def choose_survivors(
    ids: np.ndarray,
    roots: np.ndarray,
    score: np.ndarray,
    created: np.ndarray,
    doc_key: np.ndarray,
    live: np.ndarray | None = None,
) -> np.ndarray:
    """The survivor id of each element's cluster: a live copy before archived ones (when
    `live` is given: 1 for live, 0 for an archive capture), then highest score, then
    earliest `first_created_utc`, then smallest document id (`doc_key`, the id as an
    integer)."""
    if len(ids) == 0:
        return ids.copy()
    keys = [doc_key, created, -score]
    if live is not None:
        keys.append(-live.astype(np.int64))
    order = np.lexsort((*keys, roots))  # by cluster, best first
    sorted_roots = roots[order]
    first = np.concatenate(([True], sorted_roots[1:] != sorted_roots[:-1]))
    best_of_root = dict(zip(sorted_roots[first].tolist(), ids[order][first].tolist(), strict=True))
    return np.array([best_of_root[r] for r in roots.tolist()], dtype=np.int64)
