"""The overlap index: the Bloom filter of a run's training n-grams, through the driver.

Two phases (`webtext.overlap.index` has the Ray-free task functions): hash the n-grams of
each documents file (train rows only, when shards/ has a split), then build each partition
of the hash space; then `val.parquet` and the manifest. Its inputs are the documents files
and `shards/index.json` (which documents are train); `webtext overlap` reaches it through
the stage table (`webtext.registry`, entry point `overlap_index`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.engine import Inputs, Stage, StageRun, Task, run_stage
from webtext.config import OverlapConfig, RayConfig, build_config
from webtext.io import write_parquet_atomic
from webtext.overlap.bloom import PartitionedBloom, choose_partition_bits, optimal_k, write_manifest
from webtext.overlap.index import hash_document_shard, partition_task, run_index_dir
from webtext.paths import RunPaths, part_files
from webtext.progress import log

INDEX_KEYS = ("ngram", "false_positive_rate", "partition_bytes")  # what the filter depends on


def _settings(cfg) -> dict[str, Any]:
    return {f"overlap.{k}": getattr(cfg.overlap, k) for k in INDEX_KEYS if hasattr(cfg.overlap, k)}


def _documents(paths: RunPaths) -> list[Path]:
    return [p for _, p in part_files(paths.documents)]


def inputs(run: StageRun) -> Inputs:
    docs = _documents(run.paths)
    if not docs:
        return Inputs(missing=f"no documents in {run.paths.documents}: run `webtext dedup` first")
    split = (run.paths.shards_index,) if run.paths.shards_index.is_file() else ()
    return Inputs(files=(*docs, *split))


def hash_tasks(run: StageRun) -> tuple[str, list[Task]]:
    work = run.paths.scratch("overlap_index", "hashes")
    split = (str(run.paths.shards_index),) if run.paths.shards_index.is_file() else ()
    out = []
    for i, doc in enumerate(_documents(run.paths)):
        stem = str(work / f"hashes-{i:05d}")
        out.append(Task(key=doc.stem, payload=(str(doc), stem), inputs=(str(doc), *split),
                        outputs=(stem + ".npy",)))  # fmt: skip
    return "hash", out


def execute(run: StageRun) -> dict[str, Any]:
    overlap, paths = run.cfg.overlap, run.paths
    folder = run_index_dir(paths.root, overlap)
    phase, todo = hash_tasks(run)
    stats = run.map(phase, hash_document_shard, todo, desc="overlap: hashing train n-grams",
                    ngram=overlap.ngram, shards_dir=str(paths.shards))  # fmt: skip
    hash_files = [t.payload[1] + ".npy" for t in todo]
    bits = choose_partition_bits(sum(s["distinct"] for s in stats), overlap.partition_bytes)
    if (folder / PartitionedBloom.MANIFEST).exists():  # a new filter: never half old, half new
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sources = [run.digests.of(p) for t in todo for p in t.inputs]
    parts = run.map("partitions", partition_task, [
        Task(key=f"part-{p:05d}", payload=p, identity=[bits, sources],
             outputs=(str(folder / f"part-{p:05d}.bin"),)) for p in range(1 << bits)
    ], desc="overlap: building Bloom partitions", unit="partition", hash_files=hash_files,
        partition_bits=bits, false_positive_rate=overlap.false_positive_rate,
        folder=str(folder))  # fmt: skip
    parts = [{k: v for k, v in p.items() if k != "skipped"} for p in parts]
    val = pa.concat_tables(
        [pq.read_table(Path(t.payload[1].replace("hashes-", "val-") + ".parquet")) for t in todo]
    )
    write_parquet_atomic(folder / "val.parquet", val)
    has_split = (paths.shards / "train").is_dir()
    meta = {
        "ngram": overlap.ngram,
        "false_positive_rate": overlap.false_positive_rate,
        "k": optimal_k(overlap.false_positive_rate),
        "partition_bits": bits,
        "partitions": parts,
        "source": "train split" if has_split else "all documents (no shards/train yet)",
        "documents": sum(s["documents"] for s in stats),
        "train_documents": sum(s["train_documents"] for s in stats),
        "val_documents": val.num_rows,
        "ngrams": sum(s["ngrams"] for s in stats),
    }
    write_manifest(folder, meta)
    return {k: v for k, v in meta.items() if k != "partitions"} | {"folder": str(folder)}


STAGE = Stage(
    name="overlap_index",
    sections=("overlap",),
    after=("tokenize",),
    inputs=inputs,
    execute=execute,
    first_tasks=hash_tasks,
    settings=_settings,
    summary=lambda s: f"{s['ngrams']} {s['ngram']}-grams of {s['train_documents']} documents",
    clear_work=True,
)


def build_run_index(
    run_dir: str | Path,
    overlap: OverlapConfig,
    ray: RayConfig | None = None,
    rebuild: bool = False,
) -> PartitionedBloom:
    """The Bloom filter of every n-gram of the run's training documents (built or reused)."""
    cfg = build_config({"run_dir": str(run_dir), "overlap": overlap.model_dump(),
                        "ray": (ray or RayConfig()).model_dump()})  # fmt: skip
    folder = run_index_dir(run_dir, overlap)
    paths = RunPaths.of(run_dir)
    if rebuild or not PartitionedBloom.is_complete(folder):  # asked for, or deleted by hand
        (paths.state / f"{STAGE.name}.json").unlink(missing_ok=True)
        shutil.rmtree(paths.stage_state(STAGE.name), ignore_errors=True)
    run_stage(STAGE, cfg)
    bloom = PartitionedBloom.load(folder)
    log.info("overlap: Bloom filter of %d distinct %d-grams, %.1f MB, expected FPR %.2g -> %s",
             bloom.meta["distinct_ngrams"], overlap.ngram, bloom.nbytes / 1e6,
             bloom.meta["expected_fpr"], folder)  # fmt: skip
    return bloom
