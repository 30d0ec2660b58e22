"""Dedup building blocks: shingles, datasketch-exact signatures, LSH, union-find, accuracy."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from dedup.lsh import band_keys, bucket_pairs, estimated_jaccard
from dedup.minhash import MinHashParams, optimal_bands, signatures, text_signatures
from dedup.shingles import exact_key_texts, shingle_hash, shingles, text_shingle_hashes
from dedup.unionfind import UnionFind, choose_survivors
from tests.synthetic_dedup import article, edit, planted_pairs

TEXTS = [
    "The quick brown fox jumps over the lazy dog. " * 5,
    "Short text",
    "",
    None,
    "   Ünïcödé  café, naïve — résumé!  中文 字符 и кириллица 42 3.14 ",
    "one two three four five",
    "single",
    "!!! ... ---",
    "three words here",
    "a b c d",
    "a b c d e f",
    "Punctuation: isn't removed? (it is) -- really; yes.",
]


def test_normalised_text_folds_case_whitespace_and_punctuation():
    got = exact_key_texts(["Hello,   World!\n\tIt's  ME.", "hello world its me", "  "])
    assert got.to_pylist() == ["hello world its me", "hello world its me", ""]


def test_vectorised_shingle_hashes_equal_the_python_function():
    rng = random.Random(0)
    texts = TEXTS + [" ".join(rng.choice("abcdefg") for _ in range(k)) for k in range(14)]
    hashes, offsets = text_shingle_hashes(texts, 5)
    for i, text in enumerate(texts):
        expected = [shingle_hash(s) for s in shingles(text or "", 5)]
        assert hashes[offsets[i] : offsets[i + 1]].tolist() == expected
    # a short document is one shingle of all its words; an empty one has none
    assert shingles("Short text", 5) == [("short", "text")]
    assert offsets[3] - offsets[2] == 0


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize(("num_perm", "seed"), [(128, 1), (64, 42)])
def test_signatures_equal_datasketch_bit_for_bit(scheme, num_perm, seed):
    rng = random.Random(seed)
    texts = [*TEXTS, *(article(rng, rng.randint(5, 400)) for _ in range(30))]
    params = MinHashParams(num_perm=num_perm, seed=seed, bands=8, rows=8, scheme=scheme)
    sigs, has = text_signatures(texts, params)
    for text, sig, nonempty in zip(texts, sigs, has, strict=True):
        ref = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash, scheme=scheme)
        ref.update_batch(shingles(text or "", 5))
        assert np.array_equal(ref.hashvalues.astype(np.uint64), sig.astype(np.uint64))
        assert nonempty == bool(shingles(text or "", 5))
    # and the estimated Jaccard is datasketch's
    near = edit(rng, texts[-1], 3)
    a = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash, scheme=scheme)
    b = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash, scheme=scheme)
    a.update_batch(shingles(texts[-1], 5))
    b.update_batch(shingles(near, 5))
    ours = text_signatures([texts[-1], near], params)[0]
    assert estimated_jaccard(ours[:1], ours[1:])[0] == a.jaccard(b) < 1


def test_bands_rows_minimise_the_same_error_as_datasketch():
    assert optimal_bands(0.8, 128) == _optimal_param(0.8, 128, 0.5, 0.5) == (9, 13)
    assert optimal_bands(0.8, 128, 0.2, 0.8) == _optimal_param(0.8, 128, 0.2, 0.8)


def test_band_keys_separate_bands_and_match_equal_bands():
    params = MinHashParams(num_perm=16, bands=4, rows=4)
    sig = np.arange(32, dtype=np.uint32).reshape(2, 16)
    sig[1, 4:8] = sig[0, 4:8]  # only band 1 shared
    keys = band_keys(sig, params)
    assert (keys[0] == keys[1]).tolist() == [False, True, False, False]
    same = np.zeros((1, 16), dtype=np.uint32)
    assert len(set(band_keys(same, params)[0].tolist())) == 4  # band index is in the key


def test_bucket_pairs_all_pairs_in_small_buckets_and_stars_in_large():
    keys = np.array([5, 5, 5, 9, 7, 9], dtype=np.uint64)
    ids = np.array([30, 10, 20, 40, 50, 60])
    assert bucket_pairs(keys, ids).tolist() == [[10, 20], [10, 30], [20, 30], [40, 60]]
    big = bucket_pairs(np.zeros(100, np.uint64), np.arange(100, 0, -1))
    assert len(big) == 99 and set(big[:, 0].tolist()) == {1}
    assert bucket_pairs(np.zeros(1, np.uint64), np.zeros(1, np.int64)).shape == (0, 2)


def test_union_find_and_survivor_rule_are_order_independent():
    edges = np.array([[5, 3], [3, 9], [20, 21], [9, 5]])
    parts = []
    for order in (edges, edges[::-1]):
        uf = UnionFind()
        uf.union_edges(order)
        parts.append(uf.components())
    assert np.array_equal(parts[0][0], parts[1][0]) and np.array_equal(parts[0][1], parts[1][1])
    ids, roots = parts[0]
    assert ids.tolist() == [3, 5, 9, 20, 21] and roots.tolist() == [3, 3, 3, 20, 20]
    # highest score wins; tie -> earliest created; tie -> smallest key
    score = np.array([10, 50, 50, 7, 7])
    created = np.array([1, 9, 5, 3, 3])
    key = np.array([1, 2, 3, 99, 98], dtype=np.uint64)
    assert choose_survivors(ids, roots, score, created, key).tolist() == [9, 9, 9, 21, 21]


def test_generated_jaccard_set_meets_recall_and_false_merge_targets():
    """Planted J >= 0.9 pairs are merged (>= 98 %), J <= 0.6 pairs almost never (<= 1 %)."""
    rng = np.random.default_rng(7)
    high, low = rng.uniform(0.9, 1.0, 250), rng.uniform(0.3, 0.6, 250)
    hashes, offsets = planted_pairs(np.concatenate([high, low]), union=300, seed=7)
    params = MinHashParams(bands=12, rows=10)  # the default config's choice for 0.8
    sig = signatures(hashes, offsets, params)
    keys = band_keys(sig, params)
    gids = np.repeat(np.arange(len(offsets) - 1), params.bands)
    pairs = bucket_pairs(keys.ravel(), gids)
    merged = pairs[estimated_jaccard(sig[pairs[:, 0]], sig[pairs[:, 1]]) >= params.threshold]
    found = {tuple(p) for p in merged.tolist()}
    hit = np.array([(2 * k, 2 * k + 1) in found for k in range(500)])
    assert hit[:250].mean() >= 0.98
    assert hit[250:].mean() <= 0.01
    assert found <= {(2 * k, 2 * k + 1) for k in range(500)}  # no cross-pair merges
