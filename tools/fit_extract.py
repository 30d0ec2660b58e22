"""Re-fit and evaluate the default extractor's combiner, leave-one-set-out.

    nice .venv/bin/python tools/fit_extract.py cache      # every candidate on every page, once
    nice .venv/bin/python tools/fit_extract.py evaluate   # LOSO table of every combiner
    nice .venv/bin/python tools/fit_extract.py fit        # fit on all sets, write the model

Data: ../shared/data/aeb-dev and ../shared/data/extract-dev/{dragnet,readability,
cleaneval-dev}, scored with ../shared/tools/eval_extract.py's own functions (token 4-gram
F1). `cache` runs each candidate extractor of `webtext.extract.methods` once per page and
stores its text under --cache (default /tmp/webtext-extract-cache, never in the repo), so
the combiners can be fitted and compared from the cache in seconds.

Honest figures: `evaluate` fits the combiner on three sets and scores it on the fourth
(leave-one-set-out); for dragnet it also reports dragnet's own train/test split (fit on
the other sets plus dragnet-train, score on dragnet-test). No figure it prints comes from
pages that chose the weights it scores.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared"
TOOL = SHARED / "tools" / "eval_extract.py"
SETS = {
    "aeb-dev": SHARED / "data" / "aeb-dev",
    "dragnet": SHARED / "data" / "extract-dev" / "dragnet",
    "readability": SHARED / "data" / "extract-dev" / "readability",
    "cleaneval-dev": SHARED / "data" / "extract-dev" / "cleaneval-dev",
}
DEFAULT_CACHE = Path("/tmp/webtext-extract-cache")
LOSO_OUT = ROOT / "bench" / "results" / "extract_loso.json"
TIMEOUT = 20.0


def load_evaluator():
    """The scorer itself (its metric functions), not a copy."""
    spec = importlib.util.spec_from_file_location("eval_extract", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dragnet_test(page_id: str) -> bool:
    """dragnet's held-out third: a fixed hash of the page id (no split file ships)."""
    return zlib.crc32(page_id.encode()) % 3 == 0


# ---------------------------------------------------------------------------- cache
class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def candidates():
    """name -> (html, url) -> text: every extractor the combiners may use."""
    from copy import deepcopy

    from webtext.extract import methods as m

    def traf(**options):
        def run(html, url):
            tree = m.load_tree(html)
            return "" if tree is None else m._trafilatura_text(tree, url, **options)

        return run

    def traf_readability(html, url):
        tree = m.load_tree(html)
        return "" if tree is None else m.readability_text(deepcopy(tree))

    return {
        "trafilatura": lambda html, url: m.extract_trafilatura(html, url)[0],
        "traf_fast": traf(fast=True),
        "traf_recall": traf(fast=True, favor_recall=True),
        "traf_precision": traf(fast=True, favor_precision=True),
        "traf_readability": traf_readability,
        "readability": lambda html, url: m.extract_readability(html, url)[0],
        "resiliparse": lambda html, url: m.extract_resiliparse(html, url)[0],
        "resiliparse_all": lambda html, url: m.plain_text(
            m.resiliparse_tree(html), main_content=False
        ),
        "ensemble": lambda html, url: m.extract_ensemble(html, url)[0],
    }


def cmd_cache(args) -> int:
    """One file per set and candidate (resumable: pages already there are skipped)."""
    import logging

    logging.disable(logging.WARNING)
    evaluator = load_evaluator()
    fns = candidates()
    names = args.only or list(fns)
    signal.signal(signal.SIGALRM, _alarm)
    for name, path in SETS.items():
        (args.cache / name).mkdir(parents=True, exist_ok=True)
        pages = evaluator.load_pages(path)
        for cname in names:
            fn = fns[cname]
            out = args.cache / name / f"{cname}.jsonl"
            done = set()
            if out.exists():
                with out.open() as fh:
                    done = {json.loads(line)["id"] for line in fh if line.strip()}
            todo = [p for p in pages if p["id"] not in done]
            started = time.time()
            with out.open("a") as fh:
                for page in todo:
                    signal.setitimer(signal.ITIMER_REAL, TIMEOUT)
                    t0 = time.perf_counter()
                    try:
                        text = fn(page["html"], page["url"]) or ""
                    except Exception:
                        text = ""
                    finally:
                        signal.setitimer(signal.ITIMER_REAL, 0)
                    spent = time.perf_counter() - t0
                    fh.write(json.dumps({"id": page["id"], "text": text, "s": spent}) + "\n")
            print(f"{name} {cname}: {len(todo)} pages {time.time() - started:.0f}s", flush=True)
    return 0


