"""`webtext demo`: the whole recipe offline, on a generated mini-web served on 127.0.0.x.

Generates the web and a Pushshift-format dump that links into it, serves the web, runs every
stage on a local Ray (or `--ray-address`), trains the tiny GPT-2 for a few steps, and prints
the funnel and the report's path. Deterministic: the same port gives the same shards.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from pathlib import Path

import orjson
import zstandard

from webtext.config import build_config
from webtext.demo.miniweb import build_miniweb
from webtext.demo.server import serve_miniweb
from webtext.io import atomic_path, write_text_atomic

DEFAULT_PORT = 18650


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", default="runs/demo", help="where the run writes")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port of the mini-web")
    parser.add_argument("--articles", type=int, default=240, help="articles in the mini-web")
    parser.add_argument("--ray-address", default=None, help="join this Ray cluster")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray")
    parser.add_argument("--no-train", action="store_true", help="stop after tokenize")
    parser.add_argument(
        "--no-serve", action="store_true",
        help="do not serve the mini-web (it is served elsewhere, e.g. by --serve-only)",
    )  # fmt: skip
    parser.add_argument(
        "--serve-only", action="store_true", help="only serve the mini-web until interrupted"
    )
    parser.add_argument("--train-steps", type=int, default=30, help="tiny GPT-2 steps")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key of the demo run (repeatable)",
    )  # fmt: skip


def write_dump(path: Path, submissions: list[dict], malformed: list[str]) -> None:
    lines = [orjson.dumps(s) for s in submissions[:5]]
    lines += [m.encode() for m in malformed]  # counted and reported by the harvest
    lines += [orjson.dumps(s) for s in submissions[5:]]
    data = b"\n".join(lines) + b"\n"
    with atomic_path(path) as tmp:
        tmp.write_bytes(zstandard.ZstdCompressor(level=3).compress(data))


def demo_config(args: argparse.Namespace, dump: Path, archive_host: str = "127.0.0.8") -> dict:
    data: dict = {
        "run_dir": str(args.run_dir),
        "ray": {"address": args.ray_address, "num_cpus": args.num_cpus},
        "source": {"pushshift": [str(dump)]},
        "harvest": {"num_partitions": 4, "after": "2016-01-01T00:00:00Z"},
        "fetch": {
            "allow_networks": ["127.0.0.0/8"],
            "per_host_delay": 0.0,
            "per_host_concurrency": 4,
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
            "deadline": 15.0,
            "max_retries": 1,
            "backoff_base": 0.1,
            "mode": "live_then_archive",  # the mini-web's dead links come back from its archive
        },
        "archive": {
            "sources": [
                {
                    "kind": "wayback",
                    "cdx_url": f"http://{archive_host}:{args.port}/demo/cdx",
                    "replay_url": f"http://{archive_host}:{args.port}/demo",
                    "rate_per_s": 100.0,
                    "concurrency": 4,
                }
            ]
        },
        "tokenize": {"shard_tokens": 20_000, "val_fraction": 0.05},
    }
    if not args.no_train:
        data["train"] = {
            "preset": "tiny",
            "max_steps": args.train_steps,
            "eval_every": max(args.train_steps // 3, 1),
            "eval_batches": 2,
            "log_every": 5,
            "warmup_steps": 5,
            "seq_len": 128,
            "micro_batch_size": 8,
        }
    return data


def main(args: argparse.Namespace) -> int:
    from webtext.stages import run  # the registered `run` driver, as `webtext run`

    run_dir = Path(args.run_dir)
    web = build_miniweb(args.port, articles=args.articles)
    if args.serve_only:
        with serve_miniweb(web):
            print(f"serving the mini-web on {', '.join(web.hosts)} port {web.port}", flush=True)
            threading.Event().wait()
    dump = run_dir / "demo-input" / "RS_demo.zst"
    if not dump.exists():
        write_dump(dump, web.submissions, web.malformed_lines)
    cfg = build_config(demo_config(args, dump, web.archive_host), args.overrides)
    write_text_atomic(run_dir / "demo-input" / "config.yaml", cfg.to_yaml())
    archive_dir = run_dir / "demo-input" / "archive"
    with contextlib.nullcontext() if args.no_serve else serve_miniweb(web, archive_dir):
        run(cfg)
    print(f"config: {run_dir / 'demo-input' / 'config.yaml'}")
    return 0
