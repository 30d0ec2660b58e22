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

        ds = PackedTokenDataset("runs/x/shards", "train", seq_len=1024, start=0, batch_size=8)
        loader = DataLoader(ds, batch_size=8, num_workers=2)
        for batch in loader:  # {"input_ids": LongTensor (8, 1024), "labels": same}
            ...

    Rank and worker aware, in DataLoader steps: from block `start` on, the single reader's
    stream is dealt in groups of `batch_size` blocks (the DataLoader's batch_size) to ranks in
    turn, and a rank's groups to its workers in turn (the order the DataLoader takes them), so
    step s of a DDP loop sees, over all ranks, blocks [start + s*G, start + (s+1)*G) with
    G = world_size x batch_size. With world_size > 1 the tail short of one global batch is
    dropped, so every rank takes the same number of steps (DDP would hang otherwise). Rank and
    world size come from the arguments, else from torch.distributed, else RANK / WORLD_SIZE.
    Resumable: `start` is the number of blocks consumed in all (steps x global batch).
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
        batch_size: int = 1,
        as_numpy: bool = False,
    ):
        check_seq_len(seq_len)
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.shards_dir, self.split, self.seq_len = Path(shards_dir), split, seq_len
        self.start, self.rank, self.world_size, self.as_numpy = start, rank, world_size, as_numpy
        self.num_blocks = TokenStream(shards_dir, split).num_blocks(seq_len)

    def __len__(self) -> int:
        """Blocks in the whole split (all ranks and workers together)."""
        return self.num_blocks

    def _consumers(self) -> tuple[int, int, int, int]:
        """(rank, world_size, worker, num_workers) of this iterator."""
        rank, world = self.rank, self.world_size
        if (rank is None or world is None) and dist.is_available() and dist.is_initialized():
            rank, world = dist.get_rank(), dist.get_world_size()
        if rank is None or world is None:
            rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside world size {world}")
        return rank, world, worker, workers

    def state_dict(self, blocks_consumed: int) -> dict[str, int]:
        """What to store in a checkpoint: pass it back as `PackedTokenDataset(**..., start=)`."""
        return {"start": self.start + blocks_consumed, "seq_len": self.seq_len}

    def __iter__(self) -> Iterator[Any]:
        rank, world, worker, workers = self._consumers()
        stream = TokenStream(self.shards_dir, self.split)  # per worker: its own memory maps
        size, stop = self.batch_size, self.num_blocks
        if world > 1:  # whole global batches only: every rank takes the same number of steps
            stop = self.start + (stop - self.start) // (world * size) * (world * size)
        group = rank + worker * world  # the group this worker reads at its first step
        for lo in range(self.start + group * size, stop, world * workers * size):
            for b in range(lo, min(lo + size, stop)):
                block = stream.block(b, self.seq_len)
                if self.as_numpy:
                    yield block
                    continue
                ids = torch.from_numpy(block.astype(np.int64))
                yield {"input_ids": ids, "labels": ids}
