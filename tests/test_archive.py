"""Dead links come back from web archives: a real pywb (CDX API + `id_` replay) and a
Common Crawl-style index + Range file server, all on 127.0.0.1, over WARC files written
here; a real local web server plays the live web whose links died."""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.archiveiterator import ArchiveIterator

from pipelines import crawl, extract
from tests.archive_servers import CommonCrawlLike, Pywb, Snap, pywb_bin, read_cdxj, write_warc
from tests.stage_runs import crawl_and_extract
from tests.web_server import WebServer, can_bind, page, status
from webtext.config import build_config
from webtext.demo.miniweb import BOTWALL, article_text, render_article
from webtext.paths import RunPaths
from webtext.schemas import LINKS_SCHEMA, PAGES_SCHEMA

T0 = 1_483_228_800  # 2017-01-01 00:00 UTC: when most test links were submitted
DAY = 86_400
CC_INDEX = "CC-MAIN-2017-04"
MOVED, MOVED_TO = "http://moved.example/a.html", "https://www.moved.example/a.html"
FAR = "http://far.example/a.html"


def html(marker: str, seed: int) -> bytes:
    """An English article whose text carries `marker` (distinct per seed: no duplicates)."""
    rng = random.Random(seed)
    paras = article_text(rng, 4)
    paras[0] = f"{marker} opens this story. " + paras[0]
    return render_article("archived-site", f"Story {marker}", paras, rng).encode()


@dataclass
class World:
    live: WebServer
    pywb: Pywb
    cc: CommonCrawlLike
    urls: dict[str, str] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    score: dict[str, int] = field(default_factory=dict)

    def wayback(self, **kw) -> dict:
        return {"kind": "wayback", "cdx_url": self.pywb.cdx_url,
                "replay_url": self.pywb.replay_url, "rate_per_s": 200.0, **kw}  # fmt: skip


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    if pywb_bin() is None:
        pytest.skip("pywb is not installed: .ci/run makes .venv-pywb (pip install pywb)")
    if not can_bind("127.0.0.2"):
        pytest.skip("needs 127.0.0.2 on the loopback interface")
    root = tmp_path_factory.mktemp("archives")
    live = WebServer().start()
    u = {name: live.url(f"/{name}.html") for name in (
        "live", "wall", "gone", "multi", "tie", "window", "window2", "old", "moved",
        "nocapture", "cconly", "ccredirect", "cctarget", "syndicated", "noai",
        "loop1", "loop2", "nowhere", "chain0", "chain1", "chain2", "chain3", "bslash",
    )}  # fmt: skip
    u["pdf"] = live.url("/report.pdf")
    u["host"] = f"http://127.0.0.2:{live.port}/host.html"  # nobody listens there
    shared_article = html("shared-article", 1)
    live.route("/live.html", page(shared_article))
    wall = f"<html><head><title>Just a moment...</title></head><body><p>{BOTWALL}</p></body></html>"
    live.route("/wall.html", page(wall))
    live.route("/cconly.html", status(503))
    live.route("/old.html", status(410))
    # every other path answers 404: the dead links
    web = [
        Snap(u["live"], T0, body=html("live-archived", 2)),
        Snap(u["wall"], T0 - 3 * DAY, body=html("wall-real", 3)),
        Snap(u["gone"], T0 - DAY, "404 Not Found", body=b"<html>gone</html>"),
        Snap(u["gone"], T0 + DAY, "404 Not Found", body=b"<html>still gone</html>"),
        Snap(u["multi"], T0 - 200 * DAY, body=html("multi-a", 4)),
        Snap(u["multi"], T0 - 10 * DAY, body=html("multi-b", 5)),
        Snap(u["multi"], T0 + 30 * DAY, body=html("multi-c", 6)),
        Snap(u["multi"], T0 + 400 * DAY, body=html("multi-d", 7)),
        Snap(u["tie"], T0 - 5 * DAY, body=html("tie-before", 8)),
        Snap(u["tie"], T0 + 5 * DAY, body=html("tie-after", 9)),
        Snap(u["window"], T0 + 400 * DAY, body=html("window-far", 10)),
        Snap(u["window2"], T0 + 400 * DAY, body=html("window2-far", 11)),
        Snap(u["old"], T0, "301 Moved Permanently", body=b"", location=u["moved"]),
        Snap(u["moved"], T0 + DAY, body=html("moved-here", 12)),
        Snap(u["pdf"], T0, content_type="application/pdf", body=b"%PDF-1.4\n" + bytes(300)),
        Snap(u["host"], T0 + 2 * DAY, body=html("dead-host", 13)),
        Snap(u["syndicated"], T0, body=shared_article),
        Snap(
            u["noai"],
            T0,
            body=html("no-ai", 16).replace(b"<head>", b'<head><meta name="robots" content="noai">'),
        ),
        # archived redirects: a loop, a target never captured, a chain, a backslash path
        Snap(u["loop1"], T0, "302 Found", body=b"", location="/loop2.html"),
        Snap(u["loop2"], T0, "302 Found", body=b"", location=u["loop1"]),
        Snap(u["nowhere"], T0, "301 Moved Permanently", body=b"", location="/nocapture.html"),
        Snap(u["chain0"], T0, "302 Found", body=b"", location="/chain1.html"),
        Snap(u["chain1"], T0, "302 Found", body=b"", location="/chain2.html#top"),
        Snap(u["chain2"], T0, "302 Found", body=b"", location="chain3.html"),
        Snap(u["chain3"], T0 + DAY, body=html("chain-end", 17)),
        Snap(u["bslash"], T0, "302 Found", body=b"", location="\\chain3.html"),
        # a site that moved to https and to www: the index answers every variant of the URL
        Snap(MOVED, T0, "301 Moved Permanently", body=b"", location=MOVED_TO),
        Snap(MOVED_TO, T0 + 3 * DAY, body=html("moved-https", 18)),
        Snap(FAR, T0, "301 Moved Permanently", body=b"", location=FAR.replace("http:", "https:")),
        Snap(FAR.replace("http:", "https:"), T0 + 400 * DAY, body=html("far-https", 19)),
    ]
    commoncrawl = [
        Snap(u["cconly"], T0 + DAY, body=html("cc-only", 14)),
        Snap(u["ccredirect"], T0, "302 Found", body=b"", location="/cctarget.html"),
        Snap(u["cctarget"], T0 + 2 * DAY, body=html("cc-target", 15)),
        Snap(u["gone"], T0, "404 Not Found", body=b"<html>gone</html>"),
    ]
    write_warc(root / "src" / "web.warc.gz", web)
    write_warc(root / "src" / "cc.warc.gz", commoncrawl)
    pywb = Pywb(root / "pywb", {"web": [root / "src" / "web.warc.gz"],
                                "cc": [root / "src" / "cc.warc.gz"]}, "web")  # fmt: skip
    cc = CommonCrawlLike(CC_INDEX, read_cdxj(pywb.index_of("cc")), pywb.archive_of("cc"))
    w = World(live, pywb, cc, u)
    for name in u:
        w.created[name] = T0
        w.score[name] = 10
    w.created["window2"] = T0 + 100 * DAY  # its far capture is 300 days away: inside
    w.score["syndicated"] = 500  # more karma than the live copy of the same article
    yield w
    cc.stop()
    pywb.stop()
    live.stop()


