"""Word n-gram hashes: the one stack behind dedup's shingles, the overlap 8-grams and the
clean stage's overlap filters (Wikipedia content, decontamination).

text -> words (one of two normalisations) -> a 64-bit hash per word -> a 64-bit hash per
run of `n` consecutive words of one text (Horner's rule with an odd multiplier, finished with
murmur3's `fmix64`). Everything runs on whole batches: Arrow kernels lower-case, rewrite and
split (C++), each distinct word of a batch is hashed once, and the n-grams are combined with
NumPy. The callers choose the normalisation, the word hash and whether a text shorter than
`n` words has one n-gram (dedup: yes, all its words) or none (overlap); `dedup/shingles.py`
and `webtext/overlap/ngrams.py` fix those choices, and their hash values are stable
(datasketch-compatible signatures, saved Bloom filters).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

MULT = 0x9E3779B97F4A7C15  # odd 64-bit multiplier of the n-gram fold (and of LSH band keys)
_MULT = np.uint64(MULT)
_M64 = (1 << 64) - 1
_FMIX64 = (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33)  # murmur3's finaliser

# punctuation and symbols: every character but letters, digits, combining marks, separators
_PUNCTUATION = r"[^\p{L}\p{N}\p{M}\p{Z}\s]+"
# every run of characters that are not letters or digits
_NON_ALPHANUMERIC = r"[^\p{L}\p{N}]+"

Texts = Sequence[str | None] | pa.Array | pa.ChunkedArray
WordHash = Literal["xxh64", "blake2b8"]


# ------------------------------------------------------------------- normalisations
def _text_array(texts: Texts) -> pa.Array:
    """A string array of the texts, nulls as empty texts."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    arr = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string())
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    return pc.fill_null(arr, "")


def _split(rewritten: pa.Array) -> pa.ListArray:
    """Whitespace-separated words of trimmed texts; a text without words gives an empty list
    (Arrow splits "" into [""])."""
    words = pc.utf8_split_whitespace(rewritten)
    empty = np.asarray(pc.equal(pc.utf8_length(rewritten), 0), dtype=bool)
    if not empty.any():
        return words
    lengths = np.asarray(pc.list_value_length(words), dtype=np.int64)
    flat = pc.list_flatten(words)
    keep = np.ones(len(flat), dtype=bool)
    keep[(np.cumsum(lengths) - lengths)[empty]] = False  # each empty text's one "" word
    lengths[empty] = 0
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), flat.filter(pa.array(keep)))


def lowercase_words_punctuation_deleted(texts: Texts) -> pa.ListArray:
    """Lower-cased whitespace-separated words with punctuation and symbols deleted in place
    ("It's e-mail!" -> ["its", "email"]); letters, digits and combining marks stay. Dedup's
    shingle words: a page that only differs in punctuation is still a duplicate."""
    rewritten = pc.replace_substring_regex(pc.utf8_lower(_text_array(texts)), _PUNCTUATION, "")
    return _split(pc.utf8_trim_whitespace(rewritten))


def lowercase_alphanumeric_runs(texts: Texts) -> pa.ListArray:
    """Lower-cased runs of letters and digits; anything else separates words ("It's e-mail!"
    -> ["it", "s", "e", "mail"]). The GPT-2 paper's normalisation for train/test overlap."""
    lowered = pc.utf8_lower(_text_array(texts))
    rewritten = pc.replace_substring_regex(lowered, pattern=_NON_ALPHANUMERIC, replacement=" ")
    return _split(pc.utf8_trim_whitespace(rewritten))


def join_words(words: pa.ListArray) -> pa.Array:
    """Each text's words joined by single spaces (a text without words gives "")."""
    return pc.binary_join(words, " ")


# ------------------------------------------------------------------------ word hashes
@dataclass(frozen=True)
class WordBatch:
    """Word hashes of a batch of texts, flat, with per-text offsets."""

    hashes: np.ndarray  # uint64 [total words]
    offsets: np.ndarray  # int64 [texts + 1]


