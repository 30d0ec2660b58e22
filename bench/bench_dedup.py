"""Dedup benchmark: signatures vs datasketch, memory per document, accuracy, stage speed.

    .venv/bin/python bench/bench_dedup.py [--docs 600] [--mem-docs 10000] [--no-ray]

1. Signature throughput, side by side on the same documents: ours (text -> signatures,
   tokenising and shingling included) vs datasketch `MinHash.update_batch` given the
   shingles already built (with our shingle hash, so signatures are identical and checked,
   and with datasketch's default sha1 hash).
2. Memory: every task of the distributed path runs in a forked process at two corpus sizes
   (one shard, so shard tasks see every document); the growth of peak RSS between them per
   added document is the per-document cost of each step.
3. Accuracy on pairs of shingle sets with planted Jaccard similarity.
4. The whole stage, in-process and on Ray, on a generated corpus with duplicates.
Writes bench/results/dedup.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datasketch import MinHash  # noqa: E402

from dedup.lsh import band_keys, bucket_pairs, estimated_jaccard  # noqa: E402
from dedup.minhash import MinHashParams, signatures, text_signatures  # noqa: E402
from dedup.shingles import shingle_hash  # noqa: E402
from tests.synthetic_dedup import planted_pairs, random_corpus, write_cleaned  # noqa: E402

_WORD = re.compile(r"[^\w\s]+")


def zipf_texts(n: int, seed: int = 0, mean_words: int = 800) -> list[str]:
    """English-like documents: Zipf-distributed words from a 50k vocabulary, with commas."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"{'w' * (1 + i % 3)}{i}" for i in range(50_000)])
    weights = 1 / np.arange(1, len(vocab) + 1) ** 1.05
    weights /= weights.sum()
    lengths = np.clip(rng.lognormal(np.log(mean_words), 0.6, n).astype(int), 20, 20_000)
    out = []
    for length in lengths:
        words = vocab[rng.choice(len(vocab), size=length, p=weights)].tolist()
        out.append(", ".join(" ".join(words[i : i + 9]) for i in range(0, length, 9)) + ".")
    return out


def py_shingles(text: str, n: int = 5) -> list[tuple[str, ...]]:
    """What a datasketch user writes: lower, strip punctuation, split, zip n-grams."""
    words = _WORD.sub("", text.lower()).split()
    if len(words) < n:
        return [tuple(words)] if words else []
    return list(zip(*(words[i:] for i in range(n)), strict=False))


def bench_throughput(n_docs: int, repeats: int = 3) -> dict:
    """Best of `repeats` interleaved runs of each contender (the machine is shared)."""
    texts = zipf_texts(n_docs)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    params = MinHashParams()
    text_signatures(texts[:50], params)  # warm up (regex compile, permutations)

    def ours() -> np.ndarray:
        return np.concatenate(
            [text_signatures(texts[i : i + 1024], params)[0] for i in range(0, n_docs, 1024)]
        )

    def shingling() -> list:
        return [py_shingles(x) for x in texts]

    shingled = shingling()
    joined = [[" ".join(s).encode() for s in sh] for sh in shingled]

    def same_hash() -> np.ndarray:
        out = []
        for sh in shingled:
            m = MinHash(num_perm=128, seed=1, hashfunc=shingle_hash)
            m.update_batch(sh)
            out.append(m.hashvalues)
        return np.stack(out)

    def sha1() -> None:
        for sh in joined:
            MinHash(num_perm=128, seed=1).update_batch(sh)

    best = {name: float("inf") for name in ("ours", "shingling", "same", "sha1")}
    results = {}
    for _ in range(repeats):
        for name, fn in (("ours", ours), ("shingling", shingling), ("same", same_hash),
                         ("sha1", sha1)):  # fmt: skip
            t = time.perf_counter()
            results[name] = fn()
            best[name] = min(best[name], time.perf_counter() - t)
    identical = bool(np.array_equal(results["same"], results["ours"]))
    t_ours, t_shingle, t_same, t_sha1 = (best[k] for k in ("ours", "shingling", "same", "sha1"))
    return {
        "docs": n_docs,
        "mb": round(mb, 2),
        "shingles": sum(len(s) for s in shingled),
        "repeats_best_of": repeats,
        "ours_docs_per_s": round(n_docs / t_ours, 1),
        "ours_mb_per_s": round(mb / t_ours, 2),
        "datasketch_same_hash_docs_per_s": round(n_docs / t_same, 1),
        "datasketch_sha1_docs_per_s": round(n_docs / t_sha1, 1),
        "python_shingling_docs_per_s": round(n_docs / t_shingle, 1),
        "ratio_vs_update_batch_same_hash": round(t_same / t_ours, 2),
        "ratio_vs_update_batch_sha1": round(t_sha1 / t_ours, 2),
        "ratio_vs_shingling_plus_update_batch_sha1": round((t_sha1 + t_shingle) / t_ours, 2),
        "signatures_identical_to_datasketch": identical,
    }