def write_links(run_dir: Path, world: World, names: list[str]) -> Path:
    rows = [
        {
            "url": world.urls[n], "canonical_url": world.urls[n], "domain": "example.org",
            "score": world.score[n], "num_submissions": 1, "submission_ids": [f"t3_{n}"],
            "subreddits": ["test"], "first_created_utc": world.created[n],
        }
        for n in names
    ]  # fmt: skip
    links = RunPaths.of(run_dir).links
    links.mkdir(parents=True, exist_ok=True)
    path = links / "part-00000.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=LINKS_SCHEMA), path)
    return path


def config(run_dir: Path, world: World, mode: str, sources=None, fetch=None, **archive):
    return build_config({
        "run_dir": str(run_dir),
        "fetch": {"allow_networks": ["127.0.0.0/8"], "per_host_delay": 0.0,
                  "per_host_concurrency": 4, "max_retries": 0, "backoff_base": 0.05,
                  "connect_timeout": 2.0, "read_timeout": 5.0, "deadline": 10.0,
                  "mode": mode, **(fetch or {})},
        "extract": {"extractor": "trafilatura", "isolation": "inline"},
        "archive": {"sources": sources if sources is not None
                    else [world.wayback(), world.cc.source()], **archive},
        "clean": {"languages": ["en"], "min_tokens": 50},
        "dedup": {"execution": "local"},
    })  # fmt: skip


def crawl_rows(cfg, links: Path, world: World) -> dict[str, dict]:
    """Crawl the links shard in this process; pages rows by link name."""
    crawl_and_extract(cfg)
    table = pq.read_table(RunPaths.of(cfg.run_dir).pages / "part-00000.parquet")
    assert table.schema.equals(PAGES_SCHEMA)
    names = {url: name for name, url in world.urls.items()}
    return {names[r["url"]]: r for r in table.to_pylist()}


ALL = ["live", "wall", "gone", "multi", "tie", "window", "window2", "old", "pdf", "host",
       "nocapture", "cconly", "ccredirect", "syndicated"]  # fmt: skip


