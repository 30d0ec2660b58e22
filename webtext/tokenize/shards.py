"""The token shard format: Arrow IPC files plus a versioned `index.json`.

    shards/train/train-00000.arrow   one row per document: id (string), tokens (list<uint16>)
    shards/val/val-00000.arrow       documents sorted by id; each token list ends with 50256
    shards/index.json                written last: tokenizer, split rule, per-shard sha256

A shard is an uncompressed IPC *file* (random access, memory-mappable) holding ONE record
batch, so the tokens of the whole shard are one contiguous uint16 buffer that a reader views
with numpy without copying. Shard boundaries depend only on the sorted documents and
`shard_tokens`, never on how many tasks or input files produced them.
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
from webtext.tokenize.encode import SPLIT_RULE, TOKEN_TYPE
from webtext.tokenize.gpt2 import ENCODING_NAME, EOT_ID, VOCAB_SIZE, vocab_hashes

FORMAT_NAME = "webtext-token-shards"
FORMAT_VERSION = 1
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
@dataclass
class ShardPlan:
    """Which documents form one output shard, in output order (ascending id)."""

    split: str
    index: int
    file_idx: np.ndarray  # int32: which intermediate file each row comes from
    row_idx: np.ndarray  # int64: row inside that file
    tokens: int
    first_id: str = ""
    last_id: str = ""

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
def build_index(
    shards: Sequence[dict[str, Any]], *, shard_tokens: int, val_fraction: float
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
        "order": "ascending document id within each split",
        "split_rule": SPLIT_RULE,
        "val_fraction": val_fraction,
        "shard_tokens": shard_tokens,
        "shards": [dict(s) for s in shards],
        "totals": totals,
    }
