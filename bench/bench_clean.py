"""Clean-stage throughput, documents/s on one core, side by side in one run:

- language ID: ours (seeded langdetect on a bounded sample of each document) vs bare
  `langdetect.detect_langs` on whole documents, plus how often the two agree;
- the heuristic chain (every default filter but language), and the whole default chain.

Documents: the aeb-dev articles from ../shared (real news pages, ~4.5 KB of text each) when
present, else generated English-like text. Writes bench/results/clean.json.

    .venv/bin/python bench/bench_clean.py [--seconds 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AEB = REPO.parent / "shared" / "data" / "aeb-dev" / "ground-truth.json"
RESULTS = REPO / "bench" / "results" / "clean.json"


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


def docs_per_second(fn: Callable[[str], object], docs: list[str], seconds: float, repeats: int):
    """Median over `repeats` of documents/s, each repeat running whole passes for `seconds`."""
    rates = []
    for _ in range(repeats):
        done, start = 0, time.perf_counter()
        while True:
            for doc in docs:
                fn(doc)
            done += len(docs)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        rates.append(done / elapsed)
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per figure")
    args = parser.parse_args(argv)

    from langdetect import DetectorFactory, detect_langs

    from webtext.clean.chain import build_filters
    from webtext.clean.language import Language
    from webtext.config import CleanConfig

    docs, source = load_documents()
    cfg = CleanConfig()
    DetectorFactory.seed = 0  # the bare baseline, seeded too so agreement is meaningful
    ours = Language(cfg.languages, cfg.min_language_prob, cfg.language_sample_chars, seed=0)
    ours.setup()
    detect_langs(docs[0])  # load langdetect's global profiles outside the timing

    def bare(doc: str):
        return detect_langs(doc)[0].lang

    def sampled(doc: str):
        return ours.identify(doc)[0]

    agree = sum(bare(d) == sampled(d) for d in docs) / len(docs)
    bare_rate = docs_per_second(bare, docs, args.seconds, args.repeats)
    ours_rate = docs_per_second(sampled, docs, args.seconds, args.repeats)

    filters = build_filters(cfg)
    for f in filters:
        f.setup()
    heuristics = [f for f in filters if f.name != "language"]

    def run_all(fs):
        def fn(doc: str):
            page = {"url": "https://news.example.com/a", "text": doc, "title": ""}
            for f in fs:  # every filter on every document: the cost of a page that passes
                f.check(page)

        return fn

    heuristic_rate = docs_per_second(run_all(heuristics), docs, args.seconds, args.repeats)
    chain_rate = docs_per_second(run_all(filters), docs, args.seconds, args.repeats)
    per_filter = {
        f.name: round(docs_per_second(run_all([f]), docs, args.seconds / 3, 1), 1) for f in filters
    }

    result = {
        "documents": len(docs),
        "source": source,
        "mean_chars": round(sum(map(len, docs)) / len(docs)),
        "language_sample_chars": cfg.language_sample_chars,
        "langdetect_whole_docs_per_s": round(bare_rate, 1),
        "langdetect_sampled_docs_per_s": round(ours_rate, 1),
        "language_speedup": round(ours_rate / bare_rate, 2),
        "language_agreement": round(agree, 4),
        "heuristics_docs_per_s": round(heuristic_rate, 1),
        "full_chain_docs_per_s": round(chain_rate, 1),
        "per_filter_docs_per_s": per_filter,
        "machine": f"{platform.processor() or platform.machine()}, 1 core, python "
        f"{platform.python_version()}",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"{len(docs)} {source} docs, mean {result['mean_chars']} chars, documents/s per core\n"
        f"  langdetect whole document : {bare_rate:8.1f}\n"
        f"  ours, sampled {cfg.language_sample_chars:>5} chars: {ours_rate:8.1f}"
        f"  ({ours_rate / bare_rate:.2f}x, same language on {agree:.0%})\n"
        f"  heuristic filters         : {heuristic_rate:8.1f}\n"
        f"  whole default chain       : {chain_rate:8.1f}\n"
        f"  per filter: {per_filter}\n"
        f"-> {RESULTS.relative_to(REPO)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
