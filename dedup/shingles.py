"""Text -> normalised words -> 64-bit word hashes -> 32-bit word n-gram (shingle) hashes.

Everything runs on whole batches: Arrow kernels lower-case, strip punctuation and split
(C++), each distinct word of the batch is hashed once with xxh64, and shingle hashes are
combined from word hashes with NumPy. `shingle_hash` is the same function for one shingle
in pure Python: hand it to datasketch (`MinHash(hashfunc=shingle_hash)`) and the signatures
agree bit for bit with ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

# punctuation and symbols go; letters, digits, combining marks and separators stay (RE2)
_PUNCT = r"[^\p{L}\p{N}\p{M}\p{Z}\s]+"
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier of the shingle fold
_M64 = (1 << 64) - 1
_FMIX64 = (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33)


@dataclass(frozen=True)
class WordBatch:
    """Word hashes of a batch of documents, flat, with per-document offsets."""

    hashes: np.ndarray  # uint64 [total words]
    offsets: np.ndarray  # int64 [docs + 1]


def normalized_words(texts: pa.Array | Sequence[str | None]) -> pa.ListArray:
    """Case-folded (lower-case) words with punctuation removed, one list per text."""
    arr = pa.array(texts, pa.string()) if not isinstance(texts, pa.Array) else texts
    arr = pc.fill_null(arr.cast(pa.string()), "")
    stripped = pc.replace_substring_regex(pc.utf8_lower(arr), _PUNCT, "")
    return pc.utf8_split_whitespace(pc.utf8_trim_whitespace(stripped))


def normalized_texts(texts: pa.Array | Sequence[str | None]) -> pa.Array:
    """The normalised text exact dedup hashes: the words joined by single spaces."""
    return pc.binary_join(normalized_words(texts), " ")


def word_hashes(texts: pa.Array | Sequence[str | None]) -> WordBatch:
    """xxh64 of every word, each distinct word of the batch hashed once."""
    words = normalized_words(texts)
    n = len(words)
    flat = pc.list_flatten(words)
    parents = np.asarray(pc.list_parent_indices(words), dtype=np.int64)
    keep = np.asarray(pc.greater(pc.utf8_length(flat), 0).fill_null(False), dtype=bool)
    flat = flat.filter(pa.array(keep))
    parents = parents[keep]
    encoded = pc.dictionary_encode(flat)
    vocab = encoded.dictionary.cast(pa.binary()).to_pylist()
    table = np.fromiter(map(xxhash.xxh64_intdigest, vocab), dtype=np.uint64, count=len(vocab))
    indices = np.asarray(encoded.indices, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(parents, minlength=n), out=offsets[1:])
    return WordBatch(table[indices] if len(indices) else np.zeros(0, np.uint64), offsets)


def _fmix64(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX64
    h = h ^ (h >> np.uint64(s1))
    h = h * np.uint64(m1)
    h = h ^ (h >> np.uint64(s2))
    h = h * np.uint64(m2)
    return h ^ (h >> np.uint64(s3))


def shingle_hashes(batch: WordBatch, n: int) -> tuple[np.ndarray, np.ndarray]:
    """uint32 hashes of every word n-gram of each document, flat, and per-document offsets.

    A document with fewer than `n` (but some) words has one shingle: all its words. A
    document without words has none.
    """
    w, offsets = batch.hashes, batch.offsets
    total = len(w)
    counts = np.diff(offsets)
    doc_of = np.repeat(np.arange(len(counts)), counts)
    end_of = offsets[1:][doc_of]  # end of each word's document
    pos = np.arange(total, dtype=np.int64)
    h = np.zeros(total, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            idx = pos + j
            valid = idx < end_of
            nxt = w[np.minimum(idx, max(total - 1, 0))] if total else w
            h = np.where(valid, h * _MULT + nxt, h)
        h = _fmix64(h)
    start_of = offsets[:-1][doc_of]
    exists = (pos + n <= end_of) | ((pos == start_of) & (end_of - start_of < n))
    per_doc = np.bincount(doc_of[exists], minlength=len(counts)) if total else counts * 0
    sh_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(per_doc, out=sh_offsets[1:])
    return (h[exists] >> np.uint64(32)).astype(np.uint32), sh_offsets


def text_shingle_hashes(texts: pa.Array | Sequence[str | None], n: int):
    """Shingle hashes of texts: `shingle_hashes(word_hashes(texts), n)`."""
    return shingle_hashes(word_hashes(texts), n)


# ----------------------------------------------------------- one shingle, pure Python
def shingles(text: str, n: int) -> list[tuple[str, ...]]:
    """The word n-grams of one text, as tuples (the reference for datasketch)."""
    words = [w for w in normalized_words([text])[0].as_py() if w]
    if not words:
        return []
    if len(words) < n:
        return [tuple(words)]
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def shingle_hash(shingle: tuple[str, ...]) -> int:
    """The 32-bit hash of one shingle; equal to what `shingle_hashes` computes for it."""
    h = 0
    for word in shingle:
        h = (h * int(_MULT) + xxhash.xxh64_intdigest(word.encode("utf-8"))) & _M64
    s1, m1, s2, m2, s3 = _FMIX64
    h ^= h >> s1
    h = (h * m1) & _M64
    h ^= h >> s2
    h = (h * m2) & _M64
    h ^= h >> s3
    return h >> 32
