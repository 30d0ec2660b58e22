"""The shared word n-gram stack (webtext/ngrams.py): its two normalisations do what their names
say, and the vectorised n-gram hashes equal a per-n-gram Python computation for both users."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pyarrow as pa
import xxhash

from dedup.shingles import shingle_hash, shingles, text_shingle_hashes
from webtext.ngrams import (
    fmix64,
    fmix64_int,
    fold_int,
    lowercase_alphanumeric_runs,
    lowercase_words_punctuation_deleted,
)
from webtext.overlap.ngrams import ngram_hashes

TEXT = "It's an e-mail, NAÏVE café!\u00a0x²"
CHARS = "abcAB Éé'’-.,!?\t\n\u00a0\u3000\u0301ß中😀٣_" + "xyz " * 4


def test_the_two_normalisations_differ_as_named():
    assert lowercase_words_punctuation_deleted([TEXT, None, " ,; "]).to_pylist() == [
        ["its", "an", "email", "naïve", "café", "x²"],
        [],
        [],
    ]
    assert lowercase_alphanumeric_runs([TEXT, None, " ,; "]).to_pylist() == [
        ["it", "s", "an", "e", "mail", "naïve", "café", "x²"],
        [],
        [],
    ]


def test_fmix64_numpy_and_int_agree():
    x = np.random.default_rng(0).integers(0, 2**64, 1000, dtype=np.uint64)
    assert fmix64(x).tolist() == [fmix64_int(int(v)) for v in x]


def _overlap_reference(text: str, n: int) -> list[int]:
    words = lowercase_alphanumeric_runs([text])[0].as_py()
    keyed = [
        int.from_bytes(
            hashlib.blake2b(w.encode(), digest_size=8, key=b"webtext-overlap").digest(), "little"
        )
        for w in words
    ]
    return [fmix64_int(fold_int(keyed[i : i + n])) for i in range(len(words) - n + 1)]


def test_overlap_ngrams_equal_the_per_ngram_computation():
    rng = random.Random(1)
    texts = ["".join(rng.choice(CHARS) for _ in range(rng.randint(0, 120))) for _ in range(300)]
    for n in (1, 3, 8):
        batch = ngram_hashes(pa.array(texts + [None]), n)
        for i, text in enumerate(texts):
            assert batch.of(i).tolist() == _overlap_reference(text, n), (n, text)
        assert len(batch.of(len(texts))) == 0


def test_dedup_shingles_use_the_same_fold_with_short_texts_whole():
    text = "One two, three!"
    hashes, offsets = text_shingle_hashes([text, "one two three four five six"], 5)
    assert offsets.tolist() == [0, 1, 3]
    assert shingles(text, 5) == [("one", "two", "three")]
    words = [xxhash.xxh64_intdigest(w.encode()) for w in ("one", "two", "three")]
    assert int(hashes[0]) == shingle_hash(shingles(text, 5)[0]) == fmix64_int(fold_int(words)) >> 32
