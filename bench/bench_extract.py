"""Extraction: pages/s and F1 of every mode vs bare trafilatura on the same pages, in one run.

    .venv/bin/python bench/bench_extract.py [--rounds 3] [--limit N]

Pages and scoring: ../shared/data/aeb-dev (62 real article pages) with the metric of
../shared/tools/eval_extract.py (its own functions). Each variant lives in its own helper
process (so none profits from caches another warmed on the same page); each round sends
every page through every variant, interleaved page by page so machine load hits them alike.
pages/s is the median over rounds of pages / seconds spent in the extraction call as timed
inside the helper (for [process] variants that includes the worker round trip).

- bare:                 trafilatura.extract(html, include_comments=False), in this process
- trafilatura[process]: Extractor(extractor=trafilatura): the worker subprocess, time limit
- trafilatura[inline]:  the same method in-process (isolation=inline)
- newspaper[process]:   Extractor(extractor=newspaper) (newspaper3k, offline)
- ensemble[process]:    Extractor() = the default (trafilatura recall-mode paragraphs
                        confirmed by readability, then trafilatura precision mode)
- ensemble[inline]:     the same in-process
Ratios: variant pages/s over bare pages/s. Writes bench/results/extract.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from webtext.config import ExtractConfig  # noqa: E402
from webtext.extract import Extractor  # noqa: E402
from webtext.extract.worker import WorkerProcess  # noqa: E402

SHARED = ROOT.parent / "shared"
TOOL = SHARED / "tools" / "eval_extract.py"
DATA = SHARED / "data" / "aeb-dev"


def load_evaluator():
    spec = importlib.util.spec_from_file_location("eval_extract", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VARIANTS = [
    "bare",
    "trafilatura[process]",
    "trafilatura[inline]",
    "newspaper[process]",
    "ensemble[process]",
    "ensemble[inline]",
]
_built: dict[str, object] = {}


def build(name: str):
    """The callable or Extractor behind a variant name (built once per process)."""
    if name not in _built:
        if name == "bare":
            import trafilatura

            def bare(html: str, url: str) -> str:
                return trafilatura.extract(html, include_comments=False) or ""

            _built[name] = bare
        else:
            mode, isolation = name.rstrip("]").split("[")
            _built[name] = Extractor(ExtractConfig(extractor=mode, isolation=isolation))
    return _built[name]


def timed(html: str, url: str, variant: str) -> tuple[str, str]:
    """Runs inside a helper process per variant: (text, JSON of seconds and error flag)."""
    fn = build(variant)
    started = time.perf_counter()
    if isinstance(fn, Extractor):
        result = fn.extract(html, url)
        text, failed = result.text, result.error is not None
    else:
        text, failed = fn(html, url), False
    spent = time.perf_counter() - started
    return text, json.dumps({"s": spent, "error": failed})


def helpers() -> dict[str, WorkerProcess]:
    """One helper process per variant, so no variant profits from the caches another one
    warmed on the same page (trafilatura's lru_caches make a repeat ~25% cheaper)."""
    out = {}
    for name in VARIANTS:
        out[name] = WorkerProcess("bench.bench_extract:timed", {"variant": name})
        out[name].start()
    return out


def run_round(fns: dict, pages: list[dict]) -> tuple[dict, dict, dict]:
    """Every page through every variant (order rotated per page): load spikes hit all alike."""
    names = list(fns)
    spent = dict.fromkeys(names, 0.0)
    texts: dict[str, list[str]] = {name: [] for name in names}
    errors = dict.fromkeys(names, 0)
    for i, page in enumerate(pages):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            text, info = fns[name].call(page["html"], page["url"], timeout=600)
            info = json.loads(info)
            spent[name] += info["s"]
            texts[name].append(text)
            errors[name] += info["error"]
    return spent, texts, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per variant")
    parser.add_argument("--limit", type=int, default=None, help="first N pages only")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "extract.json"))
    args = parser.parse_args()
    if not TOOL.is_file() or not DATA.is_dir():
        print(f"needs {TOOL} and {DATA}", file=sys.stderr)
        return 2
    evaluator = load_evaluator()
    pages = evaluator.load_pages(DATA, args.limit)
    fns = helpers()
    for fn in fns.values():  # warm-up: start-up and imports are not timed
        for page in pages[:2]:
            fn.call(page["html"], page["url"], timeout=600)
    speeds: dict[str, list[float]] = {name: [] for name in fns}
    scores: dict[str, dict] = {}
    for round_no in range(args.rounds):
        spent, texts, errors = run_round(fns, pages)
        for name in fns:
            speeds[name].append(len(pages) / spent[name])
            if round_no == 0:
                rows = [
                    (*evaluator.page_counts(p["truth"], t), 0.0)
                    for p, t in zip(pages, texts[name], strict=True)
                ]
                metrics = evaluator.aggregate(rows)
                metrics["errors"] = errors[name]
                metrics["empty"] = sum(not evaluator.words(t) for t in texts[name])
                scores[name] = metrics
        line = "  ".join(f"{name} {speeds[name][-1]:.1f}" for name in fns)
        print(f"round {round_no + 1} pages/s: {line}", flush=True)
    for fn in fns.values():
        fn.close(grace=10)
    bare = statistics.median(speeds["bare"])
    results = {}
    print(f"\n{'variant':22s} {'F1':>6s} {'prec':>6s} {'recall':>6s} {'pages/s':>8s} {'ratio':>6s}")
    for name in fns:
        pps = statistics.median(speeds[name])
        m = scores[name]
        results[name] = {
            "f1": round(m["f1"], 4),
            "precision": round(m["precision"], 4),
            "recall": round(m["recall"], 4),
            "empty": m["empty"],
            "errors": m["errors"],
            "pages_per_s": round(pps, 2),
            "ratio_vs_bare": round(pps / bare, 3),
        }
        print(
            f"{name:22s} {m['f1']:6.3f} {m['precision']:6.3f} {m['recall']:6.3f} "
            f"{pps:8.1f} {pps / bare:6.2f}"
        )
    iso = (
        results["trafilatura[process]"]["pages_per_s"]
        / results["trafilatura[inline]"]["pages_per_s"]
    )
    print(f"\nisolation overhead (trafilatura process/inline): {iso:.3f}")
    summary = {
        "pages": len(pages),
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "variants": results,
        "isolation_ratio_trafilatura": round(iso, 3),
        "default_ratio_vs_bare": results["ensemble[process]"]["ratio_vs_bare"],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
