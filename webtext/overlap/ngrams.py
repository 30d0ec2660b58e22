"""The overlap 8-grams (GPT-2 paper, section 4), on the shared n-gram stack (`webtext/ngrams.py`):
lower-case runs of letters and digits as words, blake2b word hashes (8 bytes, keyed), one
64-bit hash per run of `n` words (texts with fewer than `n` words have none). The scheme is
fixed and versioned (`HASH_SCHEME`), so Bloom filters saved by one process are valid in any
other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from webtext.ngrams import Texts, join_words, lowercase_alphanumeric_runs, word_hashes
from webtext.ngrams import ngram_hashes as _ngram_hashes

HASH_SCHEME = "v1:blake2b8-words/poly-0x9E3779B97F4A7C15/fmix64"
_WORD_KEY = b"webtext-overlap"


def normalize(text: str) -> str:
    """The normalised form of one text: lower-case alphanumeric words joined by single spaces."""
    return join_words(lowercase_alphanumeric_runs([text]))[0].as_py()


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


def ngram_hashes(texts: Texts, n: int = 8) -> NgramBatch:
    """Hashes of every word n-gram of every text (texts with fewer than n words have none)."""
    words = word_hashes(lowercase_alphanumeric_runs(texts), "blake2b8", key=_WORD_KEY)
    return NgramBatch(*_ngram_hashes(words, n))
