"""The tokenize stage's work, as plain functions (pipelines/tokenize.py runs them on Ray).

1. `tokenize_file`: one documents/ parquet file -> one intermediate IPC file
   (`_work/tokenize/part-N.arrow`: id, tokens, split_key), in input order. Parallel, one task
   per input file, tiktoken threads inside.
2. `plan_shards`: on the driver, read only ids, token counts and split keys (memory-mapped),
   sort every document by id, split train/val by the id hash, give each document the shard
   of its id hash bucket (`shards.bucket_layout`). The plan depends on the set of
   documents, never on the number of input files or tasks, so the shards are
   byte-identical however the work was divided, and removing a document touches only its
   own shard (`webtext forget`).
3. `write_planned_shard`: gather one shard's rows from the intermediates, write it. Parallel.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webtext.io import atomic_path
from webtext.progress import count
from webtext.tokenize.encode import TOKEN_TYPE, DocumentEncoder, is_val, split_keys
from webtext.tokenize.shards import (
    FORMAT_VERSION,
    SPLITS,
    ShardPlan,
    bucket_layout,
    file_sha256,
    fresh_shard_table,
    shard_entry,
    write_shard,
)

INTERMEDIATE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("tokens", pa.list_(TOKEN_TYPE)),
        pa.field("split_key", pa.uint64()),  # encode.split_key(id): decides train/val
    ]
)
def _open_ipc(path: str | Path) -> pa.Table:
    """Zero-copy table of a memory-mapped IPC file."""
    return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()


def tokenize_file(
    item: tuple[str, str], *, num_threads: int = 2, batch_size: int = 1024
) -> dict[str, Any]:
    """Encode documents file `src` into intermediate IPC file `dst`."""
    src, dst = Path(item[0]), Path(item[1])
    parquet = pq.ParquetFile(src)
    missing = {"id", "text"} - set(parquet.schema_arrow.names)
    if missing:
        raise ValueError(f"{src}: missing column(s) {sorted(missing)}; expected documents/")
    schema = INTERMEDIATE_SCHEMA
    rows = tokens = 0
    with (
        DocumentEncoder(num_threads) as encoder,
        atomic_path(dst) as tmp,
        pa.OSFile(str(tmp), "wb") as sink,
        pa.ipc.new_file(sink, schema) as writer,
    ):
        for batch in parquet.iter_batches(batch_size=batch_size, columns=["id", "text"]):
            ids = batch.column("id").cast(pa.string())
            texts = batch.column("text")
            if ids.null_count or texts.null_count:
                bad = "id" if ids.null_count else "text"
                where = pc.index(pc.is_null(batch.column(bad)), True).as_py() + rows
                raise ValueError(f"{src}: row {where} has a null {bad}; documents need both")
            id_list = ids.to_pylist()
            token_lists = encoder.encode(texts.to_pylist())
            writer.write_batch(
                pa.record_batch(
                    [ids, token_lists, pa.array(split_keys(id_list), pa.uint64())], schema=schema
                )
            )
            rows += len(id_list)
            tokens += len(token_lists.values)
            count(len(token_lists.values), "tokens")  # progress: tokens encoded
    return {"file": src.name, "rows": rows, "tokens": tokens}


class DuplicateIdError(ValueError):
    """Two documents share an id: the shard order (by id) would not be well defined."""


def plan_shards(
    intermediates: list[str | Path], *, shard_tokens: int, val_fraction: float
) -> list[ShardPlan]:
    """Every document sorted by id, split by id hash, cut into shards; in split, index order."""
    ids_chunks, lengths, keys, file_idx, row_idx = [], [], [], [], []
    for f, path in enumerate(intermediates):
        table = _open_ipc(path)
        ids_chunks.extend(table.column("id").chunks)
        lengths.append(pc.list_value_length(table.column("tokens")).to_numpy())
        keys.append(table.column("split_key").to_numpy())
        file_idx.append(np.full(table.num_rows, f, dtype=np.int32))
        row_idx.append(np.arange(table.num_rows, dtype=np.int64))
    if not ids_chunks:
        return []
    ids = pa.chunked_array(ids_chunks, type=pa.string())
    lengths_all = np.concatenate(lengths).astype(np.int64)
    file_all, row_all = np.concatenate(file_idx), np.concatenate(row_idx)
    order = pc.sort_indices(ids).to_numpy()
    sorted_ids = ids.take(pa.array(order)).combine_chunks()
    if len(sorted_ids) > 1:
        same = pc.equal(sorted_ids.slice(1), sorted_ids.slice(0, len(sorted_ids) - 1))
        if pc.any(same).as_py():
            at = pc.index(same, True).as_py()
            dup = sorted_ids[at].as_py()
            raise DuplicateIdError(
                f"document id {dup!r} occurs more than once in documents/: ids must be unique"
            )
    keys_sorted = np.concatenate(keys)[order]
    val_sorted = is_val(keys_sorted, val_fraction)
    plans: list[ShardPlan] = []
    for split in SPLITS:
        positions = np.flatnonzero(val_sorted == (split == "val"))  # positions in sorted order
        picked = order[positions]
        buckets, which = bucket_layout(keys_sorted[positions], lengths_all[picked], shard_tokens)
        if not buckets:
            continue
        by_bucket = np.argsort(which, kind="stable")  # id order kept inside a bucket
        starts = np.searchsorted(which[by_bucket], np.arange(buckets + 1))
        for bucket in range(buckets):
            members = by_bucket[starts[bucket] : starts[bucket + 1]]
            if not len(members):
                continue
            rows = picked[members]
            plans.append(
                ShardPlan(
                    split=split,
                    index=bucket,
                    file_idx=file_all[rows],
                    row_idx=row_all[rows],
                    tokens=int(lengths_all[rows].sum()),
                    first_id=sorted_ids[int(positions[members[0]])].as_py(),
                    last_id=sorted_ids[int(positions[members[-1]])].as_py(),
                    buckets=buckets,
                )
            )
    return plans


def _gather(plan: ShardPlan, intermediates: list[str]) -> pa.Table:
    """The plan's rows in plan order, in freshly built buffers (deterministic bytes)."""
    group = np.argsort(plan.file_idx, kind="stable")  # rows grouped by file, order kept
    pieces = []
    for f in np.unique(plan.file_idx):
        rows = plan.row_idx[plan.file_idx == f]
        pieces.append(_open_ipc(intermediates[int(f)]).select(["id", "tokens"]).take(rows))
    grouped = pa.concat_tables(pieces)
    inverse = np.empty_like(group)
    inverse[group] = np.arange(len(group))
    table = grouped.take(pa.array(inverse)).combine_chunks()
    tokens: pa.ListArray = table.column("tokens").chunk(0)
    offsets = tokens.offsets.to_numpy()
    flat = tokens.values.to_numpy()[offsets[0] : offsets[-1]]
    return fresh_shard_table(table.column("id").to_pylist(), np.diff(offsets), flat)


def plan_digest(plan: ShardPlan) -> str:
    """What a planned shard's bytes are a function of, given its intermediate files."""
    h = hashlib.sha256(json.dumps([FORMAT_VERSION, plan.relpath, plan.tokens]).encode())
    h.update(np.ascontiguousarray(plan.file_idx).tobytes())
    h.update(np.ascontiguousarray(plan.row_idx).tobytes())
    return h.hexdigest()[:16]


def write_planned_shard(plan: ShardPlan, *, intermediates: list[str], shards_dir: str
                        ) -> dict[str, Any]:  # fmt: skip
    """Write one planned shard file; returns its index.json entry."""
    out = Path(shards_dir) / plan.relpath
    table = _gather(plan, intermediates)
    if table.num_rows != plan.rows:
        raise RuntimeError(f"{out}: gathered {table.num_rows} rows, planned {plan.rows}")
    write_shard(out, table)
    return shard_entry(plan.split, plan.index, plan.rows, plan.tokens, file_sha256(out),
                       plan.first_id, plan.last_id)  # fmt: skip