# ------------------------------------------------------------------------ memory
def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _child(queue, fn, args, kwargs) -> None:
    import tracemalloc

    import pyarrow as pa

    start = _rss_kb("VmRSS")
    tracemalloc.start()
    fn(*args, **kwargs)
    python_peak = tracemalloc.get_traced_memory()[1]  # Python objects and NumPy arrays
    arrow_peak = pa.default_memory_pool().max_memory()  # Arrow buffers
    queue.put({"live": python_peak + arrow_peak, "rss": (_rss_kb("VmHWM") - start) * 1024})


def forked_peak(fn, *args, **kwargs) -> dict[str, int]:
    """Peak memory of `fn(*args, **kwargs)` in a fresh (spawned) process, in bytes.

    `live`: the peak of bytes held, Python and NumPy (tracemalloc) plus Arrow's pool;
    `rss`: the growth of the resident set, which adds what allocators cache.
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, fn, args, kwargs))
    proc.start()
    growth = queue.get()
    proc.join()
    return growth


def memory_run(n_docs: int, folder: Path) -> dict[str, int]:
    from dedup.stage import (
        cluster,
        edge_task,
        provenance_task,
        signature_task,
        write_task,
    )
    from pipelines.dedup import input_shards, minhash_params
    from webtext.config import DedupConfig
    from webtext.paths import RunPaths

    # one row group per shard, as the clean stage writes them: reads must stream
    write_cleaned(folder, [random_corpus(n_docs, seed=n_docs)], row_group_size=1 << 30)
    shards = input_shards(RunPaths.of(folder))
    cfg = DedupConfig()
    params = minhash_params(cfg)
    work = str(folder / "work")
    peaks = {}
    (shard,) = shards
    peaks["signatures"] = forked_peak(signature_task, shard, work=work, params=params,
                                      num_buckets=cfg.num_buckets, batch_size=cfg.batch_size)  # fmt: skip
    sizes = [
        sum(f.stat().st_size for f in (Path(work) / "buckets" / f"{p:05d}").iterdir())
        for p in range(cfg.num_buckets)
    ]
    biggest = int(np.argmax(sizes))  # the partition with the most records
    peaks["edges"] = forked_peak(edge_task, biggest, work=work, shards=shards, params=params)
    for p in range(cfg.num_buckets):
        edge_task(p, work=work, shards=shards, params=params)
    peaks["cluster (driver)"] = forked_peak(cluster, work, shards, cfg.num_buckets)
    peaks["provenance"] = forked_peak(provenance_task, shard, work=work, shards=shards)
    peaks["write"] = forked_peak(write_task, shard, work=work, out_dir=str(folder / "documents"),
                                 batch_size=cfg.batch_size)  # fmt: skip
    return peaks


def bench_memory(small: int) -> dict:
    large = 3 * small
    with tempfile.TemporaryDirectory() as tmp:
        a = memory_run(small, Path(tmp) / "a")
        b = memory_run(large, Path(tmp) / "b")
    live_per_doc = {k: round(v["live"] / large, 1) for k, v in b.items()}
    return {
        "docs": [small, large],
        "shards": 1,
        "live_peak_bytes_per_doc_at_large": live_per_doc,
        "live_growth_bytes_per_added_doc": {
            k: round((b[k]["live"] - a[k]["live"]) / (large - small), 1) for k in a
        },
        "rss_growth_bytes_per_doc_at_large": {k: round(v["rss"] / large, 1) for k, v in b.items()},
        "max_live_bytes_per_doc": max(live_per_doc.values()),
        "peaks": {"small": a, "large": b},
        "signature_file_bytes_per_doc": 128 * 4,
    }


# ---------------------------------------------------------------------- accuracy
def bench_accuracy(pairs_per_bin: int) -> dict:
    from pipelines.dedup import minhash_params
    from webtext.config import DedupConfig

    params = minhash_params(DedupConfig())
    edges = np.round(np.arange(0.3, 1.0001, 0.05), 2)
    rng = np.random.default_rng(11)
    js = np.concatenate([rng.uniform(lo, hi, pairs_per_bin) for lo, hi in zip(edges[:-1],
                         edges[1:], strict=True)])  # fmt: skip
    hashes, offsets = planted_pairs(js, union=300, seed=11)
    t = time.perf_counter()
    sig = signatures(hashes, offsets, params)
    gids = np.repeat(np.arange(len(offsets) - 1), params.bands)
    cand = bucket_pairs(band_keys(sig, params).ravel(), gids)
    merged = cand[estimated_jaccard(sig[cand[:, 0]], sig[cand[:, 1]]) >= params.threshold]
    seconds = time.perf_counter() - t
    found = {tuple(p) for p in merged.tolist()}
    hit = np.array([(2 * k, 2 * k + 1) in found for k in range(len(js))])
    by_bin = {
        f"{lo:.2f}-{hi:.2f}": round(float(hit[(js >= lo) & (js < hi)].mean()), 4)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    }
    planted = {(2 * k, 2 * k + 1) for k in range(len(js))}
    return {
        "params": str(params),
        "pairs": len(js),
        "recall_j_ge_0.9": round(float(hit[js >= 0.9].mean()), 4),
        "merged_j_le_0.6": round(float(hit[js <= 0.6].mean()), 4),
        "merged_share_by_jaccard": by_bin,
        "cross_pair_merges": len(found - planted),
        "seconds": round(seconds, 2),
    }


# ------------------------------------------------------------------------- stage
def bench_stage(n_docs: int, use_ray: bool) -> dict:
    from pipelines import dedup as stage
    from webtext.config import build_config

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        shards = [random_corpus(n_docs // 4, seed=s) for s in range(4)]
        modes = ["local", "ray"] if use_ray else ["local"]
        files = {}
        for mode in modes:
            run_dir = Path(tmp) / mode
            write_cleaned(run_dir, shards)
            cfg = build_config({"run_dir": str(run_dir), "ray": {"num_cpus": 2}},
                               [f"dedup.execution={mode}"])  # fmt: skip
            stats = stage.run(cfg)
            out[mode] = {
                "seconds": stats["wall_seconds"],
                "docs_per_s": round(stats["docs_in"] / stats["wall_seconds"], 1),
                "docs_in": stats["docs_in"],
                "docs_out": stats["docs_out"],
                "exact": stats["exact_duplicates"],
                "near": stats["near_duplicates"],
            }
            files[mode] = [p.read_bytes() for p in sorted((run_dir / "documents").iterdir())]
        if use_ray:
            out["identical_bytes"] = files["local"] == files["ray"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=600, help="documents for throughput")
    parser.add_argument("--mem-docs", type=int, default=10_000, help="smaller memory corpus")
    parser.add_argument("--pairs-per-bin", type=int, default=1000)
    parser.add_argument("--stage-docs", type=int, default=8000)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    results = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()}}
    steps = [
        ("throughput", lambda: bench_throughput(args.docs)),
        ("accuracy", lambda: bench_accuracy(args.pairs_per_bin)),
        ("memory", lambda: bench_memory(args.mem_docs)),
        ("stage", lambda: bench_stage(args.stage_docs, not args.no_ray)),
    ]
    for name, fn in steps:
        t = time.perf_counter()
        results[name] = fn()
        print(f"== {name} ({time.perf_counter() - t:.1f}s)")
        print(json.dumps(results[name], indent=2))
    out = ROOT / "bench" / "results" / "dedup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
