"""The run's funnel (`stats.json`), its terminal summary, and `report.html`.

Everything is computed from the files the stages wrote, so the report tells what is on disk,
not what a stage believed it did.
"""

from __future__ import annotations

import collections
import html
import json
import math
import re
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webtext.io import read_json, write_json_atomic, write_text_atomic
from webtext.paths import RunPaths
from webtext.report import svg

FUNNEL_KEYS = [
    ("submissions_read", "submissions read"),
    ("links_kept", "links kept"),
    ("pages_fetched", "pages fetched"),
    ("pages_extracted", "pages extracted"),
    ("documents_after_clean", "kept after clean"),
    ("documents_after_dedup", "kept after dedup"),
    ("tokens", "tokens"),
]


def _rows(files: list[Path]) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def _column(files: list[Path], name: str) -> list[Any]:
    out: list[Any] = []
    for f in files:
        if name in pq.ParquetFile(f).schema_arrow.names:
            out.extend(pq.read_table(f, columns=[name])[name].to_pylist())
    return out


def _submissions_read(links_stats: dict[str, Any]) -> int | None:
    for key in ("submissions_read", "records_read", "read", "records"):
        value = links_stats.get(key)
        if isinstance(value, int):
            return value
    return None


def compute_funnel(run_dir: str | Path) -> dict[str, Any]:
    paths = RunPaths.of(run_dir)
    links_stats = read_json(paths.links_stats, {}) or {}
    page_files = sorted(paths.pages.glob("part-*.parquet"))
    statuses = collections.Counter(_column(page_files, "fetch_status"))
    index = read_json(paths.shards_index, {}) or {}
    tokens = _index_tokens(index)
    return {
        "submissions_read": _submissions_read(links_stats),
        "links_kept": _rows(sorted(paths.links.glob("part-*.parquet"))),
        "pages_attempted": sum(statuses.values()),
        "pages_fetched": statuses.get("ok", 0) + statuses.get("extract_empty", 0),
        "pages_extracted": statuses.get("ok", 0),
        "documents_after_clean": _rows(sorted(paths.cleaned.glob("part-*.parquet"))),
        "documents_after_dedup": _rows(sorted(paths.documents.glob("part-*.parquet"))),
        "tokens": tokens.get("total"),
        "tokens_train": tokens.get("train"),
        "tokens_val": tokens.get("val"),
        "fetch_status": dict(sorted(statuses.items())),
        **_sources(page_files, sorted(paths.documents.glob("part-*.parquet"))),
    }


def _sources(page_files: list[Path], doc_files: list[Path]) -> dict[str, Any]:
    """Where the corpus came from: pages extracted and documents kept per `source` (live,
    wayback, commoncrawl), pages recovered from archives, and how far archived documents'
    captures lie from their submission (days, + = after)."""
    pages: collections.Counter = collections.Counter()
    for status, source in zip(_column(page_files, "fetch_status"), _column(page_files, "source"),
                              strict=False):  # fmt: skip
        if status == "ok":
            pages[source or "live"] += 1
    docs = collections.Counter(s or "live" for s in _column(doc_files, "source"))
    ages = _capture_ages(doc_files)
    return {
        "pages_by_source": dict(sorted(pages.items())),
        "pages_recovered": {k: v for k, v in sorted(pages.items()) if k != "live"},
        "documents_by_source": dict(sorted(docs.items())),
        "capture_age_days": _spread(ages),
    }


def _capture_ages(doc_files: list[Path]) -> list[float]:
    ages: list[float] = []
    for f in doc_files:
        names = pq.ParquetFile(f).schema_arrow.names
        if "capture_time" not in names or "source" not in names:
            continue
        t = pq.read_table(f, columns=["source", "capture_time", "first_created_utc"])
        for source, captured, created in zip(t["source"].to_pylist(), t["capture_time"].to_pylist(),
                                             t["first_created_utc"].to_pylist(), strict=True):  # fmt: skip
            if source not in (None, "live") and captured is not None and created is not None:
                ages.append((captured - created) / 86400)
    return ages


