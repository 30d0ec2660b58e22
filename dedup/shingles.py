"""Dedup's shingles: lower-cased words with punctuation deleted, xxh64 word hashes, 32-bit
word n-gram (shingle) hashes, built on the shared n-gram stack (`webtext/ngrams.py`).

A text shorter than the shingle size has one shingle, all its words. `shingle_hash` is the
same function for one shingle in pure Python: hand it to datasketch
(`MinHash(hashfunc=shingle_hash)`) and the signatures agree bit for bit with ours.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import xxhash

from webtext.ngrams import (
    Texts,
    fmix64_int,
    fold_int,
    join_words,
    lowercase_words_punctuation_deleted,
    ngram_hashes,
    word_hashes,
)


def exact_key_texts(texts: Texts) -> pa.Array:
    """What exact dedup hashes: each text's words (punctuation deleted, lower-case) joined
    by single spaces."""
    return join_words(lowercase_words_punctuation_deleted(texts))


def text_shingle_hashes(texts: Texts, n: int) -> tuple[np.ndarray, np.ndarray]:
    """uint32 hashes of every shingle of each text, flat, and per-text offsets: the top 32
    bits of the shared 64-bit n-gram hash."""
    words = lowercase_words_punctuation_deleted(texts)
    hashes, offsets = ngram_hashes(word_hashes(words, "xxh64"), n, short_texts=True)
    return (hashes >> np.uint64(32)).astype(np.uint32), offsets


# ----------------------------------------------------------- one shingle, pure Python
def shingles(text: str, n: int) -> list[tuple[str, ...]]:
    """The word n-grams of one text, as tuples (the reference for datasketch)."""
    words = lowercase_words_punctuation_deleted([text])[0].as_py()
    if not words:
        return []
    if len(words) < n:
        return [tuple(words)]
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def shingle_hash(shingle: tuple[str, ...]) -> int:
    """The 32-bit hash of one shingle; equal to what `text_shingle_hashes` computes for it."""
    h = fold_int([xxhash.xxh64_intdigest(word.encode("utf-8")) for word in shingle])
    return fmix64_int(h) >> 32
