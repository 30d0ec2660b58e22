"""Export our checkpoints as a Hugging Face `GPT2LMHeadModel` directory.

The names are already GPT-2's; two things differ: HF's attention and MLP weights are Conv1D
(in, out), ours are nn.Linear (out, in), so they are transposed; and our embedding has
vocabulary padding rows, which are dropped. The output is `config.json` plus
`model.safetensors` (lm_head is tied to wte and therefore not stored, as HF does).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from webtext.train.checkpoint import load_model
from webtext.train.model import GPT

_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
EOT_ID = 50256


def hf_config(model: GPT) -> dict:
    c = model.config
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": c.vocab_size,
        "n_positions": c.block_size,
        "n_ctx": c.block_size,
        "n_embd": c.n_embd,
        "n_layer": c.n_layer,
        "n_head": c.n_head,
        "n_inner": None,
        "activation_function": "gelu_new",  # tanh approximation, as ours
        "resid_pdrop": c.dropout,
        "embd_pdrop": c.dropout,
        "attn_pdrop": c.dropout,
        "layer_norm_epsilon": c.layer_norm_epsilon,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "use_cache": True,
        "tie_word_embeddings": True,
        "bos_token_id": EOT_ID,
        "eos_token_id": EOT_ID,
        "torch_dtype": "float32",
    }


def hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our weights under HF names and layouts (contiguous fp32 copies, no padding)."""
    out = {}
    vocab = model.config.vocab_size
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            continue  # tied to transformer.wte.weight
        tensor = tensor.detach().float().cpu()
        if name == "transformer.wte.weight":
            tensor = tensor[:vocab]
        elif name.endswith(_CONV1D):
            tensor = tensor.t()
        out[name] = tensor.contiguous().clone()
    return out


def save_hf(model: GPT, out_dir: str | Path) -> Path:
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(hf_state_dict(model), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "config.json").write_text(json.dumps(hf_config(model), indent=2) + "\n")
    (out_dir / "generation_config.json").write_text(
        json.dumps({"bos_token_id": EOT_ID, "eos_token_id": EOT_ID}, indent=2) + "\n"
    )
    return out_dir


def export_hf(ckpt_path: str | Path, out_dir: str | Path) -> Path:
    """Checkpoint file (or training out_dir) -> GPT2LMHeadModel directory; returns out_dir."""
    try:
        import safetensors  # noqa: F401
    except ImportError as exc:
        from webtext.config import ConfigError

        raise ConfigError("export-hf needs safetensors: pip install safetensors") from exc
    return save_hf(load_model(ckpt_path, device="cpu"), out_dir)
