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


def _stripped(texts: pa.Array | Sequence[str | None]) -> pa.Array:
    arr = pa.array(texts, pa.string()) if not isinstance(texts, pa.Array) else texts
    arr = pc.fill_null(arr.cast(pa.string()), "")
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.utf8_lower(arr), _PUNCT, ""))


def normalized_words(texts: pa.Array | Sequence[str | None]) -> pa.ListArray:
    """Case-folded (lower-case) words with punctuation removed, one list per text.

    A text without words gives `[""]` (Arrow's split); `word_hashes` drops that word.
    """
    return pc.utf8_split_whitespace(_stripped(texts))


def normalized_texts(texts: pa.Array | Sequence[str | None]) -> pa.Array:
    """The normalised text exact dedup hashes: the words joined by single spaces."""
    return pc.binary_join(normalized_words(texts), " ")


def word_hashes(texts: pa.Array | Sequence[str | None]) -> WordBatch:
    """xxh64 of every word, each distinct word of the batch hashed once."""
    stripped = _stripped(texts)
    words = pc.utf8_split_whitespace(stripped)
    lengths = np.asarray(pc.list_value_length(words), dtype=np.int64)
    flat = pc.list_flatten(words)
    empty = np.asarray(pc.equal(pc.utf8_length(stripped), 0), dtype=bool)
    if empty.any():  # each empty text split into [""]: drop that word
        keep = np.ones(len(flat), dtype=bool)
        keep[(np.cumsum(lengths) - lengths)[empty]] = False
        flat = flat.filter(pa.array(keep))
        lengths[empty] = 0
    encoded = pc.dictionary_encode(flat)
    vocab = encoded.dictionary.cast(pa.binary()).to_pylist()
    table = np.fromiter(map(xxhash.xxh64_intdigest, vocab), dtype=np.uint64, count=len(vocab))
    indices = np.asarray(encoded.indices, dtype=np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
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
    counts = np.diff(offsets)
    total = len(w)
    padded = np.concatenate([w, np.zeros(n, dtype=np.uint64)])
    h = np.zeros(total, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):  # windows run over document ends; those are dropped below
            h *= _MULT
            h += padded[j : j + total]
        full = counts >= n
        exists = np.ones(total, dtype=bool)
        for j in range(1, n):  # the last n-1 positions of a document start no shingle
            exists[offsets[1:][full] - j] = False
        for k in range(1, n):  # a document of k < n words: one shingle of its k words
            docs = np.flatnonzero(counts == k)
            hk = np.zeros(len(docs), dtype=np.uint64)
            for j in range(k):
                hk = hk * _MULT + w[offsets[docs] + j]
                if j:
                    exists[offsets[docs] + j] = False
            h[offsets[docs]] = hk
        out = _fmix64(h[exists])
    per_doc = np.where(full, counts - n + 1, (counts > 0).astype(np.int64))
    sh_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(per_doc, out=sh_offsets[1:])
    return (out >> np.uint64(32)).astype(np.uint32), sh_offsets


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
