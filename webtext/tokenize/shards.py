"""The token shard format: Arrow IPC files plus a versioned `index.json`.

    shards/train/train-00007.arrow   one row per document: id (string), tokens (list<uint16>)
    shards/val/val-00003.arrow       documents sorted by id; each token list ends with 50256
    shards/index.json                written last: tokenizer, split and layout rules, sha256s

A shard is an uncompressed IPC *file* (random access, memory-mappable) holding ONE record
batch, so the tokens of the whole shard are one contiguous uint16 buffer that a reader views
with numpy without copying.

Layout (format 2): a document's shard is a bucket of its id hash, `split_key(id) mod
buckets` (the low bits of the same sha256 that decides the split), file number = bucket;
empty buckets have no file. `buckets` per split is the smallest power of two that keeps
the mean shard at or under `shard_tokens` (and every shard under 2**31 tokens). So the
layout depends only on the set of documents, never on how many tasks or input files
produced them, and removing a document (`webtext forget`) changes only the shard that held
it, unless the split's token total falls below a power-of-two boundary, where the bucket
count halves and every shard of that split is rewritten. Format 1 cut the id-sorted
documents greedily, so one removal moved every later boundary.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from webtext.io import atomic_path, shard_name
from webtext.tokenize.encode import SPLIT_RULE, TOKEN_DTYPE, TOKEN_TYPE
from webtext.tokenize.gpt2 import ENCODING_NAME, EOT_ID, VOCAB_SIZE, vocab_hashes

FORMAT_NAME = "webtext-token-shards"
FORMAT_VERSION = 2
SPLITS = ("train", "val")
SHARD_SUFFIX = ".arrow"

SHARD_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # documents/ id: provenance of each row
        pa.field("tokens", pa.list_(pa.field("item", TOKEN_TYPE, nullable=False))),
    ],
    metadata={b"webtext.format": f"{FORMAT_NAME}/{FORMAT_VERSION}".encode()},
)


def shard_relpath(split: str, index: int) -> str:
    """`train/train-00000.arrow`: relative to the shards directory, as index.json stores it."""
    return f"{split}/{shard_name(index, SHARD_SUFFIX, prefix=split)}"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def write_shard(path: str | Path, table: pa.Table) -> None:
    """Write `table` (SHARD_SCHEMA columns) atomically as a one-batch uncompressed IPC file."""
    table = table.select(["id", "tokens"]).cast(SHARD_SCHEMA).combine_chunks()
    batches = table.to_batches()
    if len(batches) != 1:
        raise ValueError(f"a shard must hold one record batch, got {len(batches)}")
    with atomic_path(path) as tmp:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, SHARD_SCHEMA) as writer:
            writer.write_batch(batches[0])
        readable(tmp)


def readable(path: str | Path) -> None:
    """rw-r--r--: temp files are created private, shards are shared data (trainers, exports)."""
    os.chmod(path, 0o644)


# ---------------------------------------------------------------------------- plan
LAYOUT_RULE = (
    "shard number = split_key(id) mod buckets; buckets per split = the smallest power of two "
    "with total tokens <= buckets * shard_tokens and every shard < 2**31 tokens; "
    "ascending id inside a shard; empty buckets have no file"
)
MAX_SHARD_TOKENS = 2**31 - 1  # Arrow list<> int32 offsets


def bucket_layout(keys: np.ndarray, lengths: np.ndarray, shard_tokens: int) -> tuple[int, np.ndarray]:
    """(buckets, bucket of each document) for one split's split keys and token counts."""
    if shard_tokens < 1:
        raise ValueError(f"shard_tokens must be >= 1, got {shard_tokens}")
    if not len(keys):
        return 0, np.zeros(0, dtype=np.int64)
    keys = np.asarray(keys, dtype=np.uint64)
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    buckets = 1
    while True:
        if total <= buckets * shard_tokens:
            which = (keys & np.uint64(buckets - 1)).astype(np.int64)
            if int(np.bincount(which, weights=lengths, minlength=buckets).max()) <= (
                MAX_SHARD_TOKENS
            ):
                return buckets, which
        buckets *= 2


@dataclass
class ShardPlan:
    """Which documents form one output shard, in output order (ascending id)."""

    split: str
    index: int  # the bucket: shard file number
    file_idx: np.ndarray  # int32: which intermediate file each row comes from
    row_idx: np.ndarray  # int64: row inside that file
    tokens: int
    first_id: str = ""
    last_id: str = ""
    buckets: int = 1  # of this split

    @property
    def relpath(self) -> str:
        return shard_relpath(self.split, self.index)

    @property
    def rows(self) -> int:
        return len(self.row_idx)


def chunk_by_tokens(lengths: np.ndarray, shard_tokens: int) -> list[tuple[int, int]]:
    """Greedy [start, end) ranges: a shard closes before the document that would overflow it.

    Documents are never split; a document longer than `shard_tokens` gets a shard alone.
    """
    if shard_tokens < 1:
        raise ValueError(f"shard_tokens must be >= 1, got {shard_tokens}")
    ranges: list[tuple[int, int]] = []
    start, total = 0, 0
    for i, n in enumerate(lengths.tolist()):
        if total and total + n > shard_tokens:
            ranges.append((start, i))
            start, total = i, 0
        total += n
    if start < len(lengths):
        ranges.append((start, len(lengths)))
    return ranges


# --------------------------------------------------------------------------- index
def shard_entry(split: str, bucket: int, rows: int, tokens: int, sha256: str,
                first_id: str, last_id: str) -> dict[str, Any]:  # fmt: skip
    """One index.json `shards` item: tokenize and forget both build it here."""
    return {
        "file": shard_relpath(split, bucket),
        "split": split,
        "bucket": bucket,
        "rows": rows,
        "tokens": tokens,
        "sha256": sha256,
        "first_id": first_id,
        "last_id": last_id,
    }


def fresh_shard_table(ids: list[str], lengths: np.ndarray, flat: np.ndarray) -> pa.Table:
    """A shard's table in newly built buffers, so equal rows always give equal file bytes."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "tokens": pa.ListArray.from_arrays(
                pa.array(offsets), pa.array(np.ascontiguousarray(flat, dtype=TOKEN_DTYPE))
            ),
        }
    )


def build_index(
    shards: Sequence[dict[str, Any]],
    *,
    shard_tokens: int,
    val_fraction: float,
    buckets: dict[str, int] | None = None,
) -> dict[str, Any]:
    """index.json content. Only content-derived values: equal documents -> equal bytes."""
    totals = {
        split: {
            "shards": sum(1 for s in shards if s["split"] == split),
            "rows": sum(s["rows"] for s in shards if s["split"] == split),
            "tokens": sum(s["tokens"] for s in shards if s["split"] == split),
        }
        for split in SPLITS
    }
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "tokenizer": {
            "name": ENCODING_NAME,
            "library": "tiktoken",
            "vocab_size": VOCAB_SIZE,
            "eot_id": EOT_ID,
            "vocab_hashes": vocab_hashes(),
            "encoding": "encode_ordinary(text) + [eot_id]",
        },
        "columns": {"id": "string", "tokens": "list<uint16>"},
        "order": "shards by bucket, ascending document id within a shard",
        "split_rule": SPLIT_RULE,
        "layout": {
            "rule": LAYOUT_RULE,
            "buckets": {split: int((buckets or {}).get(split, 0)) for split in SPLITS},
        },
        "val_fraction": val_fraction,
        "shard_tokens": shard_tokens,
        "shards": [dict(s) for s in shards],
        "totals": totals,
    }
