"""LSH band keys, candidate pairs from shared band buckets, and their Jaccard check."""

from __future__ import annotations

import numpy as np

from dedup.minhash import MinHashParams
from webtext.ngrams import MULT, fmix64

_MULT = np.uint64(MULT)
_MAX_ALL_PAIRS = 64  # a bucket up to this size checks all its pairs; larger: star from min


def band_keys(sigs: np.ndarray, params: MinHashParams) -> np.ndarray:
    """uint64 [docs, bands]: one key per band; equal keys = equal band (up to 2**-64).

    The band index is folded into the key, so keys of different bands never meet.
    """
    n = sigs.shape[0]
    keys = np.empty((n, params.bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(params.bands):
            h = np.full(n, np.uint64(band + 1) * _MULT, dtype=np.uint64)
            for col in range(band * params.rows, (band + 1) * params.rows):
                h = (h ^ sigs[:, col].astype(np.uint64)) * _MULT
            keys[:, band] = fmix64(h)
    return keys


def bucket_pairs(keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """int64 [pairs, 2] (small id, large id) of documents sharing a key, sorted, unique.

    Buckets of up to 64 documents give all their pairs; larger ones (boilerplate, mirrors)
    give a star from their smallest id, so the pair count stays linear in the bucket size.
    """
    empty = np.zeros((0, 2), dtype=np.int64)
    if len(keys) < 2:
        return empty
    order = np.lexsort((ids, keys))
    keys, ids = keys[order], ids[order].astype(np.int64)
    starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    sizes = np.diff(np.concatenate((starts, [len(keys)])))
    out = [empty]
    for size in np.unique(sizes[(sizes > 1) & (sizes <= _MAX_ALL_PAIRS)]):
        first = starts[sizes == size][:, None]
        i, j = np.triu_indices(int(size), k=1)
        out.append(np.stack([ids[first + i].ravel(), ids[first + j].ravel()], axis=1))
    big = sizes > _MAX_ALL_PAIRS
    if big.any():
        first = np.repeat(starts[big], sizes[big])
        member = np.concatenate(
            [np.arange(s, s + z) for s, z in zip(starts[big], sizes[big], strict=True)]
        )
        keep = member != first
        out.append(np.stack([ids[first[keep]], ids[member[keep]]], axis=1))
    pairs = np.sort(np.concatenate(out), axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(pairs, axis=0)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Row-wise share of equal MinHash values (datasketch's `MinHash.jaccard`)."""
    return np.count_nonzero(sig_a == sig_b, axis=1) / sig_a.shape[1]
