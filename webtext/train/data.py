"""Training windows from the memory-mapped token shards, deterministic and resumable.

Each shard's token column is viewed in place (Arrow IPC file, memory-mapped, numpy view of
the uint16 values buffer: no copy, no load time, the page cache is shared between ranks).
Documents already end with <|endoftext|>, so a shard is one token stream; it is cut into
non-overlapping windows of `seq_len + 1` tokens (inputs and the shifted targets).

Order: epoch `e` visits every window once in `permutation(seed, e)`. Each optimizer step
consumes the next `world_size * micro_batch` windows per micro step; rank `r` takes the r-th
slice of that chunk, so ranks never overlap, and world_size=2 x 1 micro step reads exactly the
windows of world_size=1 x 2 micro steps. The state is `(epoch, cursor)`, saved in checkpoints,
so a resume continues the stream instead of replaying it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

EOT_ID = 50256


class TokenShards:
    """Zero-copy uint16 token streams of one split (one array per shard file).

    Opened with `webtext.tokenize.reader.open_split`: every shard listed in `index.json` is
    memory-mapped and its tokens are a numpy view of the file, read by the OS on demand.
    """

    def __init__(self, shards_dir: str | Path, split: str):
        from webtext.tokenize.reader import open_split

        self.split = open_split(shards_dir, split)  # keeps the memory maps alive
        self.files = [s.path for s in self.split.shards]
        self.segments: list[np.ndarray] = [s.tokens for s in self.split.shards if s.num_tokens]

    @property
    def num_tokens(self) -> int:
        return sum(len(s) for s in self.segments)

    def unigram_entropy(self) -> float:
        """Entropy (nats) of the token frequency distribution: the loss of a unigram model."""
        counts = np.zeros(65536, dtype=np.int64)
        for seg in self.segments:
            counts += np.bincount(seg, minlength=65536)
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum())


@dataclass
class LoaderState:
    epoch: int = 0
    cursor: int = 0  # windows consumed (by all ranks) in this epoch

    def to_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor}


@dataclass
class WindowLoader:
    """(x, y) int64 batches of shape (micro_batch, seq_len) for one rank."""

    shards: TokenShards
    seq_len: int
    micro_batch: int
    rank: int = 0
    world_size: int = 1
    seed: int = 0
    state: LoaderState = field(default_factory=LoaderState)

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} outside world of {self.world_size}")
        counts = np.array([(len(s) - 1) // self.seq_len for s in self.shards.segments])
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.num_windows = int(self._starts[-1])
        self._perm_epoch = -1
        self._perm = np.empty(0, dtype=np.int64)

    @property
    def chunk(self) -> int:
        return self.world_size * self.micro_batch

    def check_enough(self, what: str) -> None:
        if self.num_windows < self.chunk:
            raise ValueError(
                f"{what}: {self.num_windows} windows of {self.seq_len + 1} tokens in "
                f"{len(self.shards.files)} shard(s) ({self.shards.num_tokens} tokens), but one "
                f"micro step needs {self.chunk} (world_size x micro_batch_size); "
                "use more data or a smaller seq_len / micro_batch_size"
            )

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._perm = rng.permutation(self.num_windows)
            self._perm_epoch = epoch
        return self._perm

    def window_ids(self) -> np.ndarray:
        """Global window ids of this rank's next micro batch; advances the shared cursor."""
        self.check_enough("data")
        if self.state.cursor + self.chunk > self.num_windows:  # tail < one chunk: next epoch
            self.state = LoaderState(self.state.epoch + 1, 0)
        perm = self._permutation(self.state.epoch)
        start = self.state.cursor + self.rank * self.micro_batch
        ids = perm[start : start + self.micro_batch]
        self.state = LoaderState(self.state.epoch, self.state.cursor + self.chunk)
        return ids

    def gather(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seg = np.searchsorted(self._starts, ids, side="right") - 1
        offsets = (ids - self._starts[seg]) * self.seq_len
        buf = np.empty((len(ids), self.seq_len + 1), dtype=np.int64)
        for i, (s, o) in enumerate(zip(seg.tolist(), offsets.tolist(), strict=True)):
            buf[i] = self.shards.segments[s][o : o + self.seq_len + 1]
        return np.ascontiguousarray(buf[:, :-1]), np.ascontiguousarray(buf[:, 1:])

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        return self.gather(self.window_ids())

    def state_dict(self) -> dict[str, int]:
        return {**self.state.to_dict(), "seed": self.seed, "num_windows": self.num_windows}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state.get("num_windows", self.num_windows) != self.num_windows:
            raise ValueError(
                f"the checkpoint's data had {state['num_windows']} windows, the shards now "
                f"have {self.num_windows}: the shards or seq_len changed since it was written"
            )
        self.state = LoaderState(int(state["epoch"]), int(state["cursor"]))
