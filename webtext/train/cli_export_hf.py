"""`webtext export-hf CHECKPOINT OUT_DIR`: write a Hugging Face GPT2LMHeadModel directory."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint file, or a training out_dir (its latest)")
    parser.add_argument("out_dir", help="output directory (config.json, model.safetensors)")


def main(args: argparse.Namespace) -> int:
    from webtext.train import require_torch

    require_torch()
    from webtext.train.hf import export_hf

    out = export_hf(args.checkpoint, args.out_dir)
    print(
        f"wrote GPT2LMHeadModel to {out} (load with transformers.GPT2LMHeadModel.from_pretrained)"
    )
    return 0