# ---------------------------------------------------------------- live_then_archive
def test_live_then_archive_recovers_dead_links_closest_to_submission(world, tmp_path):
    links = write_links(tmp_path, world, ALL)
    rows = crawl_rows(config(tmp_path, world, "live_then_archive"), links, world)

    def recovered(name: str, source: str, when: int, marker: str) -> dict:
        r = rows[name]
        assert (r["fetch_status"], r["source"]) == ("ok", source), (name, r["error"])
        assert r["capture_time"] == when, name
        assert marker in r["text"], name
        return r

    live = rows["live"]
    assert (live["fetch_status"], live["source"], live["archive_url"]) == ("ok", "live", None)
    assert "shared-article" in live["text"] and live["capture_time"] is None
    # a bot wall served live: the archived article instead
    r = recovered("wall", "wayback", T0 - 3 * DAY, "wall-real")
    assert "bot wall" in r["error"]
    # four captures: the one 10 days before the submission, not 30 days after
    r = recovered("multi", "wayback", T0 - 10 * DAY, "multi-b")
    assert (
        r["archive_url"]
        == f"{world.pywb.replay_url}/{time.strftime('%Y%m%d%H%M%S', time.gmtime(T0 - 10 * DAY))}id_/{world.urls['multi']}"
    )
    assert "live: HTTP 404" in r["error"]
    recovered("tie", "wayback", T0 - 5 * DAY, "tie-before")  # 5 days either side: earlier
    recovered("window2", "wayback", T0 + 400 * DAY, "window2-far")  # 300 days from its post
    r = recovered("old", "wayback", T0 + DAY, "moved-here")  # archived 301 followed
    assert r["final_url"] == world.urls["moved"]
    recovered("host", "wayback", T0 + 2 * DAY, "dead-host")  # connection refused live
    recovered("syndicated", "wayback", T0, "shared-article")
    # the second source answers what the first does not have, redirects included
    r = recovered("cconly", "commoncrawl", T0 + DAY, "cc-only")
    assert r["archive_url"].startswith(f"{world.cc.data.origin}/cc.warc.gz#bytes=")
    r = recovered("ccredirect", "commoncrawl", T0 + 2 * DAY, "cc-target")
    assert r["final_url"] == world.urls["cctarget"]
    # only 404 captures, only a PDF, only a capture 400 days away, none at all
    for name, why in [("gone", "status 404"), ("pdf", "type application/pdf"),
                      ("window", "no capture within 365 days of 2017-01-01"),
                      ("nocapture", "no capture within 365")]:  # fmt: skip
        r = rows[name]
        assert r["fetch_status"] == "archive_miss", (name, r)
        assert why in r["error"] and r["http_status"] == 404 and r["text"] is None, name
        assert r["source"] is None and r["capture_time"] is None
    # archive responses are in the same WARC files, under the URL they were read from
    paths = RunPaths.of(tmp_path)
    targets = set()
    for warc in paths.warc.glob("part-00000-*.warc.gz"):
        with open(warc, "rb") as fh:
            targets |= {rec.rec_headers.get_header("WARC-Target-URI")
                        for rec in ArchiveIterator(fh) if rec.rec_type == "response"}  # fmt: skip
    assert rows["multi"]["archive_url"] in targets and rows["cconly"]["archive_url"] in targets
    assert any(t.startswith(world.pywb.cdx_url) for t in targets)
    # ... so `webtext extract` redoes archived pages from the WARC files alone
    import shutil

    from pipelines import extract

    pages_path = paths.pages / "part-00000.parquet"
    shutil.rmtree(paths.inline_extract)  # not the crawl's text: the WARC's
    shutil.rmtree(paths.state / "extract")
    (paths.state / "extract.json").unlink()
    counts = extract.run(config(tmp_path, world, "live_then_archive"), executor="local")
    fetched = sum(r["fetch_status"] in ("ok", "extract_empty") for r in rows.values())
    assert counts["missing_warc"] == 0 and counts["reextracted"] == fetched
    again = {r["url"]: r for r in pq.read_table(pages_path).to_pylist()}
    for name in ("multi", "old", "cconly", "ccredirect", "wall"):
        assert again[world.urls[name]]["text"] == rows[name]["text"], name


def test_botwall_settings_decide_which_copy_live_then_archive_keeps(world, tmp_path):
    """`clean.botwall` decides whether a live bot wall is a dead link: with live_then_archive
    a change refetches (the live wall is kept once bot walls are not judged), with live
    fetching it is no crawl setting (no request)."""
    write_links(tmp_path, world, ["live", "wall"])
    cfg = config(tmp_path, world, "live_then_archive")
    no_wall = build_config({**cfg.model_dump(mode="json"),
                            "clean": {**cfg.clean.model_dump(mode="json"), "botwall": False}})  # fmt: skip
    names = {url: name for name, url in world.urls.items()}

    def rows() -> dict[str, dict]:
        table = pq.read_table(RunPaths.of(tmp_path).pages / "part-00000.parquet")
        return {names[r["url"]]: r for r in table.to_pylist()}

    crawl_and_extract(cfg)
    assert rows()["wall"]["source"] == "wayback"
    before = world.live.hits("/wall.html")
    crawl_and_extract(no_wall)
    assert world.live.hits("/wall.html") > before  # fetched again
    wall = rows()["wall"]
    assert (wall["fetch_status"], wall["source"]) == ("ok", "live") and "Just a moment" in wall["title"]
    live = tmp_path / "live"
    write_links(live, world, ["live", "wall"])
    crawl_and_extract(config(live, world, "live"))
    before = world.live.hits()
    crawl_and_extract(build_config({**config(live, world, "live").model_dump(mode="json"),
                                    "clean": {"botwall": False}}))  # fmt: skip
    assert world.live.hits() == before


