"""`webtext export RUN_DIR --format nanogpt|llmc --out DIR`: shards -> trainer-native files."""

from __future__ import annotations

import argparse
import json
import sys

from webtext.paths import RunPaths
from webtext.progress import log


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run directory holding shards/index.json")
    parser.add_argument(
        "--format",
        required=True,
        choices=["nanogpt", "llmc"],
        help="nanogpt: flat uint16 train.bin/val.bin; llmc: llm.c's headered .bin shards",
    )
    parser.add_argument("--out", required=True, help="output directory (created)")
    parser.add_argument(
        "--shard-tokens",
        type=int,
        default=100_000_000,
        help="llmc only: tokens per output file (llm.c's fineweb default: 100M; < 2**31)",
    )


def main(args: argparse.Namespace) -> int:
    from webtext.tokenize.export import export_llmc, export_nanogpt

    shards = RunPaths.of(args.run_dir).shards
    try:
        if args.format == "nanogpt":
            written = export_nanogpt(shards, args.out)
        else:
            written = export_llmc(shards, args.out, shard_tokens=args.shard_tokens)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, tokens in written.items():
        if tokens == 0:
            log.warning("export: %s is empty (no documents in that split)", name)
    print(json.dumps({"format": args.format, "out": str(args.out), "files": written}, indent=2))
    return 0
