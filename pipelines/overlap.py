"""The overlap index's Ray build: the Bloom filter of a run's training n-grams.

The tasks are plain library functions (`webtext.overlap.index`); this driver lists the
document shards, maps them on Ray and writes the manifest. `webtext overlap` reaches it
through the stage table (`webtext.registry`, entry point `overlap_index`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines._ray import map_shards, ray_session
from webtext.config import OverlapConfig, RayConfig
from webtext.io import shard_name, write_parquet_atomic
from webtext.overlap.bloom import (
    PartitionedBloom,
    choose_partition_bits,
    optimal_k,
    write_manifest,
)
from webtext.overlap.index import (
    hash_document_shard,
    index_key,
    partition_task,
    run_index_dir,
    source_fingerprint,
)
from webtext.paths import RunPaths
from webtext.progress import log


def build_run_index(
    run_dir: str | Path,
    overlap: OverlapConfig,
    ray: RayConfig | None = None,
    rebuild: bool = False,
) -> PartitionedBloom:
    """The Bloom filter of every n-gram of the run's training documents (built or reused)."""
    paths = RunPaths.of(run_dir)
    doc_files = sorted(paths.documents.glob("*.parquet"))
    if not doc_files:
        raise FileNotFoundError(f"no documents in {paths.documents}: run `webtext dedup` first")
    folder = run_index_dir(run_dir, overlap)
    fingerprint = source_fingerprint(paths)
    if not rebuild and PartitionedBloom.is_complete(folder):
        bloom = PartitionedBloom.load(folder)
        if bloom.meta.get("source_fingerprint") == fingerprint:
            log.info("overlap: reusing the Bloom filter in %s", folder)
            return bloom
        log.info("overlap: documents or shards changed since %s was built; rebuilding", folder)
    if folder.exists():
        shutil.rmtree(folder)
    work = paths.overlap / "_work" / f"{index_key(overlap)}-{fingerprint}"
    work.mkdir(parents=True, exist_ok=True)
    items = [(str(f), str(work / shard_name(i, "", "hashes"))) for i, f in enumerate(doc_files)]
    with ray_session(ray or RayConfig()):
        shard_stats = map_shards(
            hash_document_shard,
            items,
            desc="overlap: hashing train n-grams",
            ngram=overlap.ngram,
            shards_dir=str(paths.shards),
        )
        hash_files = [stem + ".npy" for _, stem in items]
        upper = sum(s["distinct"] for s in shard_stats)
        bits = choose_partition_bits(upper, overlap.partition_bytes)
        folder.mkdir(parents=True, exist_ok=True)
        parts = map_shards(
            partition_task,
            list(range(1 << bits)),
            desc="overlap: building Bloom partitions",
            unit="partition",
            hash_files=hash_files,
            partition_bits=bits,
            false_positive_rate=overlap.false_positive_rate,
            folder=str(folder),
        )
    val = pa.concat_tables(
        [pq.read_table(Path(stem.replace("hashes-", "val-") + ".parquet")) for _, stem in items]
    )
    write_parquet_atomic(folder / "val.parquet", val)
    has_split = (paths.shards / "train").is_dir()
    write_manifest(
        folder,
        {
            "ngram": overlap.ngram,
            "false_positive_rate": overlap.false_positive_rate,
            "k": optimal_k(overlap.false_positive_rate),
            "partition_bits": bits,
            "partitions": parts,
            "source": "train split" if has_split else "all documents (no shards/train yet)",
            "source_fingerprint": fingerprint,
            "documents": sum(s["documents"] for s in shard_stats),
            "train_documents": sum(s["train_documents"] for s in shard_stats),
            "val_documents": val.num_rows,
            "ngrams": sum(s["ngrams"] for s in shard_stats),
        },
    )
    shutil.rmtree(work, ignore_errors=True)
    bloom = PartitionedBloom.load(folder)
    log.info(
        "overlap: Bloom filter of %d distinct %d-grams, %.1f MB, expected FPR %.2g -> %s",
        bloom.meta["distinct_ngrams"],
        overlap.ngram,
        bloom.nbytes / 1e6,
        bloom.meta["expected_fpr"],
        folder,
    )
    return bloom