def test_target_date_and_distance_window(world, tmp_path):
    links = write_links(tmp_path, world, ["multi", "tie", "window2"])
    # a fixed snapshot date: 2017-02-04 is 4 days from the +30-day capture of multi
    cfg = config(tmp_path, world, "archive", sources=[world.wayback()], target_date="2017-02-04")
    rows = crawl_rows(cfg, links, world)
    assert rows["multi"]["capture_time"] == T0 + 30 * DAY and "multi-c" in rows["multi"]["text"]
    assert rows["tie"]["capture_time"] == T0 + 5 * DAY  # 29 vs 39 days: the later is closer
    # its only capture is 366 days after 2017-02-04 (its own submission date no longer counts)
    assert rows["window2"]["fetch_status"] == "archive_miss"
    # a narrow window: captures 10 days away are out at 9 days, in at 10
    for days, expected in [(9, "archive_miss"), (10, "ok")]:
        run_dir = tmp_path / f"w{days}"
        links = write_links(run_dir, world, ["multi"])
        cfg = config(run_dir, world, "archive", sources=[world.wayback()], max_distance_days=days)
        assert crawl_rows(cfg, links, world)["multi"]["fetch_status"] == expected, days


# ------------------------------------------------------------- archive mode, reruns
@pytest.mark.ray
def test_archive_mode_asks_no_live_host_and_a_rerun_asks_no_cdx(ray_local, world, tmp_path):
    names = ["live", "multi", "tie", "gone", "old", "cconly", "nocapture", "noai"]
    write_links(tmp_path, world, names)
    cfg = config(tmp_path, world, "archive")
    live_before, cdx_before = world.live.hits(), world.pywb.cdx_requests()
    cc_before = world.cc.index.hits()
    stats = {**crawl.run(cfg), **extract.run(cfg)}
    assert world.live.hits() == live_before  # counted at the live server: not one request
    asked = world.pywb.cdx_requests() - cdx_before
    assert asked >= len(names) and world.cc.index.hits() > cc_before
    pages = {
        r["url"]: r
        for r in pq.read_table(RunPaths.of(tmp_path).pages / "part-00000.parquet").to_pylist()
    }
    live = pages[world.urls["live"]]
    assert (live["fetch_status"], live["source"]) == ("ok", "wayback")  # the archived copy
    assert "live-archived" in live["text"]
    assert pages[world.urls["gone"]]["fetch_status"] == "archive_miss"
    assert pages[world.urls["cconly"]]["source"] == "commoncrawl"
    # an archived copy that opts out of AI training is refused like a live one
    noai = pages[world.urls["noai"]]
    assert (noai["fetch_status"], noai["text"], noai["source"]) == ("optout:noai", None, "wayback")
    assert stats["status.archive_miss"] == 2 and stats["status.ok"] == 5

    # the finished stage rerun: nothing asked of anybody
    seen = (world.pywb.cdx_requests(), world.pywb.replay_requests(), world.cc.index.hits(),
            world.cc.data.hits(), world.live.hits())  # fmt: skip
    crawl.run(cfg)
    assert (world.pywb.cdx_requests(), world.pywb.replay_requests(), world.cc.index.hits(),
            world.cc.data.hits(), world.live.hits()) == seen  # fmt: skip
    # an extraction setting: extract reruns from the WARC files, nobody is asked anything
    cfg_x = build_config({**json.loads(cfg.model_dump_json()), "extract": {
        "extractor": "trafilatura", "isolation": "inline", "min_chars": 2}})  # fmt: skip
    crawl.run(cfg_x)
    assert extract.run(cfg_x)["reextracted"] == 5
    assert (world.pywb.cdx_requests(), world.pywb.replay_requests(), world.cc.index.hits(),
            world.cc.data.hits(), world.live.hits()) == seen  # fmt: skip
    # a setting that redoes the shard: the captures are fetched again, the CDX answers are
    # the run's (cached on disk), not asked again
    cfg2 = build_config({**json.loads(cfg.model_dump_json()), "fetch": {
        **json.loads(cfg.fetch.model_dump_json()), "max_redirects": 4}})  # fmt: skip
    crawl.run(cfg2)
    extract.run(cfg2)
    assert world.pywb.cdx_requests() == seen[0] and world.cc.index.hits() == seen[2]
    assert world.pywb.replay_requests() > seen[1] and world.cc.data.hits() > seen[3]
    assert world.live.hits() == live_before
    again = {
        r["url"]: r
        for r in pq.read_table(RunPaths.of(tmp_path).pages / "part-00000.parquet").to_pylist()
    }
    assert {u: (r["fetch_status"], r["capture_time"]) for u, r in again.items()} == {
        u: (r["fetch_status"], r["capture_time"]) for u, r in pages.items()
    }


