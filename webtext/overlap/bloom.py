"""A Bloom filter over 64-bit n-gram hashes: a NumPy bit array with a fixed probe scheme.

Why not rbloom: its probes come from a per-item Python hash callback (one Python call per
n-gram, ~0.5M/s) and its file must be read whole into memory. Here probes are computed for
whole arrays at once and a saved filter is memory-mapped, so a 30 GB filter opens instantly
in every worker and pages in only what queries touch. The probe positions are enhanced
double hashing (Dillinger & Manolios) of the already well-mixed n-gram hash:
`h1 + i*h2 + (i^3 - i)/6 mod m` with `h2 = fmix64(h ^ c) | 1`.

Large filters are partitioned by the top bits of the n-gram hash (`PartitionedBloom`); each
partition is an ordinary Bloom filter sized for exactly the distinct n-grams it holds, so the
false-positive bound holds per partition and a partition can be built by one task with
bounded memory.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from webtext.io import atomic_path, write_json_atomic
from webtext.ngrams import fmix64
from webtext.overlap.ngrams import HASH_SCHEME

_H2_SALT = np.uint64(0x5851F42D4C957F2D)
_CHUNK = 1 << 16  # n-grams per vectorised probe block (k * 8 bytes each)


def optimal_k(false_positive_rate: float) -> int:
    return max(1, round(-math.log2(false_positive_rate)))


def optimal_bits(n: int, false_positive_rate: float) -> int:
    """Bits for `n` items at the target rate, rounded up to whole 64-bit words."""
    bits = math.ceil(max(n, 1) * -math.log(false_positive_rate) / math.log(2) ** 2)
    return max(64, -(-bits // 64) * 64)


def expected_fpr(n: int, m: int, k: int) -> float:
    return (1.0 - math.exp(-k * n / m)) ** k if n else 0.0


class BloomFilter:
    """`m` bits, `k` probes; `add` and `contains` take arrays of uint64 n-gram hashes."""

    def __init__(self, m: int, k: int, bits: np.ndarray | None = None):
        if m <= 0 or m % 8:
            raise ValueError(f"bloom size must be a positive multiple of 8 bits, got {m}")
        self.m, self.k = int(m), int(k)
        self.bits = np.zeros(m // 8, np.uint8) if bits is None else bits
        if self.bits.shape != (m // 8,):
            raise ValueError(f"bit array has {self.bits.size} bytes, expected {m // 8}")
        i = np.arange(self.k, dtype=np.uint64)
        self._i = i[None, :]
        self._cubic = ((i * i * i - i) // np.uint64(6))[None, :]

    @classmethod
    def for_items(cls, n: int, false_positive_rate: float) -> BloomFilter:
        return cls(optimal_bits(n, false_positive_rate), optimal_k(false_positive_rate))

    @property
    def nbytes(self) -> int:
        return self.m // 8

    def _positions(self, hashes: np.ndarray) -> np.ndarray:
        h1 = hashes.astype(np.uint64, copy=False)[:, None]
        h2 = (fmix64(hashes.astype(np.uint64) ^ _H2_SALT) | np.uint64(1))[:, None]
        return (h1 + self._i * h2 + self._cubic) % np.uint64(self.m)

    def add(self, hashes: np.ndarray) -> None:
        for start in range(0, len(hashes), _CHUNK):
            pos = self._positions(hashes[start : start + _CHUNK]).ravel()
            byte = (pos >> np.uint64(3)).astype(np.intp)
            bit = (pos & np.uint64(7)).astype(np.uint8)
            # fancy `|=` is read-modify-write: duplicate indices are safe only when they
            # write the same mask, so set one bit position (0..7) at a time
            for b in range(8):
                self.bits[byte[bit == b]] |= np.uint8(1 << b)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        out = np.empty(len(hashes), bool)
        for start in range(0, len(hashes), _CHUNK):
            pos = self._positions(hashes[start : start + _CHUNK])
            got = (self.bits[(pos >> np.uint64(3)).astype(np.intp)] >> (pos & np.uint64(7))) & 1
            out[start : start + len(pos)] = got.all(axis=1)
        return out

    def union_inplace(self, other: BloomFilter) -> None:
        if (self.m, self.k) != (other.m, other.k):
            raise ValueError("only filters with the same size and probes can be merged")
        np.bitwise_or(self.bits, other.bits, out=self.bits)

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp:
            self.bits.tofile(tmp)

    @classmethod
    def load(cls, path: str | Path, m: int, k: int, mmap: bool = True) -> BloomFilter:
        bits = np.memmap(path, np.uint8, mode="r") if mmap else np.fromfile(path, np.uint8)
        return cls(m, k, bits)


class PartitionedBloom:
    """2**partition_bits Bloom filters, chosen by the top bits of the n-gram hash.

    On disk: a folder with `part-NNNNN.bin` bit arrays and `bloom.json` (written last: a
    folder without it is an unfinished build).
    """

    MANIFEST = "bloom.json"

    def __init__(self, filters: list[BloomFilter], meta: dict):
        bits = int(meta["partition_bits"])
        if len(filters) != 1 << bits:
            raise ValueError(f"{len(filters)} partitions for partition_bits={bits}")
        self.filters, self.meta, self.partition_bits = filters, meta, bits

    @staticmethod
    def partition_of(hashes: np.ndarray, partition_bits: int) -> np.ndarray:
        if partition_bits == 0:
            return np.zeros(len(hashes), np.intp)
        return (hashes >> np.uint64(64 - partition_bits)).astype(np.intp)

    @staticmethod
    def partition_bounds(partition: int, partition_bits: int) -> tuple[int, int]:
        """[lo, hi) of the hashes in `partition` (hi may be 2**64)."""
        width = 1 << (64 - partition_bits)
        return partition * width, (partition + 1) * width

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        hashes = np.asarray(hashes, np.uint64)
        if len(self.filters) == 1:
            return self.filters[0].contains(hashes)
        out = np.zeros(len(hashes), bool)
        part = self.partition_of(hashes, self.partition_bits)
        for p in np.unique(part):
            sel = part == p
            out[sel] = self.filters[p].contains(hashes[sel])
        return out

    @property
    def nbytes(self) -> int:
        return sum(f.nbytes for f in self.filters)

    @classmethod
    def load(cls, folder: str | Path) -> PartitionedBloom:
        folder = Path(folder)
        meta = json.loads((folder / cls.MANIFEST).read_text(encoding="utf-8"))
        if meta.get("hash_scheme") != HASH_SCHEME:
            raise ValueError(
                f"{folder}: built with hash scheme {meta.get('hash_scheme')!r}, "
                f"this version uses {HASH_SCHEME!r}; rebuild it"
            )
        filters = [
            BloomFilter.load(folder / p["file"], p["m"], meta["k"]) for p in meta["partitions"]
        ]
        return cls(filters, meta)

    @staticmethod
    def is_complete(folder: str | Path) -> bool:
        return (Path(folder) / PartitionedBloom.MANIFEST).is_file()


def choose_partition_bits(total_hashes: int, partition_bytes: int) -> int:
    """Smallest power of two of partitions whose hash arrays (8 B each) fit `partition_bytes`."""
    bits = 0
    while (total_hashes * 8) >> bits > partition_bytes and bits < 16:
        bits += 1
    return bits


def build_partition(
    hash_files: list[str],
    partition: int,
    partition_bits: int,
    false_positive_rate: float,
    out_path: str,
) -> dict:
    """Read this partition's slice of every sorted hash file, size the filter for the
    distinct count, set the bits, save. Plain function: a Ray task or a local call."""
    lo, hi = PartitionedBloom.partition_bounds(partition, partition_bits)
    pieces = []
    for path in hash_files:
        arr = np.load(path, mmap_mode="r")
        a = np.searchsorted(arr, np.uint64(lo), side="left") if lo else 0
        b = np.searchsorted(arr, np.uint64(hi), side="left") if hi < 1 << 64 else len(arr)
        if b > a:
            pieces.append(np.asarray(arr[a:b]))
    hashes = np.unique(np.concatenate(pieces)) if pieces else np.zeros(0, np.uint64)
    bloom = BloomFilter.for_items(len(hashes), false_positive_rate)
    bloom.add(hashes)
    bloom.save(out_path)
    return {"file": Path(out_path).name, "m": bloom.m, "n": int(len(hashes))}


def write_manifest(folder: str | Path, meta: dict) -> None:
    k = meta["k"]
    parts = meta["partitions"]
    meta = {
        **meta,
        "hash_scheme": HASH_SCHEME,
        "distinct_ngrams": sum(p["n"] for p in parts),
        "bytes": sum(p["m"] // 8 for p in parts),
        "expected_fpr": max((expected_fpr(p["n"], p["m"], k) for p in parts), default=0.0),
    }
    write_json_atomic(Path(folder) / PartitionedBloom.MANIFEST, meta)
