"""Checkpoint files: `<out_dir>/ckpt-00000500.pt` plus a `latest` pointer file.

A checkpoint holds everything a resume needs: the model (unwrapped, so no `_orig_mod.` or
`module.` prefixes), optimizer, scheduler step, grad scaler, RNG states of every rank,
the data loader's position, the config and `shards_digest` (the sha256 of the
`shards/index.json` it was trained on, so a resume can tell that the shards changed). Files are written atomically (temp + rename) and
`latest` is updated only after the checkpoint is complete, so a kill never leaves a pointer to
half a file. Everything is stored as tensors and plain Python values, so loading works with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from webtext.io import atomic_path, write_text_atomic
from webtext.train.model import GPT
from webtext.train.presets import GPTConfig

FORMAT_VERSION = 1
LATEST = "latest"
SHARDS_DIGEST = "shards_digest"
# what a training writes into out_dir; `set_aside` moves exactly these
_TRAINING_FILES = re.compile(
    r"^(ckpt-\d{8}\.pt|latest|log\.jsonl|tensorboard|\.(ckpt-\d{8}\.pt|latest)\..*\.tmp)$"
)
_CKPT_RE = re.compile(r"^ckpt-(\d{8})\.pt$")
_WRAPPER_PREFIXES = ("_orig_mod.", "module.")


def checkpoint_name(step: int) -> str:
    return f"ckpt-{step:08d}.pt"


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside DDP (`.module`) and torch.compile (`._orig_mod`) wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def strip_wrapper_prefixes(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Remove `_orig_mod.` / `module.` prefixes (any nesting) from a state dict's keys."""
    out = {}
    for key, value in state_dict.items():
        changed = True
        while changed:
            changed = False
            for prefix in _WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        out[key] = value
    return out


def model_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return strip_wrapper_prefixes(unwrap_model(model).state_dict())


# ----------------------------------------------------------------------------- RNG
def rng_state() -> dict[str, Any]:
    """torch, CUDA, numpy and Python RNG states as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


# ------------------------------------------------------------------------ save/load
def save_checkpoint(out_dir: str | Path, step: int, payload: dict[str, Any], keep: int = 0) -> Path:
    """Write `ckpt-<step>.pt` atomically, then point `latest` at it; keep the newest `keep`."""
    out_dir = Path(out_dir)
    path = out_dir / checkpoint_name(step)
    payload = {"format_version": FORMAT_VERSION, "step": step, **payload}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    write_text_atomic(out_dir / LATEST, path.name + "\n")
    if keep > 0:
        for old in list_checkpoints(out_dir)[:-keep]:
            if old != path:
                old.unlink(missing_ok=True)
    return path


def list_checkpoints(out_dir: str | Path) -> list[Path]:
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    found = [p for p in out_dir.iterdir() if _CKPT_RE.match(p.name)]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The checkpoint `latest` names (or the newest file if the pointer is missing), or None."""
    out_dir = Path(out_dir)
    pointer = out_dir / LATEST
    if pointer.is_file():
        path = out_dir / pointer.read_text(encoding="utf-8").strip()
        if path.is_file():
            return path
    found = list_checkpoints(out_dir)
    return found[-1] if found else None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a training out_dir meaning its latest checkpoint."""
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise FileNotFoundError(f"no checkpoint (ckpt-*.pt or {LATEST}) in {path}")
        return found
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return path


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = False
) -> dict[str, Any]:
    """`mmap=True` maps the file instead of reading it: cheap when only the plain values
    (step, config, shards_digest) are wanted from a multi-GB checkpoint."""
    path = resolve_checkpoint(path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as exc:  # a truncated or foreign file: say which one
        raise ValueError(f"{path}: not a readable webtext checkpoint: {exc}") from exc
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_config" not in ckpt:
        raise ValueError(f"{path}: not a webtext checkpoint (no model / model_config)")
    ckpt["path"] = str(path)
    return ckpt


def checkpoint_shards_digest(path: str | Path) -> str | None:
    """The shards digest a checkpoint records; None for checkpoints written before it was."""
    return load_checkpoint(path, mmap=True).get(SHARDS_DIGEST)


def set_aside(out_dir: str | Path) -> tuple[Path, list[str]] | None:
    """Move a previous training's files (checkpoints, `latest`, log, TensorBoard) into
    `out_dir/replaced-<UTC time>/`, so a fresh start never destroys them; other files stay.
    Returns the folder and the names moved, or None when there was nothing to move."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return None
    names = sorted(p.name for p in out_dir.iterdir() if _TRAINING_FILES.match(p.name))
    if not names:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for n in range(1, 1000):
        dest = out_dir / (f"replaced-{stamp}" + (f"-{n}" if n > 1 else ""))
        try:
            dest.mkdir()
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"{out_dir}: no free replaced-{stamp}* folder name")
    for name in names:
        (out_dir / name).rename(dest / name)
    return dest, names


def load_model(path: str | Path, device: str | torch.device = "cpu") -> GPT:
    """Our GPT in eval mode with `.config`, from a checkpoint file or a training out_dir."""
    ckpt = load_checkpoint(path, map_location="cpu")
    model = GPT(GPTConfig.from_dict(ckpt["model_config"]))
    model.load_state_dict(strip_wrapper_prefixes(ckpt["model"]))
    return model.to(device).eval()