# ----------------------------------------------------------------- politeness
def _max_in_window(times: list[float], width: float = 1.0) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi in range(len(times)):
        while times[hi] - times[lo] >= width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _archive_fetcher(world: World, tmp_path: Path, source: dict, work: Path | None = None):
    from webtext.fetch import Fetcher
    from webtext.fetch.archive import ArchiveFetcher

    cfg = config(tmp_path, world, "archive", sources=[source])
    fetcher = Fetcher(cfg.fetch)
    return fetcher, ArchiveFetcher(fetcher, cfg.archive, work or tmp_path / "work")


def test_rate_limit_holds_at_the_archive_server(world, tmp_path):
    """A burst of lookups from two clients (separate objects, one run folder) at 4 req/s:
    the index and data servers together never see more than 4 in any second."""
    from webtext.fetch.archive.step import archive_pass

    rate = 4.0
    source = world.cc.source(rate_per_s=rate, concurrency=4)
    urls = [world.urls[n] for n in ("cconly", "ccredirect", "gone", "nocapture", "live")]
    start = time.monotonic()
    clients = [_archive_fetcher(world, tmp_path, source) for _ in range(2)]
    results: list = []

    def burst(client) -> None:
        items = [(i, u, T0) for i, u in enumerate(urls)]
        results.extend(r for _, r in archive_pass(client[1], items))

    threads = [threading.Thread(target=burst, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for fetcher, _ in clients:
        fetcher.close()
    times = [t for t in world.cc.request_times() if t >= start]
    assert len(times) >= 14  # both clients asked (the second from the shared CDX cache less)
    assert _max_in_window(times) <= rate, _max_in_window(times)
    assert np.diff(sorted(times)).mean() >= 1 / rate  # evenly spaced, not in bursts
    ok = [r for r in results if r.status == "ok"]
    assert {r.source for r in ok} == {"commoncrawl"} and len(ok) == 4


def test_429_with_retry_after_is_honoured(world, tmp_path):
    """The index answers 429 + Retry-After: 1 twice; the client waits a second each time,
    then gets its capture."""
    pending = [1.0, 1.0]
    lock = threading.Lock()

    def throttle() -> float | None:
        with lock:
            return pending.pop(0) if pending else None

    pywb = world.pywb
    cc = CommonCrawlLike(CC_INDEX, read_cdxj(pywb.index_of("cc")), pywb.archive_of("cc"),
                         throttle=throttle)  # fmt: skip
    try:
        fetcher, archive = _archive_fetcher(
            world, tmp_path, cc.source(rate_per_s=50.0), tmp_path / "w429"
        )
        cfg_retries = fetcher.cfg.model_copy(update={"max_retries": 3})
        archive.fcfg = cfg_retries
        result = archive.fetch(world.urls["cconly"], T0)
        fetcher.close()
        times = [t for _, t, _ in cc.index.log]
        assert result.status == "ok" and "cc-only" in (result.html or "")
        # 429, 429, 200 for the page, then the lookup of its archived robots.txt (no live
        # host answered for it: see webtext/fetch/archive/consent.py)
        assert len(times) == 4
        assert times[1] - times[0] >= 1.0 and times[2] - times[1] >= 1.0
        statuses = [e.status for e in result.exchanges]
        assert statuses[:3] == [429, 429, 200]  # the refusals are in the WARC too
    finally:
        cc.stop()


def test_archives_pass_the_same_guard_and_limits(world, tmp_path):
    """An archive on a refused address is never contacted; a capture over max_bytes is
    not read whole."""
    from webtext.fetch import Fetcher
    from webtext.fetch.archive import ArchiveFetcher

    cfg = config(tmp_path, world, "archive", sources=[world.wayback()],
                 fetch={"allow_networks": []})  # fmt: skip
    before = world.pywb.cdx_requests()
    with Fetcher(cfg.fetch) as fetcher:
        result = ArchiveFetcher(fetcher, cfg.archive, None).fetch(world.urls["multi"], T0)
    assert result.status == "blocked_address" and "127.0.0.1" in result.error
    assert world.pywb.cdx_requests() == before
    cfg = config(tmp_path, world, "archive", sources=[world.wayback(), world.cc.source()],
                 fetch={"max_bytes": 2048})  # fmt: skip
    with Fetcher(cfg.fetch) as fetcher:
        archive = ArchiveFetcher(fetcher, cfg.archive, None)
        big = archive.fetch(world.urls["multi"], T0)
        big_cc = archive.fetch(world.urls["cconly"], T0)
    assert big.status == "archive_miss" and "over 2048 bytes" in big.error
    assert big_cc.status == "archive_miss" and "over 2048 bytes" in big_cc.error


# ------------------------------------------------------------ provenance downstream
@pytest.mark.ray
def test_provenance_in_documents_ledger_stats_and_report(ray_local, world, tmp_path):
    from pipelines import clean, dedup
    from webtext.report.ledger import build_ledger
    from webtext.report.run_report import build_report, write_stats

    names = ["live", "syndicated", "multi", "tie", "old", "cconly", "gone", "nocapture"]
    links = write_links(tmp_path, world, names)
    cfg = config(tmp_path, world, "live_then_archive")
    crawl_rows(cfg, links, world)
    stage_stats = {"clean": clean.run(cfg), "dedup": dedup.run(cfg)}
    paths = RunPaths.of(tmp_path)
    docs = {r["url"]: r for r in pq.read_table(paths.documents).to_pylist()}
    for name in ("multi", "tie", "old", "cconly", "live"):
        assert world.urls[name] in docs, name
    multi = docs[world.urls["multi"]]
    assert (multi["source"], multi["capture_time"]) == ("wayback", T0 - 10 * DAY)
    assert multi["archive_url"].endswith("id_/" + world.urls["multi"])
    assert docs[world.urls["cconly"]]["source"] == "commoncrawl"
    # the same article live and from the archive: the live copy survives although the
    # archived one has more karma, and only one of them
    live = docs[world.urls["live"]]
    assert live["source"] == "live" and live["archive_url"] is None
    assert world.urls["syndicated"] not in docs
    assert world.urls["syndicated"] in live["urls"] and live["cluster_size"] == 2

    fates = build_ledger(tmp_path)
    ledger = {r["url"]: r for r in pq.read_table(paths.ledger).to_pylist()}
    assert {"source", "capture_time", "archive_url"} <= set(pq.read_schema(
        paths.ledger / "part-00000.parquet").names)  # fmt: skip
    assert ledger[world.urls["multi"]]["source"] == "wayback"
    assert ledger[world.urls["multi"]]["archive_url"] == multi["archive_url"]
    assert ledger[world.urls["gone"]]["fate"] == "crawl:archive_miss"
    assert ledger[world.urls["syndicated"]]["fate"] == "dedup:exact_duplicate"
    assert fates["crawl:archive_miss"] == 2

    stats = write_stats(tmp_path, stage_stats, fates)
    funnel = json.loads(paths.stats.read_text())["funnel"]
    assert funnel == json.loads(json.dumps(stats["funnel"]))
    assert funnel["pages_recovered"] == {"commoncrawl": 1, "wayback": 4}
    assert funnel["documents_by_source"] == {"commoncrawl": 1, "live": 1, "wayback": 3}
    ages = funnel["capture_age_days"]
    assert ages["documents"] == 4 and ages["min"] == -10 and ages["max"] == 1
    report = build_report(tmp_path, stats).read_text()
    assert "documents by source" in report and "pages recovered from archives" in report
    assert "commoncrawl" in report and "capture age of archived documents" in report


# ----------------------------------------------------------------------- units
def test_cdx_answers_in_every_format_and_the_choice_of_capture():
    from webtext.fetch.archive.capture import parse_cdx, rank

    ia = json.dumps([
        ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"],
        ["org,x)/a", "20161222000000", "http://x.org/a", "text/html", "200", "D1", "10"],
        ["org,x)/a", "20170110000000", "http://x.org/a", "text/html", "200", "D2", "10"],
        ["org,x)/a", "20170101000000", "http://x.org/a", "warc/revisit", "-", "D3", "10"],
    ])  # fmt: skip
    lines = (
        '{"urlkey": "org,x)/a", "timestamp": "20170102000000", "url": "http://x.org/a", '
        '"mime": "text/html", "mime-detected": "application/pdf", "status": "200"}\n'
        'org,x)/a 20170103000000 {"url": "http://x.org/a", "mime": "text/html", '
        '"status": "302", "redirect": "http://x.org/b"}\n'
        "org,x)/a 20170104000000 http://x.org/a text/html 404 D4 10\n"
        "not a capture line\n"
    )
    caps, bad = parse_cdx(ia)
    assert bad == 0 and [c.status for c in caps] == [200, 200, None]
    caps2, bad2 = parse_cdx(lines)
    assert bad2 == 1 and [c.status for c in caps2] == [200, 302, 404]
    assert caps2[0].unusable_reason() == "type application/pdf"  # sniffed type wins
    assert caps2[1].redirect == "http://x.org/b" and caps2[2].unusable_reason() == "status 404"
    target = 1_483_228_800
    order = rank(caps + caps2, target, 30 * 86400)
    # usable ones only (200 HTML or a redirect), closest first: 2, 9 and 10 days away
    assert [c.timestamp for c in order] == ["20170103000000", "20170110000000", "20161222000000"]
    assert rank(caps, target, 5 * 86400) == []


def test_survivor_prefers_the_live_copy_when_asked():
    from dedup.unionfind import choose_survivors

    ids = np.array([1, 2, 3])
    roots = np.array([1, 1, 1])
    score = np.array([5, 900, 50])
    created = np.zeros(3, dtype=np.int64)
    key = np.array([1, 2, 3], dtype=np.uint64)
    live = np.array([0, 0, 1], dtype=np.int8)
    assert choose_survivors(ids, roots, score, created, key, live).tolist() == [3, 3, 3]
    assert choose_survivors(ids, roots, score, created, key).tolist() == [2, 2, 2]


def test_redirect_locations_of_both_archive_kinds():
    from webtext.fetch.archive.client import _unwrap

    replay = "https://web.archive.org/web"
    here = f"{replay}/20170101000000id_/http://a.org/old"
    # the Wayback Machine points into itself; pywb passes the original Location through
    assert _unwrap(replay, here, "http://a.org/old",
                   f"{replay}/20170102000000id_/http://a.org/new") == (
        "http://a.org/new", "20170102000000")  # fmt: skip
    assert _unwrap(replay, here, "http://a.org/old", "http://b.org/x") == ("http://b.org/x", None)
    assert _unwrap(replay, here, "http://a.org/old", "/x") == ("http://a.org/x", None)


def test_archive_config_is_validated_up_front():
    from webtext.config import ConfigError

    cfg = build_config({"fetch": {"mode": "live_then_archive"}})
    assert [s.kind for s in cfg.archive.sources] == ["wayback", "commoncrawl"]
    assert cfg.archive.sources[1].indexes == ["CC-MAIN-2017-51"]
    assert cfg.archive.max_distance_days == 365 and cfg.archive.target_date is None
    for bad, words in [
        ({"fetch": {"mode": "cache"}}, "fetch.mode"),
        ({"archive": {"sources": [{"kind": "wayback", "cdx_url": "http://a/cdx"}]}},
         "replay_url"),
        ({"archive": {"sources": [{"kind": "commoncrawl", "cdx_url": "http://a",
                                   "data_url": "http://d"}]}}, "indexes"),
        ({"archive": {"sources": [{"kind": "wayback", "cdx_url": "ftp://a",
                                   "replay_url": "http://a"}]}}, "http(s)"),
        ({"archive": {"target_date": "last year"}}, "archive.target_date"),
        ({"archive": {"sources": [{"kind": "ia", "cdx_url": "http://a"}]}}, "kind"),
    ]:  # fmt: skip
        with pytest.raises(ConfigError, match=None) as err:
            build_config(bad)
        assert words in str(err.value), (bad, str(err.value))


def test_archived_redirect_targets_are_read_by_the_one_url_parser():
    """An archived Location means what the live fetcher would make of it (webtext.uri):
    backslashes, fragments, dot segments, userinfo and case as a browser reads them; a
    non-http target is refused with a reason, never looked up."""
    from webtext.fetch.archive.client import _unwrap
    from webtext.uri import BadUrl

    replay = "https://web.archive.org/web"
    here = f"{replay}/20170101000000id_/http://a.org/old"
    for location, target in [
        ("\\\\b.org\\x", "http://b.org/x"),
        ("/x#top", "http://a.org/x"),
        ("http://a.org/./y/../new", "http://a.org/new"),
        ("HTTP://A.ORG/new", "http://a.org/new"),
        ("http://user:pw@b.org/x", "http://b.org/x"),
        (f"{replay}/20170102000000id_/http://u@A.org/y/../new#f", "http://a.org/new"),
    ]:
        assert _unwrap(replay, here, "http://a.org/old", location)[0] == target, location
    with pytest.raises(BadUrl):
        _unwrap(replay, here, "http://a.org/old", "javascript:alert(1)")


def test_cdx_rows_in_either_naming_and_unknown_types():
    """NDJSON rows may name fields as the Wayback Machine does (original/mimetype/
    statuscode); a capture whose type the archive did not record ("unk", Common Crawl's
    sniffed `mime-detected` HTML) is a candidate, as a live page without Content-Type is
    (its bytes are sniffed on replay); a known non-HTML type is not."""
    from webtext.fetch.archive.capture import parse_cdx

    text = "\n".join(json.dumps(row) for row in [
        {"original": "http://x.org/a", "timestamp": "20170101000000", "statuscode": "200",
         "mimetype": "text/html; charset=utf-8"},
        {"url": "http://x.org/a", "timestamp": "20170102000000", "status": "200",
         "mime": "unk", "mime-detected": "text/html"},
        {"url": "http://x.org/a", "timestamp": "20170103000000", "status": "200",
         "mime": "unk"},
        {"url": "http://x.org/a", "timestamp": "20170104000000", "status": "200",
         "mime": "unk", "mime-detected": "application/pdf"},
        {"url": "http://x.org/a", "timestamp": "20170105000000", "status": "200",
         "mime": "application/XHTML+xml"},
    ])  # fmt: skip
    caps, bad = parse_cdx(text)
    assert bad == 0 and [c.url for c in caps] == ["http://x.org/a"] * 5
    assert [c.unusable_reason() for c in caps] == [
        None, None, None, "type application/pdf", None]  # fmt: skip


def test_short_cdx_timestamps_mean_their_earliest_second():
    from webtext.fetch.archive.capture import format_timestamp, parse_timestamp

    for short, full in [("2017", "20170101000000"), ("20171", "20171001000000"),
                        ("201703", "20170301000000"), ("2017031", "20170310000000"),
                        ("2017030", "20170301000000"), ("20170305", "20170305000000"),
                        ("2017030512", "20170305120000"), ("20170305123", "20170305123000")]:  # fmt: skip
        assert format_timestamp(parse_timestamp(short)) == full, short


def test_archived_redirect_chains_loops_and_limits(world, tmp_path):
    """Archived redirects through a real pywb: followed hop by hop up to fetch.max_redirects
    (relative, fragment and backslash Locations read as the live fetcher reads them); a
    loop, a target nobody captured and a chain past the limit end as archive_miss with the
    reason."""
    from webtext.fetch import Fetcher
    from webtext.fetch.archive import ArchiveFetcher

    def fetch(name: str, max_redirects: int):
        cfg = config(tmp_path, world, "archive", sources=[world.wayback()],
                     fetch={"max_redirects": max_redirects})  # fmt: skip
        with Fetcher(cfg.fetch) as fetcher:
            return ArchiveFetcher(fetcher, cfg.archive, None).fetch(world.urls[name], T0)

    end = fetch("chain0", 3)
    assert end.status == "ok" and "chain-end" in end.html, end.error
    assert end.final_url == world.urls["chain3"] and end.capture_time == T0 + DAY
    slash = fetch("bslash", 1)
    assert slash.status == "ok" and slash.final_url == world.urls["chain3"], slash.error
    far = fetch("chain0", 2)
    assert far.status == "archive_miss" and "more than 2 archived redirects" in far.error
    loop = fetch("loop1", 5)
    assert loop.status == "archive_miss" and "loop" in loop.error, loop.error
    nowhere = fetch("nowhere", 5)
    assert nowhere.status == "archive_miss" and "nocapture.html" in nowhere.error


def test_commoncrawl_data_url_passes_the_guard(world, tmp_path):
    """The index may be allowed and the WARC data host not: the range request is refused
    before connecting (blocked_address), never read."""
    from webtext.fetch import Fetcher
    from webtext.fetch.archive import ArchiveFetcher

    source = {**world.cc.source(), "data_url": f"http://127.0.0.3:{world.live.port}"}
    cfg = config(tmp_path, world, "archive", sources=[source],
                 fetch={"allow_networks": ["127.0.0.1/32"]})  # fmt: skip
    with Fetcher(cfg.fetch) as fetcher:
        result = ArchiveFetcher(fetcher, cfg.archive, None).fetch(world.urls["cconly"], T0)
    assert result.status == "blocked_address" and "127.0.0.3" in result.error, result.error


def test_429_at_the_data_server_and_an_index_that_keeps_refusing(world, tmp_path):
    """Retry-After holds for the WARC range requests as for the index; an index still
    answering 429 when the retries run out is a failure (http_error), not archive_miss,
    and its answer is not cached: the next run asks again."""
    from tests.archive_servers import range_route

    pywb = world.pywb
    refusals = ["1"]
    cc = CommonCrawlLike(CC_INDEX, read_cdxj(pywb.index_of("cc")), pywb.archive_of("cc"))
    serve = range_route(pywb.archive_of("cc"))

    def throttled(h) -> None:
        if refusals:
            h.send_response(429)
            h.send_header("Retry-After", str(refusals.pop()))
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        serve(h)

    cc.data.default = throttled
    try:
        fetcher, archive = _archive_fetcher(world, tmp_path, cc.source(), tmp_path / "wd")
        archive.fcfg = fetcher.cfg.model_copy(update={"max_retries": 2})
        result = archive.fetch(world.urls["cconly"], T0)
        fetcher.close()
        data_times = sorted(t for _, t, _ in cc.data.log)
        assert result.status == "ok" and "cc-only" in (result.html or ""), result.error
        assert len(data_times) == 2 and data_times[1] - data_times[0] >= 1.0
    finally:
        cc.stop()
    always = CommonCrawlLike(CC_INDEX, read_cdxj(pywb.index_of("cc")), pywb.archive_of("cc"),
                             throttle=lambda: 0.1)  # fmt: skip
    try:
        for _run in range(2):
            fetcher, archive = _archive_fetcher(world, tmp_path, always.source(), tmp_path / "wk")
            result = archive.fetch(world.urls["cconly"], T0)
            fetcher.close()
            assert result.status == "http_error" and "429" in result.error, result.error
        assert len(always.index.log) == 2 and not always.data.log
    finally:
        always.stop()


def test_archived_redirect_to_another_form_of_the_same_url(world, tmp_path):
    """http -> https://www. : the CDX index matches every form (SURT), so the lookup of the
    target answers the redirect capture too; that is not a loop, the target's own capture
    is used. Asked for the target form directly, the redirect back to it is passed over."""
    from webtext.fetch import Fetcher
    from webtext.fetch.archive import ArchiveFetcher

    cfg = config(tmp_path, world, "archive", sources=[world.wayback()])
    with Fetcher(cfg.fetch) as fetcher:
        archive = ArchiveFetcher(fetcher, cfg.archive, None)
        for start in (MOVED, MOVED_TO):
            got = archive.fetch(start, T0)
            assert got.status == "ok" and "moved-https" in (got.html or ""), (start, got.error)
            assert got.final_url == MOVED_TO and "20170104000000" in got.archive_url
            assert got.capture_time == T0 + 3 * DAY
        # the archive serves the only capture of the target, 400 days away: not used
        far = archive.fetch(FAR, T0)
        assert far.status == "archive_miss" and "outside the window" in far.error, far.error