def _xxh64(vocab: list[bytes], key: bytes) -> np.ndarray:
    return np.fromiter(map(xxhash.xxh64_intdigest, vocab), dtype=np.uint64, count=len(vocab))


def _blake2b8(vocab: list[bytes], key: bytes) -> np.ndarray:
    digest = b"".join(hashlib.blake2b(w, digest_size=8, key=key).digest() for w in vocab)
    return np.frombuffer(digest, dtype="<u8").astype(np.uint64)


_WORD_HASHES = {"xxh64": _xxh64, "blake2b8": _blake2b8}


def word_hashes(words: pa.ListArray, word_hash: WordHash, key: bytes = b"") -> WordBatch:
    """A 64-bit hash of every word, each distinct word of the batch hashed once: xxh64 of its
    UTF-8 bytes, or blake2b with an 8-byte digest (keyed with `key`) read little-endian."""
    lengths = np.asarray(pc.list_value_length(words), dtype=np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = pc.list_flatten(words)
    if len(flat) == 0:
        return WordBatch(np.zeros(0, np.uint64), offsets)
    encoded = pc.dictionary_encode(flat)
    vocab = encoded.dictionary.cast(pa.binary()).to_pylist()
    table = _WORD_HASHES[word_hash](vocab, key)
    return WordBatch(table[np.asarray(encoded.indices, dtype=np.int64)], offsets)


# -------------------------------------------------------------------------- n-grams
def fmix64(h: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser: a bijection that spreads every input bit to every output."""
    s1, m1, s2, m2, s3 = _FMIX64
    h = h ^ (h >> np.uint64(s1))
    h = h * np.uint64(m1)
    h = h ^ (h >> np.uint64(s2))
    h = h * np.uint64(m2)
    return h ^ (h >> np.uint64(s3))


def fmix64_int(h: int) -> int:
    """`fmix64` of one Python int (for per-item reference functions such as datasketch's)."""
    s1, m1, s2, m2, s3 = _FMIX64
    h ^= h >> s1
    h = (h * m1) & _M64
    h ^= h >> s2
    h = (h * m2) & _M64
    return h ^ (h >> s3)


def fold_int(word_hashes: Sequence[int]) -> int:
    """The unmixed n-gram hash of one run of word hashes, in Python ints (Horner's rule)."""
    h = 0
    for w in word_hashes:
        h = (h * MULT + w) & _M64
    return h


def ngram_hashes(
    batch: WordBatch, n: int, short_texts: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """uint64 hashes of every run of `n` consecutive words of each text, flat in text order
    (repeats kept), and per-text offsets into them.

    A text with fewer than `n` (but some) words has one n-gram of all its words when
    `short_texts`, otherwise none. A text without words has none.
    """
    w, offsets = batch.hashes, batch.offsets
    counts = np.diff(offsets)
    total = len(w)
    padded = np.concatenate([w, np.zeros(n, dtype=np.uint64)])
    h = np.zeros(total, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):  # windows run over text ends; those are dropped below
            h *= _MULT
            h += padded[j : j + total]
        full = counts >= n
        starts = np.ones(total, dtype=bool)
        for j in range(1, n):  # the last n-1 positions of a text start no n-gram
            starts[offsets[1:][full] - j] = False
        for k in range(1, n):  # a text of k < n words: one n-gram of its k words, or none
            texts = np.flatnonzero(counts == k)
            if not short_texts:
                for j in range(k):
                    starts[offsets[texts] + j] = False
                continue
            hk = np.zeros(len(texts), dtype=np.uint64)
            for j in range(k):
                hk = hk * _MULT + w[offsets[texts] + j]
                if j:
                    starts[offsets[texts] + j] = False
            h[offsets[texts]] = hk
        out = fmix64(h[starts])
    per_text = np.where(full, counts - n + 1, ((counts > 0) & short_texts).astype(np.int64))
    ngram_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(per_text, out=ngram_offsets[1:])
    return out, ngram_offsets
