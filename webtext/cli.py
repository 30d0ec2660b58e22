"""`webtext <command> ...`: one entry point for every stage and tool.

Stage commands take `CONFIG.yaml [--set dotted.key=value ...]`, validate the whole config up
front, then call the stage's driver as the driver package registers it (`webtext.registry`:
`pipelines.<stage>:run`; the library never imports `pipelines`). Tool commands (verify, export, sample, ...)
live in their own modules, imported only when invoked so `webtext harvest` never imports
torch.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Sequence

from webtext.config import ConfigError, load_config
from webtext.progress import log, setup_logging
from webtext.registry import DriverMissing, driver

# stage command -> help; each runs the driver registered under its name (webtext.registry)
STAGES: dict[str, str] = {
    "harvest": "Reddit submissions -> canonical links (links/)",
    "crawl": "links -> fetched pages with main text (pages/, warc/)",
    "extract": "re-run main-text extraction from the WARC files, without the network",
    "clean": "pages -> language and quality filtered pages (cleaned/)",
    "dedup": "cleaned pages -> exact and near-duplicate free corpus (documents/)",
    "tokenize": "documents -> GPT-2 token shards (shards/)",
    "train": "token shards -> GPT-2 checkpoints (train/)",
    "run": "every stage in order, skipping finished work (--dry-run: only say what it would do)",
    "plan": "per stage: tasks done / to do / stale, and which setting or input changed",
}

# tool command -> (module with add_arguments(parser) and main(args) -> int, help)
TOOLS: dict[str, tuple[str, str]] = {
    "demo": ("webtext.demo.cli", "offline end-to-end demo on a generated mini-web"),
    "verify": ("webtext.tokenize.cli_verify", "check shards against index.json"),
    "forget": ("webtext.cli_forget", "remove documents from a finished run (takedown)"),
    "export": (
        "webtext.tokenize.cli_export",
        "export the corpus: nanoGPT, llm.c, packed (HF Trainer), dolma jsonl",
    ),
    "export-hf": (
        "webtext.train.cli_export_hf",
        "checkpoint -> Hugging Face GPT2LMHeadModel with GPT-2's tokenizer",
    ),
    "sample": ("webtext.train.cli_sample", "generate text from a checkpoint or HF folder"),
    "overlap": ("webtext.overlap.cli", "8-gram overlap of test files with the training set"),
    "eval": ("webtext.evaluate.cli", "zero-shot evaluation of a checkpoint"),
}


def add_set_argument(parser: argparse.ArgumentParser, example: str = "harvest.min_score=5") -> None:
    """The `--set dotted.key=value` option every config-driven command shares."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config key, e.g. --set {example} (repeatable)",
    )


def _stage_parser(prog: str, command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"{prog} {command}", description=STAGES.get(command))
    parser.add_argument("config", help="YAML config file")
    add_set_argument(parser)
    if command == "run":
        parser.add_argument("--dry-run", action="store_true",
                            help="print what the run would do now and why (`webtext plan`); "
                            "touch nothing")  # fmt: skip
    return parser


def _top_help(prog: str) -> str:
    lines = [f"usage: {prog} <command> [args]", "", "stages (CONFIG.yaml [--set key=value ...]):"]
    lines += [f"  {name:<10} {text}" for name, text in STAGES.items()]
    lines += [f"  {'config':<10} print the resolved, validated config", "", "tools:"]
    lines += [f"  {name:<10} {text}" for name, (_, text) in TOOLS.items()]
    lines += ["", f"`{prog} <command> --help` for the command's options."]
    return "\n".join(lines)


def run_stage(command: str, cfg) -> dict:
    return driver(command)(cfg)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = "webtext"
    setup_logging()
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_top_help(prog))
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]

    if command in TOOLS:
        module_name, text = TOOLS[command]
        module = importlib.import_module(module_name)
        parser = argparse.ArgumentParser(prog=f"{prog} {command}", description=text)
        module.add_arguments(parser)
        args = parser.parse_args(rest)
        try:
            return int(module.main(args) or 0)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    if command not in STAGES and command != "config":
        print(f"error: unknown command {command!r}\n\n{_top_help(prog)}", file=sys.stderr)
        return 2
    args = _stage_parser(prog, command).parse_args(rest)
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if command == "config":
        print(cfg.to_yaml(), end="")
        return 0
    if getattr(args, "dry_run", False):
        command = "plan"
    start = time.monotonic()
    try:
        stats = run_stage(command, cfg)
    except (ConfigError, DriverMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if command != "plan":
        log.info("%s finished in %.1fs", command, time.monotonic() - start)
    if stats is not None and command not in ("run", "plan"):
        print(json.dumps(stats, indent=2, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