def load_cache(cache: Path, evaluator, names) -> dict[str, list[dict]]:
    """set -> pages (html, url, truth) with `texts` and `secs` of the cached candidates."""
    data = {}
    for name, path in SETS.items():
        texts: dict[str, dict] = {}
        secs: dict[str, dict] = {}
        for cname in names:
            with (cache / name / f"{cname}.jsonl").open() as fh:
                for line in fh:
                    row = json.loads(line)
                    texts.setdefault(row["id"], {})[cname] = row["text"]
                    secs.setdefault(row["id"], {})[cname] = row["s"]
        pages = []
        for page in evaluator.load_pages(path):
            if len(texts.get(page["id"], {})) == len(names):
                page["texts"] = texts[page["id"]]
                page["secs"] = secs[page["id"]]
                pages.append(page)
        data[name] = pages
    return data


def score(evaluator, pages: list[dict], texts: list[str]) -> dict:
    rows = [(*evaluator.page_counts(p["truth"], t), 0.0) for p, t in zip(pages, texts, strict=True)]
    return evaluator.aggregate(rows)


# ------------------------------------------------------------------------ combiners
GRID = {
    "support": [0.5, 0.7],
    "settled": [0.05],
    "gate": [0.25, 0.5, 1.0],
    "probe": [0.05, 0.1],
    "hedge": [True],
    "fill": [False, True],
    "tables": [True, False],
}
NEEDED = ["readability", "traf_recall", "traf_precision", "resiliparse"]


def combined_texts(pages: list[dict], params: dict) -> list[str]:
    """The `combined` method's output from cached candidate texts (the same code)."""
    from webtext.extract.ensemble import readability_vote

    return [
        readability_vote(
            page["texts"]["readability"],
            page["texts"]["resiliparse"],
            lambda t=page["texts"]: t["traf_recall"],
            lambda t=page["texts"]: t["traf_precision"],
            **params,
        )
        for page in pages
    ]


def page_rows(evaluator, pages: list[dict], texts: list[str]) -> list[tuple]:
    """The scorer's per-page (tp, fp, fn, 0) rows (its shingle_counts), truth counted once."""
    import hashlib

    rows = []
    for page, text in zip(pages, texts, strict=True):
        if "truth_counts" not in page:
            page["truth_counts"] = evaluator.shingle_counts(page["truth"])
            page["scored"] = {}  # digest of a text -> its row (settings often agree)
        key = hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()
        if key not in page["scored"]:
            t, p = page["truth_counts"], evaluator.shingle_counts(text)
            tp, fp, fn = sum((t & p).values()), sum((p - t).values()), sum((t - p).values())
            total = (tp + fp + fn) or 1
            page["scored"][key] = (tp / total, fp / total, fn / total, 0.0)
        rows.append(page["scored"][key])
    return rows


def quick_f1(evaluator, pages: list[dict], texts: list[str]) -> float:
    """The scorer's F1 (its shingle_counts and aggregate)."""
    return evaluator.aggregate(page_rows(evaluator, pages, texts))["f1"]


def settings():
    """Every parameter setting of GRID, as dicts."""
    import itertools

    keys = list(GRID)
    for values in itertools.product(*(GRID[k] for k in keys)):
        yield dict(zip(keys, values, strict=True))


def grid_scores(
    evaluator, data: dict[str, list[dict]], cache: Path
) -> list[tuple[dict, dict[str, float]]]:
    """F1 of every parameter setting on every set and on dragnet's train/test split,
    computed once and kept in the cache, keyed by the combining code and the grid."""
    import hashlib

    from webtext.extract import ensemble

    key = hashlib.sha1((Path(ensemble.__file__).read_text() + repr(GRID)).encode()).hexdigest()
    path = cache / f"grid-{key[:12]}.json"
    wanted = [*data, "dragnet-train", "dragnet-test"]
    if path.exists():
        saved = json.loads(path.read_text())
        if all(name in f1 for _, f1 in saved for name in wanted):
            print(f"grid from {path}")
            return [(params, f1) for params, f1 in saved]
    out = []
    for params in settings():
        f1 = {}
        for name, pages in data.items():
            rows = page_rows(evaluator, pages, combined_texts(pages, params))
            f1[name] = evaluator.aggregate(rows)["f1"]
            if name == "dragnet":
                test = [dragnet_test(p["id"]) for p in pages]
                for split, held in (("dragnet-train", False), ("dragnet-test", True)):
                    part = [r for r, t in zip(rows, test, strict=True) if t == held]
                    f1[split] = evaluator.aggregate(part)["f1"]
        print(params, " ".join(f"{k} {v:.4f}" for k, v in f1.items()), flush=True)
        out.append((params, f1))
    path.write_text(json.dumps(out))
    return out


