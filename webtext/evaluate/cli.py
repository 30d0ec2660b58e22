"""`webtext eval CHECKPOINT --task perplexity|lambada|cloze --data FILE`."""

from __future__ import annotations

import argparse
import json
import sys
import time

from webtext.io import write_json_atomic

TASKS = ("perplexity", "lambada", "cloze")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint",
        help="webtext checkpoint file, training out_dir (its latest checkpoint), or a "
        "Hugging Face GPT-2 directory (config.json + weights)",
    )
    parser.add_argument("--task", choices=TASKS, required=True)
    parser.add_argument(
        "--data",
        required=True,
        help="perplexity: .txt (one stream) or .jsonl/.parquet with 'text'; lambada: .jsonl "
        "with 'text' (last word is the target); cloze: .jsonl with context, question, "
        "candidates, answer",
    )
    parser.add_argument("--stride", type=int, help="perplexity window stride (default context/2)")
    parser.add_argument("--placeholder", default="XXXXX", help="cloze blank in the question")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--out", help="also write the results as JSON to this file")


def run_task(args: argparse.Namespace) -> dict:
    from webtext.evaluate import tasks
    from webtext.evaluate.models import load_lm

    model = load_lm(args.checkpoint, args.device)
    start = time.monotonic()
    if args.task == "perplexity":
        metrics = tasks.perplexity(model, args.data, args.stride)
    elif args.task == "lambada":
        metrics = tasks.lambada(model, args.data)
    else:
        metrics = tasks.cloze(model, args.data, args.placeholder)
    return {
        "task": args.task,
        "checkpoint": model.path,
        "model": model.kind,
        "parameters": model.num_parameters(),
        "data": args.data,
        "seconds": round(time.monotonic() - start, 2),
        **metrics,
    }


def format_table(result: dict) -> str:
    width = max(len(k) for k in result)
    lines = []
    for key, value in result.items():
        if isinstance(value, float):
            value = f"{value:.4f}" if abs(value) < 1e6 else f"{value:.4g}"
        lines.append(f"{key:<{width}}  {value}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    try:
        result = run_task(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(result))
    if args.out:
        write_json_atomic(args.out, result)
        print(f"written: {args.out}")
    else:
        print(json.dumps(result, sort_keys=True))
    return 0
