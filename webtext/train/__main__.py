"""`torchrun --nproc_per_node=N -m webtext.train CONFIG.yaml [--set key=value ...]`."""

from __future__ import annotations

import argparse
import json
import os
import sys

from webtext.cli import add_set_argument
from webtext.config import ConfigError, load_config
from webtext.progress import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m webtext.train", description="GPT-2 pretraining (torchrun-compatible)"
    )
    parser.add_argument("config", help="YAML config file")
    add_set_argument(parser, "train.max_steps=100")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        cfg = load_config(args.config, args.overrides)
        from webtext.train import require_torch

        require_torch()
        from webtext.train.loop import train

        stats = train(cfg)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(stats, indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
