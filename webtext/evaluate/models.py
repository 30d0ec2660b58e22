"""One interface over our checkpoints and Hugging Face GPT-2 directories.

`load_lm(path)`: a directory with `config.json` is a Hugging Face model (loaded with
transformers' `GPT2LMHeadModel`); anything else is a webtext checkpoint file or a training
out_dir (its latest checkpoint). Both give next-token logits over GPT-2's 50257 ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class LanguageModel:
    module: Any  # torch.nn.Module
    kind: str  # "webtext" or "huggingface"
    context: int  # longest input in tokens
    device: str
    path: str

    def logits(self, idx):
        """idx (B, T) int64 -> float32 logits (B, T, 50257)."""
        import torch

        with torch.inference_mode():
            out = self.module(idx.to(self.device))
            logits = out[0] if isinstance(out, tuple) else out.logits
            return logits[..., :50257].float()

    def num_parameters(self) -> int:
        seen, total = set(), 0
        for p in self.module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
        return total


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_lm(path: str | Path, device: str = "auto") -> LanguageModel:
    from webtext.train import require_torch

    require_torch()
    path, device = Path(path), pick_device(device)
    if path.is_dir() and (path / "config.json").is_file():
        try:
            from transformers import GPT2LMHeadModel
        except ImportError as exc:
            from webtext.config import ConfigError

            raise ConfigError(
                "evaluating a Hugging Face directory needs transformers: pip install 'webtext[hf]'"
            ) from exc
        model = GPT2LMHeadModel.from_pretrained(str(path)).to(device).eval()
        return LanguageModel(model, "huggingface", model.config.n_positions, device, str(path))
    from webtext.train.checkpoint import load_model

    model = load_model(path, device=device)
    return LanguageModel(model, "webtext", model.config.block_size, device, str(path))
