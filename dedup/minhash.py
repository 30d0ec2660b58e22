"""MinHash signatures of many documents at once, bit-for-bit equal to datasketch's `MinHash`.

datasketch (2.x) permutes a 32-bit hash `h` with `a * fmix32(h) + b mod 2**32` (scheme
"affine32", its default) or, in the scheme of datasketch < 2 ("legacy"), with
`(a * h + b) mod (2**61 - 1)` truncated to 32 bits; `a`, `b` come from
`np.random.RandomState(seed)` in the same order. We draw the same parameters and apply the
same arithmetic, but over blocks of shingles of many documents (a cache-sized
permutations x shingles matrix) with one `minimum.reduceat` per block, instead of one
NumPy call chain per document.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from scipy import integrate

Scheme = Literal["affine32", "legacy"]
MERSENNE_PRIME = np.uint64((1 << 61) - 1)
MAX_HASH = np.uint64((1 << 32) - 1)
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35))
_BLOCK = 2048  # shingles per block: 2048 x 128 x 4 bytes = 1 MiB, fits in L2


def permutations(num_perm: int, seed: int, scheme: Scheme) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) exactly as datasketch's `MinHash(num_perm, seed, scheme=...)` draws them."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        pairs = [
            (
                gen.randint(1, MERSENNE_PRIME, dtype=np.uint64),
                gen.randint(0, MERSENNE_PRIME, dtype=np.uint64),
            )
            for _ in range(num_perm)
        ]
        a, b = np.array(pairs, dtype=np.uint64).T
        return a.copy(), b.copy()
    if scheme != "affine32":
        raise ValueError(f"unknown MinHash scheme {scheme!r}; use affine32 or legacy")
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2 = _FMIX32
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s1)


def optimal_bands(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive + negative areas (datasketch)."""

    def fp(b: int, r: int) -> float:
        return integrate.quad(lambda s: 1 - (1 - s ** float(r)) ** float(b), 0.0, threshold)[0]

    def fn(b: int, r: int) -> float:
        return integrate.quad(lambda s: (1 - s ** float(r)) ** float(b), threshold, 1.0)[0]

    best, opt = float("inf"), (0, 0)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            error = fp(b, r) * fp_weight + fn(b, r) * fn_weight
            if error < best:
                best, opt = error, (b, r)
    return opt


@dataclass(frozen=True)
class MinHashParams:
    """Seeded parameters of near dedup; `str()` names the files they produce."""

    num_perm: int = 128
    seed: int = 1
    shingle_size: int = 5
    threshold: float = 0.8
    bands: int = 12
    rows: int = 10
    scheme: Scheme = "affine32"

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"bands x rows = {self.bands} x {self.rows} exceeds num_perm {self.num_perm}"
            )
        if not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")

    def __str__(self) -> str:
        return (
            f"mh-{self.scheme}-p{self.num_perm}-s{self.seed}-n{self.shingle_size}"
            f"-b{self.bands}x{self.rows}"
        )

    @cached_property
    def perms(self) -> tuple[np.ndarray, np.ndarray]:
        return permutations(self.num_perm, self.seed, self.scheme)


def signatures(hashes: np.ndarray, offsets: np.ndarray, params: MinHashParams) -> np.ndarray:
    """uint32 [docs, num_perm] MinHash values of documents given flat uint32 shingle hashes.

    A document without shingles keeps the initial value 2**32 - 1 everywhere (datasketch's
    empty MinHash); callers leave such documents out of LSH.
    """
    a, b = params.perms
    n_docs = len(offsets) - 1
    out = np.full((n_docs, params.num_perm), np.uint32(MAX_HASH), dtype=np.uint32)
    total = int(offsets[-1]) if n_docs else 0
    if total == 0:
        return out
    starts, ends = offsets[:-1], offsets[1:]
    nonempty = np.flatnonzero(ends > starts)
    ne_starts, ne_ends = starts[nonempty], ends[nonempty]
    legacy = params.scheme == "legacy"
    # permutation-major block: reduceat then runs over contiguous rows (~3x faster)
    buf = np.empty((params.num_perm, _BLOCK), dtype=np.uint64 if legacy else np.uint32)
    a_col, b_col = a[:, None], b[:, None]
    with np.errstate(over="ignore"):
        for c0 in range(0, total, _BLOCK):
            c1 = min(c0 + _BLOCK, total)
            block = buf[:, : c1 - c0]
            if legacy:
                np.multiply(a_col, hashes[c0:c1].astype(np.uint64), out=block)
                np.add(block, b_col, out=block)
                np.remainder(block, MERSENNE_PRIME, out=block)
                np.bitwise_and(block, MAX_HASH, out=block)
            else:
                np.multiply(a_col, fmix32(hashes[c0:c1]), out=block)
                np.add(block, b_col, out=block)
            lo = np.searchsorted(ne_ends, c0, side="right")
            hi = np.searchsorted(ne_starts, c1, side="left")
            docs = nonempty[lo:hi]
            seg = np.maximum(ne_starts[lo:hi], c0) - c0
            mins = np.minimum.reduceat(block, seg, axis=1).T
            out[docs] = np.minimum(out[docs], mins)
    return out


def text_signatures(texts, params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
    """(signatures, has_shingles) of a batch of texts."""
    from dedup.shingles import text_shingle_hashes

    hashes, offsets = text_shingle_hashes(texts, params.shingle_size)
    return signatures(hashes, offsets, params), np.diff(offsets) > 0
