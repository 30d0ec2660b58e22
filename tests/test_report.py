"""report.html: loss curves from train/log.jsonl, axes with counts, outcome colours, example
documents per fate (escaped), one self-contained file, rendered in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext.clean.stage import CLEANED_SCHEMA, DROPPED_SCHEMA
from webtext.io import shard_name, write_parquet_atomic
from webtext.report import svg
from webtext.report.ledger import build_ledger
from webtext.report.run_report import build_report, write_stats
from webtext.schemas import DOCUMENTS_SCHEMA, LINKS_SCHEMA, PAGES_SCHEMA, document_id

HOSTILE = '<script>alert("x")</script><img src="http://evil.example/p.png">'


def _page(i: int, status: str, title: str, text: str) -> dict:
    url = f"https://site{i}.example/a/{i}"
    return {"url": url, "canonical_url": url, "final_url": url, "fetch_status": status,
            "http_status": 200 if status == "ok" else 500, "title": title, "text": text,
            "domain": f"site{i}.example", "score": 10 + i, "subreddits": ["news"],
            "error": None if status == "ok" else "HTTP 500 from upstream"}  # fmt: skip


def make_run(root: Path) -> Path:
    run = root / "run"
    pages = [
        _page(0, "ok", "Kept story", "A kept document about rivers. " * 30),
        _page(1, "ok", HOSTILE, "Body with <b>markup</b> & " + HOSTILE + " end. " * 30),
        _page(2, "ok", "Tiny", "too short"),
        _page(3, "http_error", "", ""),
    ]
    links = [{k: p[k] for k in ("url", "canonical_url", "domain", "score", "subreddits")}
             for p in pages]  # fmt: skip
    write_parquet_atomic(run / "links" / shard_name(0), pa.Table.from_pylist(links, LINKS_SCHEMA))
    write_parquet_atomic(run / "pages" / shard_name(0), pa.Table.from_pylist(pages, PAGES_SCHEMA))
    kept = [{**p, "lang": "en", "lang_prob": 0.99} for p in pages[:2]]
    write_parquet_atomic(run / "cleaned" / shard_name(0),
                         pa.Table.from_pylist(kept, CLEANED_SCHEMA))  # fmt: skip
    dropped = [{"url": pages[2]["url"], "canonical_url": pages[2]["url"],
                "reason": "clean:too_short", "detail": "2 tokens"}]  # fmt: skip
    write_parquet_atomic(run / "dropped" / shard_name(0),
                         pa.Table.from_pylist(dropped, DROPPED_SCHEMA))  # fmt: skip
    docs = [{"id": document_id(p["canonical_url"]), "url": p["url"], "title": p["title"],
             "text": p["text"], "canonical_url": p["canonical_url"], "domain": p["domain"],
             "cluster_size": 1, "subreddits": ["news"]} for p in pages[:2]]  # fmt: skip
    write_parquet_atomic(run / "documents" / shard_name(0),
                         pa.Table.from_pylist(docs, DOCUMENTS_SCHEMA))  # fmt: skip
    log = [{"step": s, "loss": 11.0 - s / 10, "lr": 1e-3} for s in range(1, 41)]
    for rec in log[9::10]:
        rec["val_loss"] = rec["loss"] + 0.1
    lines = [json.dumps(r) for r in log] + ["{not json", json.dumps({"step": 41, "loss": None})]
    (run / "train").mkdir(parents=True)
    (run / "train" / "log.jsonl").write_text("\n".join(lines) + "\n")
    fates = build_ledger(run)
    assert fates == {"clean:too_short": 1, "crawl:http_error": 1, "kept": 2}
    build_report(run, write_stats(run, {}, fates))
    return run


def test_report_has_loss_curves_examples_axes_and_outcome_colours(tmp_path):
    html = (make_run(tmp_path) / "report.html").read_text()
    # one self-contained file: no scripts, nothing loaded from elsewhere
    assert "<script" not in html and not re.search(r'\b(src|href)="(https?:)?//', html)
    assert "<h2>Training loss</h2>" in html and "train loss" in html and "val loss" in html
    chart = html.split("<h2>Training loss</h2>")[1].split("</section>")[0]
    assert chart.count("<polyline") == 2 and chart.count("<circle") == 40 + 4
    assert "step" in chart and "cross-entropy" in chart  # axis labels
    # examples of every fate, kept first, text cut at 300 characters and escaped
    examples = html.split("<h2>Examples</h2>")[1].split("</section>")[0]
    fates = re.findall(r"</span>([\w:]+) <small>", examples)
    assert fates[0] == "kept" and set(fates) == {"kept", "clean:too_short", "crawl:http_error"}
    assert "Kept story" in examples and "https://site0.example/a/0" in examples
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in examples
    assert "HTTP 500 from upstream" in examples  # a failed fetch shows why it has no text
    snippet = re.search(r'<p class="snippet">(A kept document[^<]*)</p>', examples)[1]
    assert len(snippet) == 301 and snippet.endswith("…")
    # ok / kept are green, failures never are
    assert f'fill="{svg.GOOD}"><title>ok: 3</title>' in html
    assert f'fill="{svg.GOOD}"><title>kept: 2</title>' in html
    failed = re.search(r'fill="(#[0-9A-Fa-f]{6})"><title>http_error: 1</title>', html)[1]
    assert failed != svg.GOOD
    # histograms have a y axis with counts
    length = html.split("<h2>Document length</h2>")[1].split("</section>")[0]
    assert re.search(r'class="tick">1</text>', length) and ">count</text>" in length


def test_outcome_colours_and_ticks():
    colors = svg.outcome_colors(["timeout", "ok", "kept", "pending", "http_error"])
    assert colors["ok"] == colors["kept"] == svg.GOOD and colors["pending"] == svg.NEUTRAL
    assert len({colors["timeout"], colors["http_error"], svg.GOOD}) == 3
    assert svg._nice_ticks(27) == [0, 10, 20, 30]
    assert svg._nice_ticks(3) == [0, 1, 2, 3]


def test_report_renders_in_chromium_with_loss_curve_and_examples(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    report = make_run(tmp_path) / "report.html"
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run([*flags, "--dump-dom", report.resolve().as_uri()],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert dom.returncode == 0, dom.stderr[-2000:]
    # the browser's parsed DOM: the chart's lines, the examples, the hostile title as text
    assert dom.stdout.count("<polyline") == 2
    assert dom.stdout.count("<li>") >= 4
    assert "<script>alert" not in dom.stdout and "&lt;script&gt;alert" in dom.stdout
    shot = tmp_path / "report.png"
    proc = subprocess.run([*flags, "--window-size=1000,3000", f"--screenshot={shot}",
                           report.resolve().as_uri()], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert shot.is_file() and shot.stat().st_size > 10_000, proc.stderr[-2000:]


def test_ledger_files_of_links_now_gone_are_removed(tmp_path):
    """Fewer links partitions (or a takedown list that no longer keeps links out): the
    ledger keeps no file for them, so loading ledger/ counts every link once."""
    run = make_run(tmp_path)
    links = pq.read_table(run / "links" / shard_name(0))
    write_parquet_atomic(run / "links" / shard_name(1), links.slice(0, 1))
    write_parquet_atomic(run / "optout" / shard_name(0), links.slice(1, 1))
    build_ledger(run)
    assert sorted(p.name for p in (run / "ledger").iterdir()) == [
        "optout-00000.parquet", shard_name(0), shard_name(1)]  # fmt: skip
    (run / "links" / shard_name(1)).unlink()
    (run / "optout" / shard_name(0)).unlink()
    fates = build_ledger(run)
    assert sorted(p.name for p in (run / "ledger").iterdir()) == [shard_name(0)]
    assert pq.read_table(run / "ledger").num_rows == sum(fates.values()) == 4
