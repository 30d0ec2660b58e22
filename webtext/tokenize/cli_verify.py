"""`webtext verify RUN_DIR`: shards vs index.json (hashes, counts, files) and decoded text."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run directory holding shards/ and documents/")
    parser.add_argument(
        "--sample",
        type=int,
        default=64,
        help="rows to decode and compare with documents/ (0: none, -1: every row)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the row sample")


def main(args: argparse.Namespace) -> int:
    from webtext.tokenize.exports_log import stale_exports
    from webtext.tokenize.verify import verify_run

    result = verify_run(args.run_dir, sample=args.sample, seed=args.seed)
    for export in stale_exports(args.run_dir):
        # a warning, not a failure: the shards are right, the copies made earlier are not
        print(
            f"stale export: {export['out']} ({export['format']}, {export['at']}) was made "
            "from an older shards/index.json (documents removed or re-tokenized since): "
            "export again or delete it",
            file=sys.stderr,
        )
    summary = (
        f"{result.shards} shards, {result.rows} documents, {result.tokens} tokens, "
        f"{result.sampled} decoded rows compared"
    )
    if result.ok:
        print(f"ok: {summary}")
        return 0
    for problem in result.problems:
        print(f"error: {problem}", file=sys.stderr)
    print(f"FAILED: {len(result.problems)} problem(s); {summary}", file=sys.stderr)
    return 1
