"""Autoregressive sampling with temperature and top-k."""

from __future__ import annotations

import torch

from webtext.train.model import GPT


@torch.no_grad()
def generate(
    model: GPT,
    idx: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    stop_token: int | None = None,
) -> torch.Tensor:
    """Extend idx (B, T) by up to `max_new_tokens`; temperature 0 means greedy."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    model.eval()
    block = model.config.block_size
    for _ in range(max_new_tokens):
        context = idx[:, -block:]
        logits, _ = model(context, last_only=True)
        logits = logits[:, -1, :].float()  # (B, vocab)
        if temperature == 0:
            nxt = logits.argmax(dim=-1, keepdim=True)
        else:
            logits = logits / temperature
            if top_k is not None and top_k > 0:
                kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = torch.softmax(logits, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator)
        idx = torch.cat([idx, nxt.to(idx.device)], dim=1)
        if stop_token is not None and bool((nxt == stop_token).all()):
            break
    return idx
