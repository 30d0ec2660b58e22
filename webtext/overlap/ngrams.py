"""GPT-2 paper normalisation (lower-case alphanumeric words, single spaces) and 8-gram hashes.

Everything runs in Arrow compute kernels and NumPy over whole batches of documents:
lower-case, replace every run of non-alphanumeric characters by a space, split, dictionary
encode the words, hash each distinct word once (blake2b, 8 bytes), then combine `n`
consecutive word hashes into one 64-bit n-gram hash (Horner polynomial with an odd
multiplier, finished with the murmur3 64-bit mixer). The scheme is fixed and versioned
(`HASH_SCHEME`), so Bloom filters saved by one process are valid in any other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HASH_SCHEME = "v1:blake2b8-words/poly-0x9E3779B97F4A7C15/fmix64"
_NON_ALNUM = r"[^\p{L}\p{N}]+"
_POLY = np.uint64(0x9E3779B97F4A7C15)
_WORD_KEY = b"webtext-overlap"


def fmix64(x: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser: a bijection that spreads every input bit to every output."""
    x = x.copy()
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x


def normalized_words(texts: Sequence[str | None] | pa.Array) -> pa.ListArray:
    """One list of normalised words per text (None counts as empty)."""
    arr = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    arr = pc.fill_null(arr, "")
    arr = pc.utf8_lower(arr)
    arr = pc.replace_substring_regex(arr, pattern=_NON_ALNUM, replacement=" ")
    arr = pc.utf8_trim_whitespace(arr)
    words = pc.utf8_split_whitespace(arr)
    # an empty text splits into [""]: make it an empty list
    lengths = pc.list_value_length(words).to_numpy(zero_copy_only=False)
    flat = words.flatten()
    if len(flat) and (pc.sum(pc.equal(flat, "")).as_py() or 0):
        keep = pc.not_equal(flat, "")
        doc_of = np.repeat(np.arange(len(words)), lengths)
        kept_doc = doc_of[keep.to_numpy(zero_copy_only=False)]
        counts = np.bincount(kept_doc, minlength=len(words))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        words = pa.ListArray.from_arrays(pa.array(offsets), flat.filter(keep))
    return words


def normalize(text: str) -> str:
    """The normalised form of one text: lower-case alphanumeric words joined by single spaces."""
    return " ".join(normalized_words([text])[0].as_py())


def word_hashes(words: pa.Array) -> np.ndarray:
    """64-bit hash of each word; each distinct word is hashed once."""
    if len(words) == 0:
        return np.zeros(0, np.uint64)
    encoded = words.dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    digest = b"".join(
        hashlib.blake2b(w.encode("utf-8"), digest_size=8, key=_WORD_KEY).digest() for w in distinct
    )
    table = np.frombuffer(digest, dtype="<u8").astype(np.uint64)
    return table[encoded.indices.to_numpy(zero_copy_only=False)]


@dataclass
class NgramBatch:
    """The n-gram hashes of a batch of texts: `hashes[offsets[i]:offsets[i+1]]` is text i's."""

    hashes: np.ndarray  # uint64, in text order, repeats kept
    offsets: np.ndarray  # int64, len(texts) + 1

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def of(self, i: int) -> np.ndarray:
        return self.hashes[self.offsets[i] : self.offsets[i + 1]]


def ngram_hashes(texts: Sequence[str | None] | pa.Array, n: int = 8) -> NgramBatch:
    """Hashes of every word n-gram of every text (texts with fewer than n words have none)."""
    words = normalized_words(texts)
    lengths = pc.list_value_length(words).to_numpy(zero_copy_only=False).astype(np.int64)
    counts = np.maximum(lengths - n + 1, 0)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    flat = words.flatten()
    total = len(flat)
    if offsets[-1] == 0:
        return NgramBatch(np.zeros(0, np.uint64), offsets)
    wh = word_hashes(flat)
    span = total - n + 1
    h = wh[:span].copy()
    for k in range(1, n):
        h *= _POLY
        h += wh[k : k + span]
    doc_of = np.repeat(np.arange(len(lengths)), lengths)
    valid = doc_of[:span] == doc_of[n - 1 :]
    return NgramBatch(fmix64(h[valid]), offsets)
