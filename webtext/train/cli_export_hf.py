"""`webtext export-hf CHECKPOINT OUT_DIR`: write a Hugging Face GPT2LMHeadModel directory."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint file, or a training out_dir (its latest)")
    parser.add_argument(
        "out_dir", help="output folder: config.json, model.safetensors, tokenizer files"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty out_dir as a whole"
    )


def main(args: argparse.Namespace) -> int:
    from webtext.train import require_torch

    require_torch()
    from webtext.train.hf import export_hf

    try:
        out = export_hf(args.checkpoint, args.out_dir, overwrite=args.overwrite)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote GPT2LMHeadModel and GPT-2 tokenizer to {out} "
        '(transformers: pipeline("text-generation", model=OUT))'
    )
    return 0
