"""Token shards -> the flat files of nanoGPT and llm.c.

Both are plain uint16 token streams: the documents of a split in index order (shard by shard,
ascending id inside each),
each already followed by `<|endoftext|>` (50256).

- nanoGPT (`data/openwebtext/prepare.py`): `train.bin` and `val.bin`, raw uint16, no header;
  its trainer reads them with `np.memmap(path, dtype=np.uint16, mode="r")`.
- llm.c (`dev/data/data_common.py`, `write_datafile`): a header of 256 int32 (little endian)
  with [0] = 20240520 (magic), [1] = 1 (version, uint16 tokens), [2] = number of tokens,
  then the tokens as uint16. Files `webtext_{train,val}_000000.bin`, at most
  `shard_tokens` tokens each (< 2**31, llm.c's limit). llm.c's own preparation puts 50256
  before each document instead of after it: the stream is the same but for its two ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from webtext.io import atomic_path
from webtext.tokenize.reader import open_split
from webtext.tokenize.shards import SPLITS, readable

LLMC_MAGIC = 20240520
LLMC_VERSION = 1
LLMC_HEADER_INTS = 256
LLMC_MAX_TOKENS = 2**31 - 1


def _split_streams(shards_dir: Path, split: str) -> Iterator[np.ndarray]:
    for shard in open_split(shards_dir, split):
        yield shard.tokens


def export_nanogpt(shards_dir: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Write `out_dir/train.bin` and `out_dir/val.bin`; returns tokens per file."""
    out_dir = Path(out_dir)
    written = {}
    for split in SPLITS:
        path = out_dir / f"{split}.bin"
        total = 0
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            for tokens in _split_streams(Path(shards_dir), split):
                fh.write(memoryview(tokens))
                total += len(tokens)
            readable(tmp)
        written[path.name] = total
    return written


def llmc_header(num_tokens: int) -> np.ndarray:
    if not 0 <= num_tokens <= LLMC_MAX_TOKENS:
        raise ValueError(f"llm.c files hold fewer than 2**31 tokens, got {num_tokens}")
    header = np.zeros(LLMC_HEADER_INTS, dtype="<i4")
    header[0], header[1], header[2] = LLMC_MAGIC, LLMC_VERSION, num_tokens
    return header


def _write_llmc(path: Path, pieces: list[np.ndarray]) -> int:
    count = sum(len(p) for p in pieces)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(llmc_header(count).tobytes())
        _write_all(fh, pieces)
        readable(tmp)
    return count


def _write_all(fh: BinaryIO, pieces: list[np.ndarray]) -> None:
    for piece in pieces:
        fh.write(memoryview(np.ascontiguousarray(piece, dtype="<u2")))


def export_llmc(
    shards_dir: str | Path, out_dir: str | Path, *, shard_tokens: int = 100_000_000
) -> dict[str, int]:
    """llm.c's `webtext_{split}_NNNNNN.bin` files; returns tokens per file written."""
    if not 1 <= shard_tokens <= LLMC_MAX_TOKENS:
        raise ValueError(f"shard_tokens must be in [1, 2**31), got {shard_tokens}")
    out_dir = Path(out_dir)
    written: dict[str, int] = {}
    for split in SPLITS:
        pieces: list[np.ndarray] = []
        pending = 0
        index = 0
        for tokens in _split_streams(Path(shards_dir), split):
            start = 0
            while start < len(tokens):
                take = min(shard_tokens - pending, len(tokens) - start)
                pieces.append(tokens[start : start + take])  # a view, no copy
                pending += take
                start += take
                if pending == shard_tokens:
                    name = f"webtext_{split}_{index:06d}.bin"
                    written[name] = _write_llmc(out_dir / name, pieces)
                    pieces, pending, index = [], 0, index + 1
        if pending or index == 0:
            # the last partial file; an empty split still gets one (empty) file
            name = f"webtext_{split}_{index:06d}.bin"
            written[name] = _write_llmc(out_dir / name, pieces)
    return written


def read_llmc(path: str | Path) -> np.ndarray:
    """Tokens of an llm.c data file, header checked (a memmap view)."""
    header = np.fromfile(path, dtype="<i4", count=LLMC_HEADER_INTS)
    if len(header) != LLMC_HEADER_INTS or header[0] != LLMC_MAGIC or header[1] != LLMC_VERSION:
        raise ValueError(f"{path}: not an llm.c GPT-2 data file (magic/version)")
    tokens = np.memmap(path, dtype="<u2", mode="r", offset=LLMC_HEADER_INTS * 4)
    if len(tokens) != header[2]:
        raise ValueError(f"{path}: header says {header[2]} tokens, file has {len(tokens)}")
    return tokens
