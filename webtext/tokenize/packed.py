"""Fixed-length blocks of the token stream: the packed export and a streaming torch dataset.

The stream of a split is its documents in index order (shard by shard, ascending id inside
each), each already followed by `<|endoftext|>`, so documents are joined by 50256. Block b
is `stream[b*L : (b+1)*L]`; the last partial block is dropped (as HF's `run_clm.py` does). The packed export and
`PackedTokenDataset` (`webtext.tokenize.torch_dataset`) cut the same blocks.

Packed export (`webtext export RUN --format packed --seq-len L --out DIR`):

    DIR/train/data-00000-of-00001.arrow   Arrow IPC streams, columns input_ids and labels
    DIR/val/data-00000-of-00001.arrow     (list<uint16> of length L; labels = input_ids,
    DIR/webtext-packed.json               GPT2LMHeadModel shifts them itself)

`datasets.load_dataset("arrow", data_dir=DIR)` gives train and validation splits that
`transformers.Trainer` consumes as they are (the default collator stacks them). A split with
fewer than L tokens has no file (the manifest says 0 blocks).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from webtext.io import atomic_path, file_mode
from webtext.tokenize.reader import open_split
from webtext.tokenize.shards import SPLITS

PACKED_MANIFEST = "webtext-packed.json"
PACKED_TYPE = pa.list_(pa.uint16())
BATCH_BLOCKS = 1024  # blocks per record batch


class TokenStream:
    """The concatenated tokens of a split's shards, sliced across shard boundaries."""

    def __init__(self, shards_dir: str | Path, split: str):
        self.split = open_split(shards_dir, split)
        sizes = [s.num_tokens for s in self.split.shards]
        self.starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.num_tokens = int(self.starts[-1])

    def slice(self, start: int, stop: int) -> np.ndarray:
        """tokens[start:stop] of the whole stream (a view when inside one shard)."""
        if not 0 <= start <= stop <= self.num_tokens:
            raise IndexError(f"[{start}:{stop}] outside a stream of {self.num_tokens} tokens")
        first = int(np.searchsorted(self.starts, start, side="right")) - 1
        pieces = []
        pos, i = start, first
        while pos < stop:
            shard = self.split.shards[i]
            lo = pos - int(self.starts[i])
            hi = min(stop - int(self.starts[i]), shard.num_tokens)
            pieces.append(shard.tokens[lo:hi])
            pos += hi - lo
            i += 1
        if len(pieces) == 1:
            return pieces[0]
        return np.concatenate(pieces) if pieces else np.empty(0, dtype=np.uint16)

    def num_blocks(self, seq_len: int) -> int:
        return self.num_tokens // seq_len

    def block(self, b: int, seq_len: int) -> np.ndarray:
        return self.slice(b * seq_len, (b + 1) * seq_len)


def check_seq_len(seq_len: int) -> None:
    if seq_len < 1:
        raise ValueError(f"--seq-len must be >= 1, got {seq_len}")


def export_packed(
    shards_dir: str | Path, out_dir: str | Path, *, seq_len: int, blocks_per_file: int = 0
) -> dict[str, Any]:
    """Write the packed Arrow files of both splits into out_dir; returns the manifest."""
    check_seq_len(seq_len)
    if blocks_per_file <= 0:
        blocks_per_file = max(1, 100_000_000 // seq_len)  # ~200 MB of uint16 per file
    out_dir = Path(out_dir)
    manifest: dict[str, Any] = {"format": "webtext-packed", "seq_len": seq_len, "splits": {}}
    streams = {split: TokenStream(shards_dir, split) for split in SPLITS}
    if not any(stream.num_blocks(seq_len) for stream in streams.values()):
        sizes = ", ".join(
            f"{split}: {stream.num_tokens} tokens" for split, stream in streams.items()
        )
        raise ValueError(f"--seq-len {seq_len} is longer than every split ({sizes}): no block")
    for split, stream in streams.items():
        blocks = stream.num_blocks(seq_len)
        # a split without one whole block gets no file: an empty one would be a split that
        # `datasets` refuses to load ("corresponds to no data")
        num_files = -(-blocks // blocks_per_file)
        files = []
        for f in range(num_files):
            name = f"{split}/data-{f:05d}-of-{num_files:05d}.arrow"
            lo, hi = f * blocks_per_file, min((f + 1) * blocks_per_file, blocks)
            _write_blocks(out_dir / name, stream, lo, hi, seq_len)
            files.append({"file": name, "blocks": hi - lo})
        manifest["splits"][split] = {
            "blocks": blocks,
            "tokens_dropped": stream.num_tokens - blocks * seq_len,
            "files": files,
        }
    path = out_dir / PACKED_MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    path.chmod(file_mode())
    return manifest


def _write_blocks(path: Path, stream: TokenStream, lo: int, hi: int, seq_len: int) -> None:
    schema = pa.schema([pa.field("input_ids", PACKED_TYPE), pa.field("labels", PACKED_TYPE)])
    with (
        atomic_path(path) as tmp,
        pa.OSFile(str(tmp), "wb") as sink,
        pa.ipc.new_stream(sink, schema) as writer,
    ):
        for start in range(lo, hi, BATCH_BLOCKS):
            stop = min(start + BATCH_BLOCKS, hi)
            values = stream.slice(start * seq_len, stop * seq_len)
            offsets = np.arange(0, (stop - start + 1) * seq_len, seq_len, dtype=np.int32)
            col = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.uint16()))
            writer.write_batch(pa.record_batch([col, col], schema=schema))


def read_packed(path: str | Path) -> np.ndarray:
    """Blocks of one packed file as a (blocks, seq_len) uint16 array."""
    with pa.memory_map(str(path), "r") as source:
        table = pa.ipc.open_stream(source).read_all()
    col = table.column("input_ids").combine_chunks()
    if len(col) == 0:
        return np.empty((0, 0), dtype=np.uint16)
    return col.values.to_numpy().reshape(len(col), -1).copy()
