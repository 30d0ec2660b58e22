"""Export our checkpoints as a Hugging Face `GPT2LMHeadModel` directory.

The names are already GPT-2's; two things differ: HF's attention and MLP weights are Conv1D
(in, out), ours are nn.Linear (out, in), so they are transposed; and our embedding has
vocabulary padding rows, which are dropped. The output is `config.json`,
`generation_config.json`, `model.safetensors` (lm_head is tied to wte and therefore not
stored, as HF does) and GPT-2's tokenizer files (`hf_tokenizer`), so the folder loads offline
with `AutoTokenizer` and `pipeline("text-generation")`. The folder is written whole into a
temp folder and swapped in (`webtext.outdir`); files get the user's umask, not 0600.

`load_hf_model` reads such a folder (or any GPT-2 `save_pretrained` folder) back into our GPT,
so `webtext sample` accepts either kind of path without transformers.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from webtext.io import FILE_MODE
from webtext.outdir import check_out_dir, fresh_output_dir
from webtext.train.checkpoint import load_model
from webtext.train.model import GPT
from webtext.train.presets import GPTConfig

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
    """Write the model and tokenizer files into the existing folder out_dir."""
    from safetensors.torch import save_file

    from webtext.train.hf_tokenizer import write_tokenizer_files

    out_dir = Path(out_dir)
    save_file(hf_state_dict(model), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "config.json").write_text(json.dumps(hf_config(model), indent=2) + "\n")
    (out_dir / "generation_config.json").write_text(
        json.dumps({"bos_token_id": EOT_ID, "eos_token_id": EOT_ID}, indent=2) + "\n"
    )
    write_tokenizer_files(out_dir, model.config.block_size)
    for path in out_dir.iterdir():
        path.chmod(FILE_MODE)
    return out_dir


def export_hf(ckpt_path: str | Path, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Checkpoint file (or training out_dir) -> GPT2LMHeadModel folder; returns out_dir.

    A non-empty out_dir is refused unless overwrite (then replaced as a whole).
    """
    try:
        import safetensors  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError as exc:
        from webtext.config import ConfigError

        raise ConfigError(f"export-hf needs {exc.name}: pip install 'webtext[train]'") from exc
    inputs = [ckpt_path]  # never replaced by the export (e.g. OUT = the training folder)
    check_out_dir(out_dir, overwrite, inputs)  # before the (possibly long) load
    model = load_model(ckpt_path, device="cpu")
    with fresh_output_dir(out_dir, overwrite=overwrite, inputs=inputs) as tmp:
        save_hf(model, tmp)
    return Path(out_dir)


def is_hf_folder(path: str | Path) -> bool:
    path = Path(path)
    return (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def load_hf_model(folder: str | Path, device: str | torch.device = "cpu") -> GPT:
    """A GPT-2 HF folder (config.json + model.safetensors) as our GPT, in eval mode."""
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if cfg.get("model_type") != "gpt2":
        raise ValueError(f"{folder}: model_type {cfg.get('model_type')!r}, expected 'gpt2'")
    if cfg.get("activation_function", "gelu_new") != "gelu_new" or cfg.get("n_inner"):
        raise ValueError(f"{folder}: only GPT-2's gelu_new MLP of width 4*n_embd is supported")
    config = GPTConfig(
        n_layer=cfg["n_layer"],
        n_head=cfg["n_head"],
        n_embd=cfg["n_embd"],
        block_size=cfg["n_positions"],
        vocab_size=cfg["vocab_size"],
        layer_norm_epsilon=cfg.get("layer_norm_epsilon", 1e-5),
    )
    model = GPT(config)
    state = model.state_dict()
    loaded = {}
    try:
        tensors = load_file(str(folder / "model.safetensors"))
    except Exception as exc:  # SafetensorError: cut short, not safetensors at all
        raise ValueError(f"{folder / 'model.safetensors'}: not readable: {exc}") from exc
    for name, tensor in tensors.items():
        if name.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # causal-mask buffers of older transformers versions
        if not name.startswith(("transformer.", "lm_head.")):
            name = "transformer." + name  # the original gpt2 checkpoints have no prefix
        if name.endswith(_CONV1D):
            tensor = tensor.t()
        if name == "transformer.wte.weight":
            if tensor.shape[0] > state[name].shape[0] or tensor.shape[1:] != state[name].shape[1:]:
                raise ValueError(
                    f"{folder}: {name} has shape {tuple(tensor.shape)}, config.json says "
                    f"{tuple(state[name].shape)}"
                )
            padded = torch.zeros_like(state[name])
            padded[: tensor.shape[0]] = tensor
            tensor = padded
        if name == "lm_head.weight":
            continue  # tied to wte
        if name in state and tensor.shape != state[name].shape:
            raise ValueError(
                f"{folder}: {name} has shape {tuple(tensor.shape)}, config.json says "
                f"{tuple(state[name].shape)}"
            )
        loaded[name] = tensor.to(state[name].dtype) if name in state else tensor
    unexpected = set(loaded) - set(state)
    if unexpected:
        raise ValueError(f"{folder}: not a GPT-2 state dict: {sorted(unexpected)[:5]}")
    missing = set(state) - set(loaded) - {"lm_head.weight"}
    if missing:
        raise ValueError(f"{folder}: weights missing from model.safetensors: {sorted(missing)[:5]}")
    model.load_state_dict(loaded, strict=False)
    return model.to(device).eval()
