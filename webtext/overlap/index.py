"""Building Bloom filters of n-grams: the tasks of a run's training-document filter, and
whole filters of reference files.

A run's build (driven on Ray by `pipelines/overlap.py:build_run_index`) is two plain
functions joined by files, so each is a retryable task:
1. per document shard (or file chunk): the sorted distinct n-gram hashes -> `hashes-N.npy`;
2. per partition of the hash space: the distinct count across all shards sizes that
   partition's filter exactly for the false-positive target, then its bits are set.
The finished filter lives in `<run_dir>/overlap/bloom-n<N>-fpr<P>/` with `bloom.json`
(parameters, counts, and a fingerprint of the documents and shards it was built from), so a
later query reuses it and a changed corpus rebuilds it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webtext.config import OverlapConfig
from webtext.io import atomic_path, shard_name, write_parquet_atomic
from webtext.overlap.bloom import (
    PartitionedBloom,
    build_partition,
    choose_partition_bits,
    optimal_k,
    write_manifest,
)
from webtext.overlap.ngrams import HASH_SCHEME, ngram_hashes
from webtext.overlap.sources import TextUnit, iter_batches
from webtext.paths import RunPaths
from webtext.progress import log

_BATCH_ROWS = 1024
_CHUNK_NGRAMS = 4_000_000  # hashes per chunk file when hashing reference files


def index_key(overlap: OverlapConfig) -> str:
    return f"n{overlap.ngram}-fpr{overlap.false_positive_rate:g}"


def _save_hashes(path: Path, hashes: list[np.ndarray]) -> int:
    arr = np.unique(np.concatenate(hashes)) if hashes else np.zeros(0, np.uint64)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr)
    return int(len(arr))


# ------------------------------------------------------------------- run corpus
def read_split_ids(split_dir: Path) -> pa.Array | None:
    """Document ids of a tokenize split (Arrow IPC files with an `id` column), or None."""
    files = sorted(split_dir.glob("*.arrow")) if split_dir.is_dir() else []
    if not files:
        return None
    ids = []
    for path in files:
        # memory-mapped and left open: only the id column's pages are read (the token column
        # is never touched), and the ids' buffers keep the mapping alive
        source = pa.memory_map(str(path))
        try:
            table = pa.ipc.open_file(source).read_all()
        except pa.ArrowInvalid:
            source.seek(0)
            table = pa.ipc.open_stream(source).read_all()
        if "id" not in table.column_names:
            raise ValueError(f"{path}: token shard without an 'id' column")
        ids.append(table.column("id").combine_chunks().cast(pa.string()))
    return pa.concat_arrays(ids)


def hash_document_shard(item: tuple[str, str], *, ngram: int, shards_dir: str) -> dict:
    """Distinct n-gram hashes of the train documents of one documents/ shard.

    Writes `<work>/hashes-N.npy`, `<work>/val-N.parquet` (the val documents' id and text,
    for the val-vs-train report) and last `<work>/hashes-N.json` (counts); a rerun after a
    crash skips the shards that have all three.
    """
    doc_path, out_stem = item
    hash_path, val_path = Path(out_stem + ".npy"), Path(out_stem.replace("hashes-", "val-"))
    val_path = val_path.with_suffix(".parquet")
    done = Path(out_stem + ".json")  # written last: the shard's completion marker
    if done.exists() and hash_path.exists() and val_path.exists():
        return json.loads(done.read_text())
    train_ids = read_split_ids(Path(shards_dir) / "train")
    val_ids = read_split_ids(Path(shards_dir) / "val")
    # one set lookup per task (is_in builds a hash table of the value set on every call)
    all_ids = pq.read_table(doc_path, columns=["id"]).column("id").combine_chunks()
    all_ids = all_ids.cast(pa.string())
    in_train = (
        np.ones(len(all_ids), bool)  # no tokenize output yet: every document is training
        if train_ids is None
        else pc.is_in(all_ids, value_set=train_ids).to_numpy(zero_copy_only=False)
    )
    in_val = (
        np.zeros(len(all_ids), bool)
        if val_ids is None
        else pc.is_in(all_ids, value_set=val_ids).to_numpy(zero_copy_only=False)
    )
    hashes, val_rows, row = [], [], 0
    stats = {"documents": len(all_ids), "train_documents": 0, "val_documents": 0, "ngrams": 0}
    pf = pq.ParquetFile(doc_path)
    for batch in pf.iter_batches(columns=["id", "text"], batch_size=_BATCH_ROWS):
        ids, texts = batch.column(0), batch.column(1)
        train_mask = in_train[row : row + len(ids)]
        val_mask = in_val[row : row + len(ids)]
        row += len(ids)
        train = texts.filter(pa.array(train_mask))
        if val_mask.any():
            vm = pa.array(val_mask)
            val_rows.append(pa.table({"id": ids.filter(vm), "text": texts.filter(vm)}))
        stats["train_documents"] += len(train)
        if len(train):
            ng = ngram_hashes(train, ngram)
            stats["ngrams"] += int(len(ng.hashes))
            hashes.append(np.unique(ng.hashes))
    val = (
        pa.concat_tables(val_rows)
        if val_rows
        else pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    )
    stats["val_documents"] = val.num_rows
    stats["distinct"] = _save_hashes(hash_path, hashes)
    write_parquet_atomic(val_path, val)
    with atomic_path(out_stem + ".json") as tmp:
        tmp.write_text(json.dumps(stats))
    return stats


def partition_task(partition: int, **kwargs) -> dict:
    """Build the Bloom bits of one partition of the hash space into `<folder>/part-N.bin`."""
    out = Path(kwargs.pop("folder")) / shard_name(partition, ".bin")
    return build_partition(partition=partition, out_path=str(out), **kwargs)


def source_fingerprint(paths: RunPaths) -> str:
    """What the train filter was built from: document files (name, size) and the shard index."""
    h = hashlib.sha256()
    for f in sorted(paths.documents.glob("*.parquet")):
        h.update(f"{f.name}:{f.stat().st_size};".encode())
    if paths.shards_index.is_file():
        h.update(paths.shards_index.read_bytes())
    for split in ("train", "val"):
        for f in sorted((paths.shards / split).glob("*.arrow")):
            h.update(f"{split}/{f.name}:{f.stat().st_size};".encode())
    return h.hexdigest()[:16]


def run_index_dir(run_dir: str | Path, overlap: OverlapConfig) -> Path:
    return RunPaths.of(run_dir).overlap / f"bloom-{index_key(overlap)}"


# ------------------------------------------------------------- reference files
def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "webtext" / "overlap"


def file_index_key(files: Iterable[str | Path], overlap: OverlapConfig, text_unit: str) -> str:
    h = hashlib.sha256(f"{HASH_SCHEME}|{index_key(overlap)}|{text_unit}".encode())
    for f in files:
        st = Path(f).stat()
        h.update(f"|{Path(f).resolve()}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def build_file_index(
    files: list[str | Path],
    overlap: OverlapConfig,
    text_unit: TextUnit = "line",
    cache_dir: str | Path | None = None,
) -> PartitionedBloom:
    """Bloom filter of every n-gram of reference files (e.g. a Wikipedia text dump), built in
    this process and cached by the files' path, size and mtime and the filter parameters.
    Concurrent builders (one per clean worker) produce the same folder; the first rename wins.
    """
    for f in files:
        if not Path(f).is_file():
            raise FileNotFoundError(f"reference file not found: {f}")
    root = Path(cache_dir or overlap.cache_dir or default_cache_dir())
    folder = root / f"bloom-{file_index_key(files, overlap, text_unit)}"
    if PartitionedBloom.is_complete(folder):
        return PartitionedBloom.load(folder)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{folder.name}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker builds, the others wait and load it
        if PartitionedBloom.is_complete(folder):
            return PartitionedBloom.load(folder)
        return _build_file_index(files, overlap, text_unit, root, folder)


def _build_file_index(
    files: list[str | Path], overlap: OverlapConfig, text_unit: TextUnit, root: Path, folder: Path
) -> PartitionedBloom:
    log.info("overlap: building the n-gram Bloom filter of %s", ", ".join(map(str, files)))
    tmp = root / f".{folder.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    hash_files, pending, pending_n, ngrams = [], [], 0, 0
    for f in files:
        for batch in iter_batches(f, text_unit):
            h = ngram_hashes(batch, overlap.ngram).hashes
            ngrams += len(h)
            pending.append(np.unique(h))
            pending_n += len(h)
            if pending_n >= _CHUNK_NGRAMS:
                hash_files.append(tmp / shard_name(len(hash_files), ".npy", "hashes"))
                _save_hashes(hash_files[-1], pending)
                pending, pending_n = [], 0
    if pending or not hash_files:
        hash_files.append(tmp / shard_name(len(hash_files), ".npy", "hashes"))
        _save_hashes(hash_files[-1], pending)
    upper = sum(int(np.load(p, mmap_mode="r").shape[0]) for p in hash_files)
    bits = choose_partition_bits(upper, overlap.partition_bytes)
    parts = [
        partition_task(
            p,
            hash_files=[str(x) for x in hash_files],
            partition_bits=bits,
            false_positive_rate=overlap.false_positive_rate,
            folder=str(tmp),
        )
        for p in range(1 << bits)
    ]
    for p in hash_files:
        p.unlink()
    write_manifest(
        tmp,
        {
            "ngram": overlap.ngram,
            "false_positive_rate": overlap.false_positive_rate,
            "k": optimal_k(overlap.false_positive_rate),
            "partition_bits": bits,
            "partitions": parts,
            "source": [str(Path(f).resolve()) for f in files],
            "ngrams": ngrams,
        },
    )
    try:
        os.replace(tmp, folder)
    except OSError:  # another worker finished first: its folder is identical
        shutil.rmtree(tmp, ignore_errors=True)
    return PartitionedBloom.load(folder)
