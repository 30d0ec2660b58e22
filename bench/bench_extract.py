"""Extraction: F1 and pages/s of every extractor and the default, per benchmark set, one run.

    nice .venv/bin/python bench/bench_extract.py [--sets aeb-dev cleaneval-dev] [--limit N]

Sets: ../shared/data/aeb-dev and ../shared/data/extract-dev/{dragnet,readability,
cleaneval-dev}, scored with ../shared/tools/eval_extract.py's own functions (token 4-gram
F1, precision and recall averaged over pages). Every variant runs through `Extractor` with
its worker process (so pages/s include the isolation round trip), except `bare`, which is
`trafilatura.extract(html, include_comments=False)` in this process, the reference. Pages
go through all variants interleaved (order rotated per page), so load on the shared
machine hits them alike; pages/s = pages / seconds inside the extraction call.

The default (`combined`) ships weights fitted on these same four sets, so its figure here
is in-sample. The honest figure is leave-one-set-out (`tools/fit_extract.py evaluate`,
saved in bench/results/extract_loso.json): it is shown beside, as `combined (LOSO)`.
Writes bench/results/extract.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from fit_extract import SETS, TOOL, load_evaluator  # noqa: E402

from webtext.config import ExtractConfig  # noqa: E402
from webtext.extract import Extractor  # noqa: E402

VARIANTS = [
    "bare",
    "trafilatura",
    "readability",
    "resiliparse",
    "newspaper",
    "ensemble",
    "combined",
]
LOSO = ROOT / "bench" / "results" / "extract_loso.json"


def make(variant: str):
    if variant == "bare":
        import trafilatura

        return lambda html, url: trafilatura.extract(html, include_comments=False) or ""
    extractor = Extractor(ExtractConfig(extractor=variant, timeout=60))

    def run(html: str, url: str) -> str:
        return extractor.extract(html, url).text

    run.close = extractor.close  # type: ignore[attr-defined]
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    parser.add_argument("--variants", nargs="*", default=VARIANTS)
    parser.add_argument("--limit", type=int, default=None, help="first N pages of each set")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "extract.json"))
    args = parser.parse_args()
    if not TOOL.is_file():
        print(f"needs {TOOL}", file=sys.stderr)
        return 2
    import logging

    logging.disable(logging.WARNING)  # trafilatura warns about every empty page
    evaluator = load_evaluator()
    fns = {v: make(v) for v in args.variants}
    for fn in fns.values():  # start-up and imports are not page time
        fn("<html><body><p>warm up text</p></body></html>", "http://example.com/")
    results: dict[str, dict] = {}
    load_before = os.getloadavg()
    for set_name in args.sets:
        pages = evaluator.load_pages(SETS[set_name], args.limit)
        names = list(fns)
        spent = dict.fromkeys(names, 0.0)
        texts: dict[str, list[str]] = {n: [] for n in names}
        for i, page in enumerate(pages):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                started = time.perf_counter()
                texts[name].append(fns[name](page["html"], page["url"]))
                spent[name] += time.perf_counter() - started
        results[set_name] = {}
        for name in names:
            rows = [
                (*evaluator.page_counts(p["truth"], t), 0.0)
                for p, t in zip(pages, texts[name], strict=True)
            ]
            m = evaluator.aggregate(rows)
            results[set_name][name] = {
                "f1": round(m["f1"], 4),
                "precision": round(m["precision"], 4),
                "recall": round(m["recall"], 4),
                "pages": len(pages),
                "pages_per_s": round(len(pages) / spent[name], 1),
            }
        print(f"{set_name}: {len(pages)} pages done", flush=True)
    for fn in fns.values():
        getattr(fn, "close", lambda: None)()
    loso = json.loads(LOSO.read_text()) if LOSO.is_file() else {}
    header = f"{'variant':18s}" + "".join(f"{s:>22s}" for s in args.sets)
    print("\nF1 (pages/s)\n" + header)
    for name in args.variants:
        cells = [
            f"{results[s][name]['f1']:.3f} ({results[s][name]['pages_per_s']:6.1f})"
            for s in args.sets
        ]
        print(f"{name:18s}" + "".join(f"{c:>22s}" for c in cells))
    if loso.get("combined"):
        cells = [f"{loso['combined'].get(s, float('nan')):.3f}" for s in args.sets]
        print(f"{'combined (LOSO)':18s}" + "".join(f"{c:>22s}" for c in cells))
    summary = {
        "sets": results,
        "combined_loso": loso.get("combined"),
        "limit": args.limit,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_before_after": [load_before, os.getloadavg()],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
