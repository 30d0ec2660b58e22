"""`webtext export RUN_DIR --format FORMAT --out DIR`: the corpus in other tools' formats.

- nanogpt: flat uint16 `train.bin` / `val.bin`
- llmc: llm.c's headered `webtext_{split}_NNNNNN.bin` shards (`--shard-tokens`)
- packed: fixed-length `input_ids` blocks (`--seq-len`) in Arrow, for HF `Trainer`
- jsonl: dolma-style `.jsonl.gz` documents (from documents/, not the shards)

The export is written into a fresh folder and swapped in whole: a non-empty `--out` is
refused unless `--overwrite`, which replaces it, so no stale file of an earlier export stays.
"""

from __future__ import annotations

import argparse
import json
import sys

from webtext.config import ConfigError
from webtext.paths import RunPaths
from webtext.progress import log

FORMATS = ("nanogpt", "llmc", "packed", "jsonl")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run directory (shards/index.json; documents/ for jsonl)")
    parser.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="nanogpt: flat uint16 train.bin/val.bin; llmc: llm.c's headered .bin shards; "
        "packed: --seq-len token blocks in Arrow for HF Trainer; jsonl: dolma .jsonl.gz",
    )
    parser.add_argument("--out", required=True, help="output folder (created; must be empty)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty --out as a whole"
    )
    parser.add_argument(
        "--shard-tokens",
        type=int,
        default=100_000_000,
        help="llmc only: tokens per output file (llm.c's fineweb default: 100M; < 2**31)",
    )
    parser.add_argument(
        "--seq-len", type=int, default=None, help="packed only (required): tokens per block"
    )


def export_into(args: argparse.Namespace, out) -> dict:
    """Write the export of `args.format` into the (empty) folder out; returns per-file counts."""
    paths = RunPaths.of(args.run_dir)
    if args.format == "nanogpt":
        from webtext.tokenize.export import export_nanogpt

        return export_nanogpt(paths.shards, out)
    if args.format == "llmc":
        from webtext.tokenize.export import export_llmc

        return export_llmc(paths.shards, out, shard_tokens=args.shard_tokens)
    if args.format == "packed":
        from webtext.tokenize.packed import export_packed

        manifest = export_packed(paths.shards, out, seq_len=args.seq_len)
        for split, info in manifest["splits"].items():
            if not info["blocks"]:
                log.warning(
                    "export: %s has %d tokens, fewer than --seq-len %d: no %s file",
                    split, info["tokens_dropped"], args.seq_len, split,
                )  # fmt: skip
        return {
            f["file"]: f["blocks"] * args.seq_len
            for split in manifest["splits"].values()
            for f in split["files"]
        }
    from webtext.tokenize.dolma import export_jsonl

    return export_jsonl(args.run_dir, out)


def main(args: argparse.Namespace) -> int:
    from webtext.outdir import fresh_output_dir, run_inputs

    if args.format == "packed" and args.seq_len is None:
        print("error: --format packed needs --seq-len N", file=sys.stderr)
        return 2
    if args.seq_len is not None and args.format != "packed":
        print("error: --seq-len applies to --format packed only", file=sys.stderr)
        return 2
    try:
        inputs = run_inputs(args.run_dir)
        with fresh_output_dir(args.out, overwrite=args.overwrite, inputs=inputs) as tmp:
            written = export_into(args, tmp)
    except ConfigError:
        raise
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from webtext.tokenize.exports_log import record_export

    record_export(args.run_dir, args.out, args.format, list(written))  # for verify's staleness
    unit = "documents" if args.format == "jsonl" else "tokens"
    for name, count in written.items():
        if count == 0:
            log.warning("export: %s is empty (no %s in that split)", name, unit)
    # files: tokens per file (documents per file for jsonl)
    print(json.dumps({"format": args.format, "out": str(args.out), "files": written}, indent=2))
    return 0
