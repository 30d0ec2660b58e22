"""The crawl and extract stages end to end on Ray, against a real local web server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import crawl, extract
from tests.web_server import WebServer, gzipped, page, redirect, slow, status
from webtext.config import build_config
from webtext.paths import RunPaths
from webtext.schemas import LINKS_SCHEMA, PAGES_SCHEMA

REPO = Path(__file__).resolve().parents[1]
ARTICLE = (
    "<html><head><title>{title}</title></head><body><nav>Home | About</nav><article>"
    "<h1>{title}</h1><p>{body}</p><p>The second paragraph of {title} carries more words so "
    "that the extractor keeps it as main text of the article page.</p></article>"
    "<footer>Copyright</footer></body></html>"
)


def article(i: int) -> str:
    body = f"Article number {i} is about the crawler and its many polite habits. " * 6
    return ARTICLE.format(title=f"Story {i}", body=body)


def write_links(run_dir: Path, shards: dict[int, list[str]]) -> None:
    links = RunPaths.of(run_dir).links
    links.mkdir(parents=True, exist_ok=True)
    for index, urls in shards.items():
        rows = [
            {
                "url": u,
                "canonical_url": u.replace("http://", "https://"),
                "domain": "example.org",
                "score": 3 + k,
                "num_submissions": 1,
                "submission_ids": [f"t3_{index}_{k}"],
                "subreddits": ["test"],
                "first_created_utc": 1_500_000_000 + k,
            }
            for k, u in enumerate(urls)
        ]
        pq.write_table(
            pa.Table.from_pylist(rows, schema=LINKS_SCHEMA), links / f"part-{index:05d}.parquet"
        )


def config(run_dir: Path, extract: dict | None = None, **fetch):
    fetch_cfg = dict(
        allow_networks=["127.0.0.1/32"],
        per_host_delay=0.0,
        connect_timeout=1.0,
        read_timeout=1.0,
        deadline=2.0,
        max_retries=1,
        backoff_base=0.05,
        max_bytes=100_000,
        concurrency=4,
    )
    fetch_cfg.update(fetch)
    return build_config(
        {
            "run_dir": str(run_dir),
            "fetch": fetch_cfg,
            "extract": {"extractor": "trafilatura", "timeout": 10, **(extract or {})},
        }
    )


@pytest.fixture(scope="module")
def site():
    with WebServer() as srv:
        srv.route("/robots.txt", page("User-agent: *\nDisallow: /secret\n", "text/plain"))
        for i in range(12):
            srv.route(f"/a{i}", page(article(i)))
        srv.route("/gz", gzipped(article(99)))
        srv.route("/moved", redirect("/a0", 301))
        srv.route("/secret", page(article(7)))
        srv.route("/missing", status(404))
        srv.route("/empty", page("<html><body></body></html>"))
        srv.route("/pdf", page(b"%PDF-1.4 binary", "application/pdf"))
        srv.route("/slow", slow(4.0))
        yield srv


SHARD0 = ["/a0", "/a1", "/a2", "/moved", "/secret", "/missing", "/gz"]
SHARD1 = ["/a3", "/a4", "/empty", "/pdf", "/slow"]


@pytest.mark.ray
def test_crawl_stage_end_to_end_and_rerun(ray_local, site, tmp_path):
    write_links(tmp_path, {0: [site.url(p) for p in SHARD0], 1: [site.url(p) for p in SHARD1]})
    cfg = config(tmp_path, checkpoint_every=3)
    stats = crawl.run(cfg)
    paths = RunPaths.of(tmp_path)
    fetched = pq.read_table(paths.fetched / "part-00000.parquet")
    assert fetched.schema.equals(PAGES_SCHEMA)  # pages rows without the text
    assert set(fetched["text"].to_pylist()) == {None}
    assert stats["status.ok"] == 8 and stats["fetched_now"] == 12  # fetched: "empty" is ok
    extracted = extract.run(cfg)
    assert extracted["from_crawl"] == 12 and extracted["reextracted"] == 0  # no WARC read
    pages = pq.read_table(paths.pages / "part-00000.parquet")
    assert pages.schema.equals(PAGES_SCHEMA)
    rows = {r["url"].rsplit("/", 1)[1]: r for r in pages.to_pylist()}
    assert [r["canonical_url"] for r in pages.to_pylist()] == sorted(
        r["canonical_url"] for r in pages.to_pylist()
    )
    assert rows["a1"]["fetch_status"] == "ok" and "Story 1" in rows["a1"]["text"]
    assert rows["a1"]["title"] == "Story 1" and rows["a1"]["extractor"] == "trafilatura"
    assert rows["a1"]["score"] == 4 and rows["a1"]["submission_ids"] == ["t3_0_1"]
    assert rows["moved"]["fetch_status"] == "ok" and rows["moved"]["final_url"] == site.url("/a0")
    assert rows["secret"]["fetch_status"] == "robots_disallowed"
    assert (rows["missing"]["fetch_status"], rows["missing"]["http_status"]) == ("http_error", 404)
    assert rows["gz"]["fetch_status"] == "ok" and "Story 99" in rows["gz"]["text"]
    other = {
        r["url"].rsplit("/", 1)[1]: r
        for r in pq.read_table(paths.pages / "part-00001.parquet").to_pylist()
    }
    assert other["empty"]["fetch_status"] == "extract_empty"
    assert other["pdf"]["fetch_status"] == "not_html"
    assert other["slow"]["fetch_status"] == "timeout"
    assert site.hits("/secret") == 0

    saved = json.loads(paths.pages_stats.read_text())
    assert saved["total"] == 12 and saved["by_status"]["ok"] == 7
    assert saved["by_domain"]["example.org"]["robots_disallowed"] == 1
    assert extracted["status.ok"] == 7
    assert sorted(p.name for p in paths.warc.glob("*.warc.gz")) == [
        "part-00000-00000.warc.gz",
        "part-00000-00001.warc.gz",
        "part-00000-00002.warc.gz",
        "part-00001-00000.warc.gz",
        "part-00001-00001.warc.gz",
    ]
    assert not list(paths.work.glob("crawl/**/chunk-*"))  # checkpoints gone once recorded

    # the same links again: nothing is fetched, not even robots.txt
    before = site.hits()
    assert crawl.run(cfg)["status.ok"] == 8
    (tmp_path / "_state" / "crawl.json").unlink()  # even without the stage marker
    again = crawl.run(cfg)
    assert again["fetched_now"] == 0 and again["shards_crawled"] == 0
    assert site.hits() == before

    # extraction again from the WARC files alone (the crawl's text gone): same text, no request
    shutil.rmtree(paths.inline_extract)
    shutil.rmtree(paths.state / "extract")
    (paths.state / "extract.json").unlink()
    ex = extract.run(cfg)
    assert ex["missing_warc"] == 0 and ex["reextracted"] == 8 and ex["from_crawl"] == 0
    redone = {
        r["url"].rsplit("/", 1)[1]: r
        for r in pq.read_table(paths.pages / "part-00000.parquet").to_pylist()
    }
    for name, row in rows.items():
        assert redone[name] == row, name
    # other extraction settings: extract reruns from WARC, crawl does not
    other_cfg = config(tmp_path, checkpoint_every=3, extract={"min_chars": 10_000})
    assert crawl.run(other_cfg)["fetched_now"] == 0
    assert extract.run(other_cfg)["status.extract_empty"] == 8
    assert site.hits() == before

    # links of one shard changed (a harvest with other settings): only that shard is
    # crawled again, its old WARC chunks replaced; the other shard is untouched
    shard1 = (paths.fetched / "part-00001.parquet").read_bytes()
    write_links(tmp_path, {0: [site.url(p) for p in SHARD0[:2]], 1: [site.url(p) for p in SHARD1]})
    changed = crawl.run(cfg)
    assert changed["shards_crawled"] == 1 and changed["fetched_now"] == 2
    assert pq.read_table(paths.fetched / "part-00000.parquet").num_rows == 2
    assert (paths.fetched / "part-00001.parquet").read_bytes() == shard1
    assert sorted(p.name for p in paths.warc.glob("part-00000-*.warc.gz")) == [
        "part-00000-00000.warc.gz"
    ]


def test_warc_records_are_readable(site, tmp_path):
    from warcio.archiveiterator import ArchiveIterator

    write_links(tmp_path, {3: [site.url("/gz"), site.url("/moved")]})
    cfg = config(tmp_path)
    crawl.run(cfg, executor="local")
    with open(RunPaths.of(tmp_path).warc / "part-00003-00000.warc.gz", "rb") as fh:
        records = [
            (
                r.rec_type,
                r.rec_headers.get_header("WARC-Target-URI"),
                r.http_headers and r.http_headers.get_statuscode(),
                r.content_stream().read(),
            )
            for r in ArchiveIterator(fh)
        ]
    types = [r[0] for r in records]
    assert types[0] == "warcinfo" and types.count("request") == types.count("response") == 5
    # robots.txt, /.well-known/tdmrep.json, /gz, /moved (301), /a0
    responses = {(uri, code): body for t, uri, code, body in records if t == "response"}
    assert b"Story 99" in responses[(site.url("/gz"), "200")]  # gzip stored, readable
    assert (site.url("/moved"), "301") in responses and (site.url("/a0"), "200") in responses


def _kill_after_first_chunk(run_dir: Path, links: Path) -> None:
    code = (
        "import sys; from pipelines import crawl; from tests.test_crawl import config; "
        "from pathlib import Path; "
        f"crawl.run(config(Path({str(run_dir)!r}), checkpoint_every=4, per_host_delay=0.25), executor='local')"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    crawl_work = RunPaths.of(run_dir).work / "crawl"
    deadline = time.monotonic() + 60
    while not any(crawl_work.glob("crawl/part-00005-*/chunk-00001.parquet")):
        assert proc.poll() is None and time.monotonic() < deadline, "child ended early"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_killed_task_resumes_from_checkpoint(site, tmp_path):
    urls = [site.url(f"/a{i}") for i in range(12)]
    write_links(tmp_path / "killed", {5: urls})
    write_links(tmp_path / "clean", {5: urls})
    links = RunPaths.of(tmp_path / "killed").links / "part-00005.parquet"
    start = site.counts()
    _kill_after_first_chunk(tmp_path / "killed", links)
    mid = site.counts()
    cfg = config(tmp_path / "killed", checkpoint_every=4, per_host_delay=0.0)
    crawl.run(cfg, executor="local")
    end = site.counts()
    stored = 8  # two finished chunks of 4
    fetched_before = sum(mid[f"/a{i}"] - start[f"/a{i}"] for i in range(12))
    refetched = sum(end[f"/a{i}"] - mid[f"/a{i}"] for i in range(12))
    assert fetched_before >= stored
    assert refetched <= 12 - stored  # nothing stored is fetched again
    clean_cfg = config(tmp_path / "clean", checkpoint_every=4)
    crawl.run(clean_cfg, executor="local")
    a = pq.read_table(RunPaths.of(tmp_path / "killed").fetched / "part-00005.parquet").drop(
        ["fetch_ms"]
    )
    b = pq.read_table(RunPaths.of(tmp_path / "clean").fetched / "part-00005.parquet").drop(
        ["fetch_ms"]
    )
    assert a.equals(b) and a.num_rows == 12
    warcs = sorted(p.name for p in RunPaths.of(tmp_path / "killed").warc.iterdir())
    assert warcs == [f"part-00005-0000{c}.warc.gz" for c in range(3)]
