"""Model sizes: the GPT-2 paper's table (section 2.3) plus a `tiny` model for CPU tests.

Plain dataclasses, no torch, so configs can be validated and parameter counts computed
without the train extra.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

GPT2_VOCAB_SIZE = 50257  # byte-level BPE, <|endoftext|> = 50256
VOCAB_MULTIPLE = 64  # embedding rows are padded to this for fast matmuls (never visible)


@dataclass(frozen=True)
class GPTConfig:
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int = 1024  # context length (learned positions)
    vocab_size: int = GPT2_VOCAB_SIZE
    dropout: float = 0.0
    layer_norm_epsilon: float = 1e-5

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")

    @property
    def padded_vocab_size(self) -> int:
        return -(-self.vocab_size // VOCAB_MULTIPLE) * VOCAB_MULTIPLE

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def num_parameters(self) -> int:
        """Parameters as usually reported: wte counted once (tied with lm_head), plus wpe."""
        c, n = self.n_embd, self.n_layer
        block = 12 * c * c + 13 * c  # c_attn 3c^2+3c, c_proj c^2+c, mlp 8c^2+5c, 2 LNs 4c
        return self.vocab_size * c + self.block_size * c + n * block + 2 * c

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token (PaLM appendix B): 6N for the weights + attention."""
        n = self.num_parameters() - self.block_size * self.n_embd  # wpe is a lookup
        return 6 * n + 12 * self.n_layer * self.n_embd * seq_len

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GPTConfig:
        return cls(**data)

    def with_(self, **changes: Any) -> GPTConfig:
        return replace(self, **changes)


PRESETS: dict[str, GPTConfig] = {
    # a few seconds per hundred steps on two CPU cores at short context
    "tiny": GPTConfig(n_layer=2, n_head=2, n_embd=64, block_size=256),
    "gpt2": GPTConfig(n_layer=12, n_head=12, n_embd=768),
    "gpt2-medium": GPTConfig(n_layer=24, n_head=16, n_embd=1024),
    "gpt2-large": GPTConfig(n_layer=36, n_head=20, n_embd=1280),
    "gpt2-xl": GPTConfig(n_layer=48, n_head=25, n_embd=1600),
}

# parameter counts as usually reported for the released GPT-2 models
PARAMETER_ANCHORS: dict[str, int] = {
    "gpt2": 124_439_808,
    "gpt2-medium": 354_823_168,
    "gpt2-large": 774_030_080,
    "gpt2-xl": 1_557_611_200,
}


def get_preset(name: str) -> GPTConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
