"""Zero-copy readers of token shards, for the trainer and the tools.

    from webtext.tokenize.reader import open_split
    split = open_split("runs/x/shards", "train")
    for shard in split.shards:
        shard.tokens    # np.uint16 view of the memory-mapped file: every token of the shard
        shard.offsets   # np.int32, len rows + 1: document i is tokens[offsets[i]:offsets[i+1]]
        shard.ids       # pyarrow StringArray: document id of each row (provenance)

Nothing is copied or read up front: the OS pages the file in as the arrays are touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from webtext.tokenize.shards import FORMAT_NAME, FORMAT_VERSION, SHARD_SCHEMA, SPLITS


class ShardFormatError(ValueError):
    """A file that is not a webtext token shard (or an index that is not ours)."""


class ShardReader:
    """One memory-mapped shard file; arrays stay valid while the reader is referenced."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._source = pa.memory_map(str(self.path), "r")
        try:
            reader = pa.ipc.open_file(self._source)
        except pa.ArrowInvalid as exc:
            raise ShardFormatError(f"{self.path}: not an Arrow IPC file: {exc}") from exc
        if not reader.schema.remove_metadata().equals(SHARD_SCHEMA.remove_metadata()):
            raise ShardFormatError(f"{self.path}: unexpected schema {reader.schema}")
        if reader.num_record_batches != 1:
            raise ShardFormatError(
                f"{self.path}: {reader.num_record_batches} record batches, a shard has one"
            )
        batch = reader.get_batch(0)
        tokens: pa.ListArray = batch.column("tokens")
        self.ids: pa.StringArray = batch.column("id")
        offsets = tokens.offsets.to_numpy(zero_copy_only=True)
        values = tokens.values  # the whole child buffer; offsets index into it
        start, end = int(offsets[0]), int(offsets[-1])
        self.tokens: np.ndarray = values.slice(start, end - start).to_numpy(zero_copy_only=True)
        self.offsets: np.ndarray = offsets - start if start else offsets

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    def document(self, i: int) -> np.ndarray:
        """Tokens of row i (ending with 50256), a view."""
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def doc_id(self, i: int) -> str:
        return self.ids[i].as_py()

    def close(self) -> None:
        """Drop the arrays and unmap; only when no view of `tokens` is still in use."""
        self.tokens = self.offsets = None  # type: ignore[assignment]
        self.ids = None  # type: ignore[assignment]
        self._source.close()

    def __repr__(self) -> str:
        return f"ShardReader({str(self.path)!r}, rows={len(self)}, tokens={self.num_tokens})"


class SplitReader:
    """The shards of one split, in index order (by bucket; ascending id inside a shard)."""

    def __init__(self, shards_dir: str | Path, split: str, index: dict[str, Any]):
        self.shards_dir = Path(shards_dir)
        self.split = split
        self.entries = [s for s in index["shards"] if s["split"] == split]
        self.shards = [ShardReader(self.shards_dir / s["file"]) for s in self.entries]

    @property
    def num_tokens(self) -> int:
        return sum(s.num_tokens for s in self.shards)

    @property
    def num_rows(self) -> int:
        return sum(len(s) for s in self.shards)

    def __len__(self) -> int:
        return len(self.shards)

    def __iter__(self) -> Iterator[ShardReader]:
        return iter(self.shards)

    def documents(self) -> Iterator[tuple[str, np.ndarray]]:
        """(id, tokens view) of every document, in order."""
        for shard in self.shards:
            ids = shard.ids.to_pylist()
            for i, doc_id in enumerate(ids):
                yield doc_id, shard.document(i)


def read_index(shards_dir: str | Path) -> dict[str, Any]:
    path = Path(shards_dir) / "index.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `webtext tokenize` first")
    index = json.loads(path.read_text(encoding="utf-8"))
    if index.get("format") != FORMAT_NAME or index.get("format_version") != FORMAT_VERSION:
        raise ShardFormatError(
            f"{path}: format {index.get('format')!r} v{index.get('format_version')!r}, "
            f"this reader reads {FORMAT_NAME} v{FORMAT_VERSION}"
        )
    return index


def open_split(shards_dir: str | Path, split: str) -> SplitReader:
    """Memory-map every shard of `split` ("train" or "val") listed in `shards_dir/index.json`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return SplitReader(shards_dir, split, read_index(shards_dir))