TIE = 0.0005  # settings within this mean F1 of the best count as tied


def choose(grid: list[tuple[dict, dict[str, float]]], train: list[str]) -> dict:
    """The setting with the best mean F1 over the training sets only; among settings
    within TIE of it, the cheapest (largest probe, gate, then settled: trafilatura runs
    less)."""

    def mean(item):
        return sum(item[1][s] for s in train) / len(train)

    best = max(mean(item) for item in grid)
    tied = [item for item in grid if mean(item) >= best - TIE]

    def cheap(item):
        params = item[0]
        return (params.get("probe", 0.0), params["gate"], params["settled"], mean(item))

    return max(tied, key=cheap)[0]


def pairwise_choice(pages: list[dict], candidates: list[str]) -> list[str]:
    """Per page, the candidate with the highest mean 4-gram Dice overlap with the others
    (the agreement chooser of the literature, measured for comparison)."""
    import re

    from webtext.extract.ensemble import _shingles

    word = re.compile(r"\w+")
    out = []
    for page in pages:
        grams = {c: _shingles(word.findall(page["texts"][c])) for c in candidates}

        def agree(c, grams=grams):
            return sum(
                2 * len(grams[c] & grams[o]) / (len(grams[c]) + len(grams[o]))
                for o in candidates
                if o != c and grams[c] and grams[o]
            )

        out.append(page["texts"][max(candidates, key=agree)])
    return out


def cmd_evaluate(args) -> int:
    evaluator = load_evaluator()
    singles = ["trafilatura", "readability", "resiliparse", "ensemble"]
    names = sorted(set(singles) | set(NEEDED))
    data = load_cache(args.cache, evaluator, names)
    table: dict[str, dict[str, float]] = {}
    for c in singles:
        table[c] = {
            s: score(evaluator, p, [x["texts"][c] for x in p])["f1"] for s, p in data.items()
        }
    table["pairwise choice"] = {
        s: score(evaluator, p, pairwise_choice(p, ["traf_recall", "readability", "resiliparse"]))[
            "f1"
        ]
        for s, p in data.items()
    }
    grid = grid_scores(evaluator, data, args.cache)
    sets = list(data)
    table["combined (LOSO)"] = {}
    chosen = {}
    for held in sets:
        params = choose(grid, [s for s in sets if s != held])
        chosen[held] = params
        texts = combined_texts(data[held], params)
        table["combined (LOSO)"][held] = score(evaluator, data[held], texts)["f1"]
    # dragnet's own split: fit on the other sets plus dragnet-train, score dragnet-test
    params = choose(grid, [s for s in sets if s != "dragnet"] + ["dragnet-train"])
    test = [p for p in data["dragnet"] if dragnet_test(p["id"])]
    split = {"combined": score(evaluator, test, combined_texts(test, params))["f1"]}
    for c in singles:
        split[c] = score(evaluator, test, [x["texts"][c] for x in test])["f1"]
    print(f"\n{'':18s}" + "".join(f"{s:>15s}" for s in sets))
    for row, vals in table.items():
        print(f"{row:18s}" + "".join(f"{vals[s]:15.4f}" for s in sets))
    print("parameters chosen per held-out set:", chosen)
    print(
        "dragnet's split (fit: other sets + dragnet-train, score dragnet-test):",
        {k: round(v, 4) for k, v in split.items()},
    )
    out = {name: {s: round(v, 4) for s, v in vals.items()} for name, vals in table.items()}
    out["combined"] = out.pop("combined (LOSO)")
    out["chosen"] = chosen
    out["dragnet_split"] = {k: round(v, 4) for k, v in split.items()}
    LOSO_OUT.parent.mkdir(parents=True, exist_ok=True)
    LOSO_OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {LOSO_OUT}")
    return 0


def cmd_fit(args) -> int:
    """Choose the parameters on all four sets and write the file the package ships."""
    from webtext.extract.methods import COMBINED_PARAMS

    evaluator = load_evaluator()
    data = load_cache(args.cache, evaluator, NEEDED)
    params = choose(grid_scores(evaluator, data, args.cache), list(data))
    COMBINED_PARAMS.write_text(json.dumps(params) + "\n")
    print(f"wrote {COMBINED_PARAMS}: {params}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["cache", "evaluate", "fit"])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--only", nargs="*", help="cache: these candidates only")
    args = parser.parse_args()
    if not TOOL.is_file():
        print(f"needs {TOOL}", file=sys.stderr)
        return 2
    if args.command == "cache":
        return cmd_cache(args)
    if args.command == "evaluate":
        return cmd_evaluate(args)
    if args.command == "fit":
        return cmd_fit(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
