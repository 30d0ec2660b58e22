"""Train-stage benchmark.

Default (CPU, one run): tokens/s of our training step (forward, backward, AdamW) vs Hugging
Face transformers' GPT2LMHeadModel training step on the same tiny config and batch, steps
interleaved so machine noise hits both alike. Writes bench/results/train.json.

Helpers for bench/train_gpu.sh:
    --make-shards RUN_DIR --tokens N    synthetic token shards (tokenize-stage format)
    --summarize OUT_DIR [--skip S]      tokens/s, MFU and data-loader share from log.jsonl
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def bench_cpu(args: argparse.Namespace) -> dict:
    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)

    from webtext.train.model import GPT
    from webtext.train.presets import PRESETS

    cfg = PRESETS[args.preset].with_(block_size=max(args.seq_len, PRESETS[args.preset].block_size))
    torch.manual_seed(0)
    ours = GPT(cfg).train()
    hf_cfg = transformers.GPT2Config(
        vocab_size=cfg.vocab_size, n_positions=cfg.block_size, n_embd=cfg.n_embd,
        n_layer=cfg.n_layer, n_head=cfg.n_head, activation_function="gelu_new",
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    theirs = transformers.GPT2LMHeadModel(hf_cfg).train()
    # both get the same inputs: T+1 tokens; ours takes (T inputs, T targets), HF shifts labels
    data = torch.randint(0, cfg.vocab_size, (args.batch, args.seq_len + 1))
    x, y = data[:, :-1], data[:, 1:]

    def opt_for(model):
        return torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)

    opts = {"webtext": opt_for(ours), "transformers": opt_for(theirs)}

    def step_ours():
        _, loss = ours(x, y)
        loss.backward()
        opts["webtext"].step()
        opts["webtext"].zero_grad(set_to_none=True)

    def step_theirs():
        loss = theirs(input_ids=data, labels=data).loss
        loss.backward()
        opts["transformers"].step()
        opts["transformers"].zero_grad(set_to_none=True)

    steps = {"webtext": step_ours, "transformers": step_theirs}
    times: dict[str, list[float]] = {k: [] for k in steps}
    cpu_times: dict[str, list[float]] = {k: [] for k in steps}
    for fn in steps.values():  # warm-up
        for _ in range(2):
            fn()
    for _ in range(args.rounds):
        for name, fn in steps.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                fn()
            times[name].append((time.perf_counter() - start) / args.steps)
            cpu_times[name].append((time.process_time() - cpu_start) / args.steps)
    tokens = args.batch * args.seq_len
    result = {
        "config": {"preset": args.preset, **cfg.to_dict(), "batch": args.batch,
                   "seq_len": args.seq_len, "dtype": "float32", "device": "cpu",
                   "threads": torch.get_num_threads(), "rounds": args.rounds,
                   "steps_per_round": args.steps},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
    }  # fmt: skip
    for name, ts in times.items():
        med, cpu = statistics.median(ts), statistics.median(cpu_times[name])
        result[name] = {
            "step_ms_median": 1000 * med,
            "tokens_per_s": tokens / med,
            "cpu_ms_per_step": 1000 * cpu,  # process CPU time: robust on a busy machine
        }
    ours, theirs = result["webtext"], result["transformers"]
    result["ratio_tokens_per_s"] = ours["tokens_per_s"] / theirs["tokens_per_s"]
    result["ratio_cpu_time"] = theirs["cpu_ms_per_step"] / ours["cpu_ms_per_step"]
    return result


def make_shards(run_dir: Path, tokens: int, doc_tokens: int = 1000, seed: int = 0) -> None:
    """Random-token documents written exactly like the tokenize stage writes shards."""
    import numpy as np
    import pyarrow as pa

    from webtext.io import write_json_atomic
    from webtext.tokenize.shards import build_index, file_sha256, shard_relpath, write_shard

    rng = np.random.default_rng(seed)
    shards_dir = run_dir / "shards"
    entries = []
    for split, n_tokens in (("train", tokens), ("val", max(tokens // 100, 50 * doc_tokens))):
        n_docs = max(n_tokens // doc_tokens, 1)
        flat = rng.integers(0, 50256, size=(n_docs, doc_tokens), dtype=np.uint16)
        flat[:, -1] = 50256
        offsets = pa.array(np.arange(0, n_docs * doc_tokens + 1, doc_tokens, dtype=np.int32))
        tokens_col = pa.ListArray.from_arrays(offsets, pa.array(flat.reshape(-1)))
        ids = pa.array([f"{split}{i:08d}" for i in range(n_docs)])
        rel = shard_relpath(split, 0)
        write_shard(shards_dir / rel, pa.table({"id": ids, "tokens": tokens_col}))
        entries.append({"file": rel, "split": split, "rows": n_docs,
                        "tokens": n_docs * doc_tokens, "sha256": file_sha256(shards_dir / rel)})  # fmt: skip
    write_json_atomic(
        shards_dir / "index.json", build_index(entries, shard_tokens=tokens, val_fraction=0.01)
    )
    print(f"wrote {tokens:,} random training tokens to {shards_dir}")


def summarize(out_dir: Path, skip: int) -> dict:
    records = [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]
    steady = [r for r in records if r["step"] > skip and "val_loss" not in r] or records
    med = lambda key: statistics.median(r[key] for r in steady if r.get(key) is not None)  # noqa: E731
    mfus = [r["mfu"] for r in steady if r.get("mfu") is not None]
    result = {
        "log_lines": len(steady),
        "tokens_per_s": med("tokens_per_s"),
        "mfu": statistics.median(mfus) if mfus else None,
        "step_ms": med("step_ms"),
        "data_ms": med("data_ms"),
        "data_ms_max": max(r["data_ms"] for r in steady),
    }
    result["data_share_of_step"] = result["data_ms"] / result["step_ms"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batch", type=int, default=8, help="sequences per step")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--make-shards", type=Path, metavar="RUN_DIR")
    parser.add_argument("--tokens", type=int, default=50_000_000)
    parser.add_argument("--summarize", type=Path, metavar="OUT_DIR")
    parser.add_argument("--skip", type=int, default=20, help="warm-up steps left out")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "train.json")
    args = parser.parse_args()
    if args.make_shards:
        make_shards(args.make_shards, args.tokens)
        return 0
    if args.summarize:
        result = summarize(args.summarize, args.skip)
        print(json.dumps(result, indent=2))
        return 0
    result = bench_cpu(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name in ("webtext", "transformers"):
        r = result[name]
        print(f"{name:>13}: {r['tokens_per_s']:9.0f} tokens/s  ({r['step_ms_median']:.1f} ms/step)")
    print(f"ratio webtext / transformers: {result['ratio_tokens_per_s']:.2f} tokens/s, "
          f"{result['ratio_cpu_time']:.2f} by CPU time (target >= 1.0)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
