"""Bloom-filter 8-gram overlap: build and query throughput vs a Python set, bytes per n-gram.

Run: .venv/bin/python bench/bench_overlap.py [--mb 8]
Writes bench/results/overlap.json. Compares, on the same generated text and the same n-grams:
- hashing text -> 8-gram hashes (our normalisation + hashing) vs the plain-Python way
  (regex words, tuple n-grams, a set of strings);
- our NumPy Bloom filter (FPR 1e-8) vs a Python set of the 64-bit hashes vs rbloom;
- the whole Ray build of a run's filter (documents/ -> Bloom folder) on this machine;
and extrapolates memory and time to a 40 GB WebText-sized corpus.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from webtext.config import OverlapConfig, RayConfig
from webtext.overlap.bloom import BloomFilter, optimal_bits
from webtext.overlap.ngrams import ngram_hashes

N = 8
FPR = 1e-8
CORPUS_WORDS = 7e9  # ~40 GB of English web text (OpenWebText: 9B tokens, ~7B words)
CORPUS_BYTES = 40e9


def make_texts(mb: float, seed: int = 0) -> list[str]:
    """Zipf-distributed words in ~1,100-word documents with punctuation and capitals."""
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    vocab = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 10)))
        for _ in range(50_000)
    ]
    texts, size = [], 0
    while size < mb * 1e6:
        ids = np.minimum(nprng.zipf(1.2, 1100), len(vocab)) - 1
        words = [vocab[i] for i in ids]
        for j in range(0, len(words), 17):
            words[j] = words[j].capitalize() + ","
        text = " ".join(words) + "."
        texts.append(text)
        size += len(text)
    return texts


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def python_ngrams(texts: list[str]) -> set[str]:
    word_re = re.compile(r"[^\W_]+")
    grams: set[str] = set()
    for text in texts:
        words = word_re.findall(text.lower())
        grams.update(" ".join(words[i : i + N]) for i in range(len(words) - N + 1))
    return grams


def set_memory(hashes: np.ndarray) -> int:
    """Bytes held by a set of the hashes as Python ints (table + int objects)."""
    tracemalloc.start()
    s = set(hashes.tolist())
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del s
    return size


def ray_build(texts: list[str], workdir: Path) -> tuple[float, dict]:
    import pyarrow as pa
    import ray

    from pipelines.overlap import build_run_index
    from webtext.io import shard_name, write_parquet_atomic

    per_shard = max(1, len(texts) // 4)  # 4 document shards, 2 CPUs
    for shard, start in enumerate(range(0, len(texts), per_shard)):
        chunk = texts[start : start + per_shard]
        ids = [f"{start + i:016x}" for i in range(len(chunk))]
        table = pa.table({"id": ids, "text": chunk})
        write_parquet_atomic(workdir / "documents" / shard_name(shard), table)

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        (bloom, seconds) = timed(
            lambda: build_run_index(workdir, OverlapConfig(), RayConfig(), rebuild=True)
        )
    finally:
        ray.shutdown()
    return seconds, bloom.meta


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=8.0, help="MB of generated text")
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    texts = make_texts(args.mb)
    nbytes = sum(len(t) for t in texts)
    words = sum(len(t.split()) for t in texts)
    res: dict = {"text_mb": nbytes / 1e6, "documents": len(texts), "words": words, "fpr": FPR}

    batch, t_hash = timed(
        lambda: [ngram_hashes(texts[i : i + 1024], N) for i in range(0, len(texts), 1024)]
    )
    hashes = np.concatenate([b.hashes for b in batch])
    distinct = np.unique(hashes)
    _, t_py = timed(lambda: python_ngrams(texts))
    res["ngrams"], res["distinct_ngrams"] = int(len(hashes)), int(len(distinct))
    res["hash_mb_per_s"] = nbytes / 1e6 / t_hash
    res["hash_ngrams_per_s"] = len(hashes) / t_hash
    res["python_string_set_ngrams_per_s"] = len(hashes) / t_py

    bloom = BloomFilter.for_items(len(distinct), FPR)
    _, t_add = timed(lambda: bloom.add(distinct))
    probe = np.concatenate(
        [distinct[: len(distinct) // 2], distinct[: len(distinct) // 2] + np.uint64(1)]
    )
    found, t_query = timed(lambda: bloom.contains(probe))
    res["bloom_bytes"] = bloom.nbytes
    res["bloom_bytes_per_ngram"] = bloom.nbytes / len(distinct)
    res["bloom_k"] = bloom.k
    res["bloom_build_ngrams_per_s"] = len(distinct) / t_add
    res["bloom_query_ngrams_per_s"] = len(probe) / t_query
    res["bloom_false_positives"] = int(found[len(distinct) // 2 :].sum())

    as_int = distinct.tolist()
    pyset, t_set = timed(lambda: set(as_int))
    probe_list = probe.tolist()
    _, t_setq = timed(lambda: [x in pyset for x in probe_list])
    res["set_build_ngrams_per_s"] = len(as_int) / t_set
    res["set_query_ngrams_per_s"] = len(probe_list) / t_setq
    res["set_bytes_per_ngram"] = set_memory(distinct) / len(distinct)

    try:
        from rbloom import Bloom

        rb = Bloom(len(distinct), FPR, hash_func=lambda x: x >> 1)  # i128 range; hash is mixed
        _, t_rb = timed(lambda: rb.update(as_int))
        _, t_rbq = timed(lambda: [x in rb for x in probe_list])
        res["rbloom_build_ngrams_per_s"] = len(as_int) / t_rb
        res["rbloom_query_ngrams_per_s"] = len(probe_list) / t_rbq
        res["rbloom_bytes_per_ngram"] = rb.size_in_bits / 8 / len(as_int)
    except ImportError:
        pass

    if not args.no_ray:
        with tempfile.TemporaryDirectory() as tmp:
            seconds, meta = ray_build(texts, Path(tmp))
        res["ray_build_seconds_2cpu"] = seconds
        res["ray_build_ngrams_per_s_2cpu"] = meta["ngrams"] / seconds
        res["ray_build_mb_per_s_2cpu"] = nbytes / 1e6 / seconds

    # 40 GB corpus: every word starts an 8-gram; size for all of them (distinct <= total)
    bytes_40gb = optimal_bits(int(CORPUS_WORDS), FPR) / 8
    per_core_s = (
        CORPUS_BYTES / 1e6 / res["hash_mb_per_s"] + CORPUS_WORDS / res["bloom_build_ngrams_per_s"]
    )
    res["extrapolated_40gb"] = {
        "ngrams": CORPUS_WORDS,
        "bloom_gb": bytes_40gb / 1e9,
        "python_set_gb": CORPUS_WORDS * res["set_bytes_per_ngram"] / 1e9,
        "core_hours": per_core_s / 3600,
        "hours_on_16_cores": per_core_s / 3600 / 16,
        "hash_files_gb": CORPUS_WORDS * 8 / 1e9,
    }

    ratio = {
        "bloom_vs_set_build": res["bloom_build_ngrams_per_s"] / res["set_build_ngrams_per_s"],
        "bloom_vs_set_query": res["bloom_query_ngrams_per_s"] / res["set_query_ngrams_per_s"],
        "set_vs_bloom_memory": res["set_bytes_per_ngram"] / res["bloom_bytes_per_ngram"],
        "hashing_vs_python_string_set": res["hash_ngrams_per_s"]
        / res["python_string_set_ngrams_per_s"],
    }
    res["ratios"] = ratio
    for key, value in res.items():
        if key not in {"ratios", "extrapolated_40gb"}:
            print(f"{key:36s} {value:,.3f}" if isinstance(value, float) else f"{key:36s} {value:,}")
    print("ratios:", json.dumps({k: round(v, 2) for k, v in ratio.items()}))
    print(
        "40 GB corpus:", json.dumps({k: round(v, 2) for k, v in res["extrapolated_40gb"].items()})
    )
    out = Path(__file__).parent / "results" / "overlap.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
