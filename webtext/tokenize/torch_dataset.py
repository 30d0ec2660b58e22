"""A streaming `torch.utils.data.IterableDataset` of fixed-length blocks from the shards.

For plain PyTorch loops (and HF `Trainer`): the same blocks as the packed export
(`webtext.tokenize.packed`), read lazily from the memory-mapped shards, split across ranks and
DataLoader workers without overlap, resumable at a block position. Needs torch (the `train`
extra).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import IterableDataset, get_worker_info

from webtext.tokenize.packed import TokenStream, check_seq_len


class PackedTokenDataset(IterableDataset):
    """`torch.utils.data.IterableDataset` of fixed-length blocks straight from the shards.

        ds = PackedTokenDataset("runs/x/shards", "train", seq_len=1024, start=0)
        loader = DataLoader(ds, batch_size=8, num_workers=2)
        for batch in loader:  # {"input_ids": LongTensor (8, 1024), "labels": same}
            ...

    Rank and worker aware: consumer c = rank * num_workers + worker of n = world_size *
    num_workers reads the blocks b with b % n == c, so the n streams, taken round-robin, are
    the single reader's stream. Rank and world size come from the arguments, else from
    torch.distributed, else from RANK / WORLD_SIZE. Resumable: `start` is the number of
    blocks consumed in all (steps x global batch); every consumer resumes at its first block
    >= start. `epoch` > 0 repeats the stream (the order is deterministic, not shuffled).
    """

    def __init__(
        self,
        shards_dir: str | Path,
        split: str = "train",
        *,
        seq_len: int,
        start: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        as_numpy: bool = False,
    ):
        check_seq_len(seq_len)
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.shards_dir, self.split, self.seq_len = Path(shards_dir), split, seq_len
        self.start, self.rank, self.world_size, self.as_numpy = start, rank, world_size, as_numpy
        self.num_blocks = TokenStream(shards_dir, split).num_blocks(seq_len)

    def __len__(self) -> int:
        """Blocks in the whole split (all ranks and workers together)."""
        return self.num_blocks

    def _consumer(self) -> tuple[int, int]:
        rank, world = self.rank, self.world_size
        if (rank is None or world is None) and dist.is_available() and dist.is_initialized():
            rank, world = dist.get_rank(), dist.get_world_size()
        if rank is None or world is None:
            rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside world size {world}")
        return rank * workers + worker, world * workers

    def state_dict(self, blocks_consumed: int) -> dict[str, int]:
        """What to store in a checkpoint: pass it back as `PackedTokenDataset(**..., start=)`."""
        return {"start": self.start + blocks_consumed, "seq_len": self.seq_len}

    def __iter__(self) -> Iterator[Any]:
        consumer, n = self._consumer()
        stream = TokenStream(self.shards_dir, self.split)  # per worker: its own memory maps
        first = self.start + (consumer - self.start) % n
        for b in range(first, self.num_blocks, n):
            block = stream.block(b, self.seq_len)
            if self.as_numpy:
                yield block
                continue
            ids = torch.from_numpy(block.astype(np.int64))
            yield {"input_ids": ids, "labels": ids}
