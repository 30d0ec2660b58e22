"""`webtext train CONFIG.yaml`: GPT-2 pretraining on `<run_dir>/shards/`.

One process here; for several GPUs or nodes run the same config under torchrun:
`torchrun --nproc_per_node=N -m webtext.train CONFIG.yaml [--set key=value ...]`.
Resumes from `<out_dir>/latest`; a finished training does no work.
"""

from __future__ import annotations

from typing import Any

from webtext.config import Config


def run(cfg: Config) -> dict[str, Any]:
    from webtext.train import require_torch

    require_torch()  # a clear message naming the `train` extra when torch is missing
    from webtext.train.loop import train

    return train(cfg)
