"""`webtext overlap RUN_DIR --against FILE [FILE ...]`."""

from __future__ import annotations

import argparse
import sys

from webtext.cli import add_set_argument
from webtext.config import load_config
from webtext.overlap.report import format_table, overlap_json_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="the run folder (reads documents/ and shards/)")
    parser.add_argument(
        "--against",
        nargs="*",
        default=[],
        metavar="FILE",
        help="test files: .txt (one document per line), .jsonl with 'text', .parquet with "
        "'text' (.gz allowed for text and jsonl); the run's val split is always scored",
    )
    parser.add_argument(
        "--text-unit",
        choices=["line", "paragraph"],
        default="line",
        help="plain-text files: one document per line, or per blank-line-separated paragraph",
    )
    parser.add_argument("--config", help="YAML config (its overlap and ray sections are used)")
    add_set_argument(parser, "overlap.false_positive_rate=1e-6")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the Bloom filter")


def main(args: argparse.Namespace) -> int:
    from webtext.overlap.analysis import analyze

    cfg = load_config(args.config, args.overrides)
    try:
        report = analyze(
            args.run_dir,
            args.against,
            cfg.overlap,
            cfg.ray,
            text_unit=args.text_unit,
            rebuild=args.rebuild,
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(report))
    print(f"written: {overlap_json_path(args.run_dir)}")
    return 0