def _spread(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"documents": 0}
    v = sorted(values)

    def q(f: float) -> float:
        return round(v[min(len(v) - 1, int(f * (len(v) - 1) + 0.5))], 1)

    return {"documents": len(v), "min": q(0), "p10": q(0.1), "median": q(0.5), "p90": q(0.9),
            "max": q(1)}  # fmt: skip


def _index_tokens(index: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for shard in index.get("shards", []):
        split = shard.get("split", "train")
        out[split] = out.get(split, 0) + int(shard.get("tokens", 0))
    if out:
        out["total"] = sum(out.values())
    return out


def optouts(run_dir: str | Path, top: int = 50) -> dict[str, Any]:
    """Publisher opt-outs from the ledger: counts per kind (`optout:robots_ai`, ...) and the
    `top` domains with the most, per kind."""
    paths = RunPaths.of(run_dir)
    by_kind: collections.Counter = collections.Counter()
    by_domain: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for f in sorted(paths.ledger.glob("*.parquet")) if paths.ledger.is_dir() else []:
        t = pq.read_table(f, columns=["domain", "fate"])
        for d, fate in zip(t["domain"].to_pylist(), t["fate"].to_pylist(), strict=True):
            if fate and fate.startswith("optout:"):
                by_kind[fate] += 1
                by_domain[d or "?"][fate] += 1
    ranked = sorted(by_domain.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:top]
    return {
        "by_kind": dict(sorted(by_kind.items())),
        "by_domain": {d: dict(sorted(c.items())) for d, c in ranked},
    }


def write_stats(run_dir: str | Path, stage_stats: dict[str, Any], fates: dict[str, int]) -> dict:
    paths = RunPaths.of(run_dir)
    funnel = compute_funnel(run_dir)
    stats = {"funnel": funnel, "ledger_fates": fates, "optouts": optouts(run_dir),
             "stages": stage_stats,
             "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    write_json_atomic(paths.stats, stats)
    return stats


def funnel_table(funnel: dict[str, Any]) -> str:
    """The end-of-run summary printed on the terminal."""
    lines = ["", "  stage                  count      of previous"]
    previous = None
    for key, label in FUNNEL_KEYS:
        value = funnel.get(key)
        share = ""
        if key != "tokens" and isinstance(value, int) and previous:
            share = f"{100 * value / previous:6.1f}%"
        lines.append(f"  {label:<20} {value if value is not None else '-':>9}   {share}")
        if key != "tokens" and isinstance(value, int):
            previous = value
    recovered = funnel.get("pages_recovered") or {}
    if recovered:  # fetch.mode archive / live_then_archive
        detail = ", ".join(f"{k} {v}" for k, v in recovered.items())
        lines.append(f"  {'from archives':<20} {sum(recovered.values()):>9}   ({detail})")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- report
def _log_bins(values: list[int], n: int = 16) -> list[tuple[str, float]]:
    values = [v for v in values if v > 0]
    if not values:
        return []
    lo, hi = math.log10(min(values)), math.log10(max(values)) + 1e-9
    width = (hi - lo) / n or 1
    counts = [0] * n
    for v in values:
        counts[min(int((math.log10(v) - lo) / width), n - 1)] += 1
    return [(f"{10 ** (lo + i * width):,.0f}", c) for i, c in enumerate(counts)]


def _language_mix(paths: RunPaths) -> list[tuple[str, float]]:
    langs = collections.Counter(_column(sorted(paths.cleaned.glob("part-*.parquet")), "lang"))
    for f in sorted(paths.dropped.glob("part-*.parquet")):
        t = pq.read_table(f, columns=["reason", "detail"])
        for reason, detail in zip(t["reason"].to_pylist(), t["detail"].to_pylist(), strict=True):
            if reason == "clean:language" and detail:
                match = re.match(r"[a-z]{2,3}(?:-[a-z]+)?", str(detail))
                langs[match.group(0) if match else "unknown"] += 1
    return langs.most_common(15)


def build_report(
    run_dir: str | Path,
    stats: dict[str, Any],
    top: int = 20,
    train_dir: str | Path | None = None,
    examples: int = 3,
) -> Path:
    """report.html: one self-contained page (inline SVG and CSS, no scripts, nothing
    loaded from elsewhere); `train_dir` (default `<run_dir>/train`) holds log.jsonl."""
    paths = RunPaths.of(run_dir)
    funnel = stats["funnel"]
    sections: list[tuple[str, str]] = []

    sections.append(("Funnel", svg.hbar(
        [(label, funnel.get(key) or 0) for key, label in FUNNEL_KEYS if key != "tokens"],
        title="documents through the pipeline")))  # fmt: skip

    page_files = sorted(paths.pages.glob("part-*.parquet"))
    status_counts = funnel.get("fetch_status", {})
    per_domain: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for f in page_files:
        t = pq.read_table(f, columns=["domain", "fetch_status"])
        for d, s in zip(t["domain"].to_pylist(), t["fetch_status"].to_pylist(), strict=True):
            per_domain[d or "?"][s] += 1
    top_domains = sorted(per_domain.items(), key=lambda kv: -sum(kv[1].values()))[:top]
    sections.append(("Fetch outcomes",
        svg.hbar(sorted(status_counts.items(), key=lambda kv: -kv[1]), title="all pages",
                 colors=svg.outcome_colors(sorted(status_counts)))
        + svg.stacked_hbar([(d, dict(c)) for d, c in top_domains], title=f"top {top} domains")))  # fmt: skip

    doc_files = sorted(paths.documents.glob("part-*.parquet"))
    lengths: list[int] = []
    for f in doc_files:
        lengths += pc.utf8_length(pq.read_table(f, columns=["text"])["text"]).to_pylist()
    sections.append(("Sources", _sources_section(funnel, doc_files)))
    sections.append(("Document length",
        svg.histogram(_log_bins(lengths), title="characters per kept document (log bins)")))  # fmt: skip
    sections.append(("Language mix", svg.hbar(_language_mix(paths), title="detected languages")))

    sizes = collections.Counter(_column(doc_files, "cluster_size"))
    sections.append(("Duplicate clusters", svg.histogram(
        [(str(k), v) for k, v in sorted(sizes.items())], title="URLs per kept document")))  # fmt: skip

    domains = collections.Counter(_column(doc_files, "domain")).most_common(top)
    subs = collections.Counter(s for row in _column(doc_files, "subreddits") for s in row or [])
    sections.append(("Kept corpus", svg.hbar(domains, title=f"top {top} domains")
                     + svg.hbar(subs.most_common(top), title=f"top {top} subreddits")))  # fmt: skip

    index = read_json(paths.shards_index, {}) or {}
    shard_rows = [(s.get("file"), s.get("split"), s.get("rows"), s.get("tokens"))
                  for s in index.get("shards", [])]  # fmt: skip
    sections.append(("Tokens", svg.hbar(sorted(_index_tokens(index).items()), title="GPT-2 tokens")
                     + svg.table(["shard", "split", "rows", "tokens"], shard_rows)))  # fmt: skip

    fates = stats.get("ledger_fates", {})
    sections.append(("Ledger", svg.hbar(sorted(fates.items(), key=lambda kv: -kv[1]),
                                        title="fate of every harvested URL",
                                        colors=svg.outcome_colors(sorted(fates)))))  # fmt: skip
    if fates and examples > 0:
        sections.append(("Examples", _examples_section(paths, fates, examples)))

    train_log = Path(train_dir) if train_dir else paths.train_dir()
    curves = _loss_curves(train_log / "log.jsonl")
    if curves:
        sections.insert(1, ("Training loss", curves))

    opt = stats.get("optouts") or optouts(run_dir)
    if opt["by_kind"]:
        sections.append(("Opt-outs", svg.hbar(sorted(opt["by_kind"].items()),
                                               title="URLs publishers opted out, by signal")
            + svg.stacked_hbar(list(opt["by_domain"].items())[:top],
                               title=f"top {top} domains by opt-outs")))  # fmt: skip

    overlap = _overlap_section(paths)
    if overlap:
        sections.append(("Train/test overlap", overlap))
    sections.append(
        ("stats.json", f"<pre>{html.escape(json.dumps(stats, indent=2, default=str))}</pre>")
    )

    page = _page(str(paths.root), sections)
    write_text_atomic(paths.report, page)
    return paths.report


def _sources_section(funnel: dict[str, Any], doc_files: list[Path]) -> str:
    """Live and archived copies: documents kept and pages recovered per source, and the
    spread of capture ages (capture time minus submission time) of archived documents."""
    docs = funnel.get("documents_by_source", {})
    recovered = funnel.get("pages_recovered", {})
    ages = _capture_ages(doc_files)
    bins: list[tuple[str, float]] = []
    if ages:
        lo, hi = math.floor(min(ages)), math.ceil(max(ages)) + 1
        width = max(1, math.ceil((hi - lo) / 12))
        counts = collections.Counter((int(a) - lo) // width for a in ages)
        bins = [(f"{lo + k * width:+d}", counts.get(k, 0)) for k in range((hi - lo) // width + 1)]
    spread = funnel.get("capture_age_days", {})
    rows = [(k, spread[k]) for k in ("documents", "min", "p10", "median", "p90", "max")
            if k in spread]  # fmt: skip
    return (
        svg.hbar(sorted(docs.items(), key=lambda kv: -kv[1]), title="documents by source")
        + svg.hbar(sorted(recovered.items(), key=lambda kv: -kv[1]),
                   title="pages recovered from archives, by source")
        + svg.histogram(bins, title="capture age of archived documents (days after submission)")
        + svg.table(["capture age (days)", "value"], rows)
    )  # fmt: skip


def _loss_curves(log_path: Path) -> str | None:
    """Train and val loss by step from the trainer's log.jsonl (bad lines skipped)."""
    if not log_path.is_file():
        return None
    train, val = [], []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        step = rec.get("step") if isinstance(rec, dict) else None
        if not isinstance(step, int | float):
            continue
        for key, series in (("loss", train), ("val_loss", val)):
            value = rec.get(key)
            if isinstance(value, int | float) and math.isfinite(value):
                series.append((step, float(value)))
    if not train and not val:
        return None
    series = {name: pts for name, pts in (("train loss", train), ("val loss", val)) if pts}
    return svg.line_chart(series, title=f"training log ({log_path})", x_label="step",
                          y_label="cross-entropy (nats/token)")  # fmt: skip


def collect_examples(
    paths: RunPaths, fates: dict[str, int], per_fate: int = 3
) -> dict[str, list[dict[str, Any]]]:
    """Up to `per_fate` URLs of every ledger fate with their page's title, text and error.

    Ledger and pages files share their partition names, so the pages files read are only
    those of the partitions the examples come from (the first ones, in practice)."""
    wanted = {fate: min(per_fate, n) for fate, n in fates.items() if n}
    found: dict[str, list[dict[str, Any]]] = {fate: [] for fate in wanted}
    for ledger_file in sorted(paths.ledger.glob("part-*.parquet")):
        if all(len(found[f]) >= n for f, n in wanted.items()):
            break
        ledger = pq.read_table(ledger_file, columns=["url", "canonical_url", "fate"])
        picked: dict[str, str] = {}
        for url, key, fate in zip(*(ledger[c].to_pylist() for c in ledger.column_names),
                                  strict=True):  # fmt: skip
            if fate in found and len(found[fate]) < wanted[fate]:
                picked[key] = fate
                found[fate].append({"url": url, "canonical_url": key})
        if not picked:
            continue
        pages_file = paths.pages / ledger_file.name
        if not pages_file.exists():
            continue
        names = pq.ParquetFile(pages_file).schema_arrow.names
        columns = [c for c in ("canonical_url", "title", "text", "error", "fetch_status")
                   if c in names]  # fmt: skip
        pages = pq.read_table(pages_file, columns=columns)
        mask = pc.is_in(pages["canonical_url"], value_set=pa.array(list(picked), pa.string()))
        for row in pages.filter(mask).to_pylist():
            for example in found[picked[row["canonical_url"]]]:
                if example["canonical_url"] == row["canonical_url"]:
                    example.update(row)
    return {fate: rows for fate, rows in found.items() if rows}


def _examples_section(paths: RunPaths, fates: dict[str, int], per_fate: int) -> str:
    found = collect_examples(paths, fates, per_fate)
    colors = svg.outcome_colors(sorted(fates))
    order = sorted(found, key=lambda f: (f != "kept", -fates.get(f, 0), f))
    blocks = []
    for fate in order:
        items = []
        for ex in found[fate]:
            text = (ex.get("text") or "").strip()
            snippet = text[:300] + ("…" if len(text) > 300 else "")
            if snippet:
                body = f'<p class="snippet">{html.escape(snippet)}</p>'
            else:
                why = str(ex.get("fetch_status") or "not fetched")
                if ex.get("error"):
                    why += f": {ex['error']}"
                body = f'<p class="snippet none">no text ({html.escape(why)})</p>'
            items.append(
                f"<li><b>{html.escape(ex.get('title') or '(no title)')}</b><br>"
                f"<code>{html.escape(ex.get('url') or '')}</code>{body}</li>"
            )
        blocks.append(
            f'<h3><span class="swatch" style="background:{colors.get(fate, svg.NEUTRAL)}">'
            f"</span>{html.escape(fate)} <small>({fates.get(fate, 0):,} URLs)</small></h3>"
            f'<ul class="examples">{"".join(items)}</ul>'
        )
    intro = (
        "<p>A few URLs of every fate in the ledger (kept first): title, URL and the first "
        "300 characters of the extracted text.</p>"
    )
    return intro + "".join(blocks)


def _overlap_section(paths: RunPaths) -> str | None:
    if not (paths.overlap / "overlap.json").exists():
        return None
    try:
        from webtext.overlap import report_section
    except ImportError:
        return None
    return report_section(paths.root)


def _page(title: str, sections: list[tuple[str, str]]) -> str:
    nav = " · ".join(
        f'<a href="#s{i}">{html.escape(name)}</a>' for i, (name, _) in enumerate(sections)
    )
    body = "\n".join(
        f'<section id="s{i}"><h2>{html.escape(name)}</h2>{content}</section>'
        for i, (name, content) in enumerate(sections)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>webtext run report: {html.escape(title)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #222; }}
h1 {{ font-size: 1.5em; }} h2 {{ border-bottom: 1px solid #ddd; padding-bottom: .2em; }}
svg.chart {{ display: block; margin: .5em 0 1.5em; font-size: 12px; }}
svg .title {{ font-weight: 600; }} svg .tick {{ font-size: 10px; fill: #555; }}
table {{ border-collapse: collapse; margin: .5em 0; }}
td, th {{ border: 1px solid #ddd; padding: 2px 8px; text-align: right; }}
pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }}
.empty {{ color: #888; }}
ul.examples {{ list-style: none; padding-left: 0; }}
ul.examples li {{ border-left: 3px solid #ddd; margin: .6em 0; padding: .2em .8em; }}
.snippet {{ margin: .3em 0; color: #333; white-space: pre-wrap; }} .none {{ color: #888; }}
.swatch {{ display: inline-block; width: .8em; height: .8em; margin-right: .4em; }}
</style></head>
<body>
<h1>webtext run report</h1>
<p>run: <code>{html.escape(title)}</code> · generated {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}</p>
<nav>{nav}</nav>
{body}
</body></html>
"""
