"""`webtext sample CHECKPOINT --prompt TEXT`: generate text from a checkpoint or an HF folder.

CHECKPOINT is a checkpoint file, a training out_dir (its latest checkpoint) or a folder
written by `webtext export-hf` (any GPT-2 `save_pretrained` folder with model.safetensors).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint",
        help="checkpoint file, a training out_dir (its latest), or an export-hf folder",
    )
    parser.add_argument("--prompt", default="\n", help="text to continue (default: a newline)")
    parser.add_argument("--max-new-tokens", type=int, default=100, help="tokens to generate")
    parser.add_argument(
        "--temperature", type=float, default=0.8, help="softmax temperature; 0 is greedy"
    )
    parser.add_argument("--top-k", type=int, default=200, help="sample from the k most likely")
    parser.add_argument("--seed", type=int, default=1337, help="sampling seed")
    parser.add_argument("--num-samples", type=int, default=1, help="independent samples")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N")
    parser.add_argument("--stop-at-eot", action="store_true", help="stop a sample at <|endoftext|>")


def main(args: argparse.Namespace) -> int:
    from webtext.train import require_torch

    torch = require_torch()
    from webtext.tokenize.gpt2 import EOT_ID, get_encoding
    from webtext.train.checkpoint import load_model
    from webtext.train.hf import is_hf_folder, load_hf_model
    from webtext.train.sample import generate

    if args.max_new_tokens < 0:
        raise SystemExit("error: --max-new-tokens must be >= 0")
    try:
        device = torch.device(args.device)
    except RuntimeError as exc:
        print(f"error: --device {args.device}: {exc}", file=sys.stderr)
        return 1
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"error: --device {args.device}: this torch sees no CUDA device", file=sys.stderr)
        return 1
    enc = get_encoding()
    try:
        if is_hf_folder(args.checkpoint):
            model = load_hf_model(args.checkpoint, device=args.device)
        else:
            model = load_model(args.checkpoint, device=args.device)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ids = enc.encode(args.prompt, allowed_special={"<|endoftext|>"}) or [EOT_ID]
    gen = torch.Generator(device=args.device).manual_seed(args.seed)
    for i in range(args.num_samples):
        idx = torch.tensor([ids], dtype=torch.long, device=args.device)
        out = generate(
            model,
            idx,
            args.max_new_tokens,
            temperature=args.temperature,
            top_k=args.top_k,
            generator=gen,
            stop_token=EOT_ID if args.stop_at_eot else None,
        )
        new = [t for t in out[0, len(ids) :].tolist() if not (args.stop_at_eot and t == EOT_ID)]
        if i:
            print("\n" + "-" * 40)
        print(args.prompt + enc.decode(new), flush=True)
    return 0
