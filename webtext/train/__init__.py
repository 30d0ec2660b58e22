"""GPT-2 pretraining on the token shards: model, data loader, loop, checkpoints, HF export.

torch is an optional extra. Importing this package never imports torch; the modules that need
it (`model`, `loop`, `checkpoint`, `hf`, `sample`) are imported only by the commands that use
them, and `require_torch()` turns a missing torch into a message naming the extra.
"""

from __future__ import annotations

from types import ModuleType

from webtext.config import ConfigError


def require_torch() -> ModuleType:
    """Import torch, or fail with a message that says how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise ConfigError(
            "training needs PyTorch, which is an optional extra: "
            "pip install 'webtext[train]' (CPU: add -c constraints-cpu.txt)"
        ) from exc
    return torch
