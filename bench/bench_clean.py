"""Clean-stage throughput, documents/s on one core, side by side in one run:

- language ID: ours (seeded langdetect on a bounded sample of each document, at a few sample
  sizes) vs bare `langdetect.detect_langs` on whole documents, with how often each agrees
  with the bare call; and the optional py3langid backend when it is installed;
- the heuristic chain (every default filter but language), and the whole default chain
  with `clean.pii: redact` (the default) against `clean.pii: off`: the redaction pass must
  cost less than 10 % of the chain's throughput.

Measurements are interleaved (each repeat runs every contender once, in turn) and the
median is reported, so a noisy machine slows all contenders alike and the ratios hold.
Documents: the aeb-dev articles from ../shared (real news pages, ~4.4 KB of text each) when
present, else generated English-like text. Writes bench/results/clean.json.

    .venv/bin/python bench/bench_clean.py [--seconds 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AEB = REPO.parent / "shared" / "data" / "aeb-dev" / "ground-truth.json"
RESULTS = REPO / "bench" / "results" / "clean.json"
SAMPLE_SIZES = (500, 1000, 2000)


def load_documents() -> tuple[list[str], str]:
    if AEB.is_file():
        truth = json.loads(AEB.read_text(encoding="utf-8"))
        return [item["articleBody"] for _, item in sorted(truth.items())], "aeb-dev"
    rng = random.Random(0)
    vocab = str.split("the of and to in a is that for it as was with be by on not he this are or")
    vocab += str.split("council library budget city report water school market price policy")
    docs = []
    for _ in range(60):
        sentences = [
            " ".join(rng.choice(vocab) for _ in range(rng.randint(8, 20))).capitalize() + "."
            for _ in range(rng.randint(20, 60))
        ]
        docs.append(" ".join(sentences))
    return docs, "generated"


def race(
    contenders: dict[str, Callable[[str], object]], docs: list[str], seconds: float, repeats: int
) -> dict[str, float]:
    """Median documents/s of each contender; every repeat runs each in turn for `seconds`."""
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            done, start = 0, time.perf_counter()
            while True:
                for doc in docs:
                    fn(doc)
                done += len(docs)
                elapsed = time.perf_counter() - start
                if elapsed >= seconds:
                    break
            rates[name].append(done / elapsed)
    return {name: statistics.median(r) for name, r in rates.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="measurements per figure")
    args = parser.parse_args(argv)

    from langdetect import DetectorFactory, detect_langs

    from webtext.clean.chain import build_filters
    from webtext.clean.language import Language
    from webtext.config import CleanConfig

    docs, source = load_documents()
    cfg = CleanConfig()
    DetectorFactory.seed = 0  # the bare baseline is seeded too, so agreement is meaningful
    detect_langs(docs[0])  # load langdetect's global profiles outside the timing

    def bare(doc: str) -> str:
        return detect_langs(doc)[0].lang

    reference = [bare(d) for d in docs]
    language: dict[str, Callable[[str], object]] = {"langdetect_whole": bare}
    agreement: dict[str, float] = {"langdetect_whole": 1.0}
    backends = [("langdetect", "langdetect_sampled_"), ("langid", "langid_sampled_")]
    for backend, prefix in backends:
        for size in SAMPLE_SIZES:
            ours = Language(cfg.languages, cfg.min_language_prob, size, backend=backend)
            try:
                ours.setup()
            except ImportError:
                break
            name = f"{prefix}{size}"
            language[name] = lambda d, f=ours: f.identify(d)[0]
            same = sum(language[name](d) == r for d, r in zip(docs, reference, strict=True))
            agreement[name] = same / len(docs)
    lang_rates = race(language, docs, args.seconds, args.repeats)

    filters = build_filters(cfg)
    for f in filters:
        f.setup()

    def run_all(fs):
        def fn(doc: str):
            page = {"url": "https://news.example.com/a", "text": doc, "title": ""}
            for f in fs:  # every filter on every document: the cost of a page that passes
                f.check(page)

        return fn

    filters_off = build_filters(CleanConfig(pii="off"))
    for f in filters_off:
        f.setup()
    chains = {
        "heuristics": run_all([f for f in filters if f.name not in ("language", "pii")]),
        "full_chain": run_all(filters),  # pii: redact, the default
        "full_chain_pii_off": run_all(filters_off),
    }
    chain_rates = race(chains, docs, args.seconds, args.repeats)
    pii_ratio = chain_rates["full_chain"] / chain_rates["full_chain_pii_off"]
    per_filter = race({f.name: run_all([f]) for f in filters}, docs, max(args.seconds / 4, 0.2), 3)

    bare_rate = lang_rates["langdetect_whole"]
    result = {
        "documents": len(docs),
        "source": source,
        "mean_chars": round(sum(map(len, docs)) / len(docs)),
        "default_language_sample_chars": cfg.language_sample_chars,
        "language_docs_per_s": {k: round(v, 1) for k, v in lang_rates.items()},
        "language_speedup_vs_whole": {k: round(v / bare_rate, 2) for k, v in lang_rates.items()},
        "language_agreement_with_whole": {k: round(v, 4) for k, v in agreement.items()},
        "heuristics_docs_per_s": round(chain_rates["heuristics"], 1),
        "full_chain_docs_per_s": round(chain_rates["full_chain"], 1),
        "full_chain_pii_off_docs_per_s": round(chain_rates["full_chain_pii_off"], 1),
        "pii_redact_vs_off": round(pii_ratio, 3),  # target >= 0.9
        "per_filter_docs_per_s": {k: round(v, 1) for k, v in per_filter.items()},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (1 used), "
        f"load average {os.getloadavg()[0]:.1f}, python {platform.python_version()}",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = [f"{len(docs)} {source} docs, mean {result['mean_chars']} chars; documents/s, 1 core"]
    for name, rate in lang_rates.items():
        lines.append(
            f"  {name:<26} {rate:8.1f}  {rate / bare_rate:5.2f}x whole-doc langdetect, "
            f"same language on {agreement[name]:.0%}"
        )
    lines.append(f"  {'heuristic filters':<26} {chain_rates['heuristics']:8.1f}")
    lines.append(f"  {'whole default chain':<26} {chain_rates['full_chain']:8.1f}  (pii: redact)")
    lines.append(
        f"  {'whole chain, pii: off':<26} {chain_rates['full_chain_pii_off']:8.1f}  "
        f"redact/off = {pii_ratio:.3f} (target >= 0.9)"
    )
    lines.append("  per filter: " + ", ".join(f"{k} {v:.0f}" for k, v in per_filter.items()))
    lines.append(f"  ({result['machine']}) -> {RESULTS.relative_to(REPO)}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
