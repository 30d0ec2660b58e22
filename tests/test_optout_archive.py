"""Archived copies follow the publisher's robots.txt: the live site's where it answers, the
archived one closest to the capture otherwise (a real pywb over WARC files written here)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.archive_servers import Pywb, Snap, pywb_bin, write_warc
from tests.stage_runs import crawl_and_extract
from tests.test_archive import DAY, T0, html
from tests.web_server import WebServer, can_bind, page, status
from webtext.config import build_config
from webtext.paths import RunPaths
from webtext.schemas import LINKS_SCHEMA


def _robots(body: str, when: int, url: str) -> Snap:
    return Snap(url, when, content_type="text/plain", body=body.encode())


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    if pywb_bin() is None:
        pytest.skip("pywb is not installed: .ci/run makes .venv-pywb (pip install pywb)")
    if not can_bind("127.0.0.2"):
        pytest.skip("needs 127.0.0.2 on the loopback interface")
    root = tmp_path_factory.mktemp("optout-archive")
    live = WebServer().start()
    # the live site: answers, its robots.txt refuses CCBot /cc/ today; pages are gone (404)
    live.route("/robots.txt", page("User-agent: CCBot\nDisallow: /cc/\n", "text/plain"))
    live.route("/.well-known/tdmrep.json", status(404))
    alive = live.url("")
    dead = f"http://127.0.0.2:{live.port}"  # nobody listens: the host is gone
    urls = {
        "alive_news": f"{alive}/news/a.html",  # archived robots refuse it; the live one does not
        "alive_cc": f"{alive}/cc/a.html",  # the live robots refuse it (CCBot)
        "dead_news": f"{dead}/news/a.html",  # the closest archived robots: GPTBot /news/
        "dead_old": f"{dead}/news/old.html",  # captured when robots.txt allowed everything
        "dead_private": f"{dead}/private/a.html",  # archived robots refuse our own agent
        "dead_blog": f"{dead}/blog/a.html",  # allowed
    }
    snaps = [
        _robots("User-agent: *\nAllow: /\n", T0 - 300 * DAY, f"{dead}/robots.txt"),
        _robots(
            "User-agent: GPTBot\nDisallow: /news/\n\nUser-agent: webtext\nDisallow: /private/\n",
            T0 - DAY,
            f"{dead}/robots.txt",
        ),  # fmt: skip
        _robots("User-agent: GPTBot\nDisallow: /\n", T0, f"{alive}/robots.txt"),
    ]
    for k, (name, url) in enumerate(sorted(urls.items())):
        when = T0 - 290 * DAY if name == "dead_old" else T0
        snaps.append(Snap(url, when, body=html(f"archived-{name}", 100 + k)))
    write_warc(root / "src" / "web.warc.gz", snaps)
    pywb = Pywb(root / "pywb", {"web": [root / "src" / "web.warc.gz"]}, "web")
    yield live, pywb, urls
    pywb.stop()
    live.stop()


def _crawl(tmp_path, pywb, urls, mode):
    rows = [
        {"url": u, "canonical_url": u, "domain": "example.org", "score": 10,
         "num_submissions": 1, "submission_ids": [f"t3_{n}"], "subreddits": ["t"],
         "first_created_utc": T0 - 280 * DAY if n == "dead_old" else T0}
        for n, u in sorted(urls.items())
    ]  # fmt: skip
    links = RunPaths.of(tmp_path).links
    links.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=LINKS_SCHEMA), links / "part-00000.parquet")
    cfg = build_config({
        "run_dir": str(tmp_path),
        "fetch": {"allow_networks": ["127.0.0.0/8"], "per_host_delay": 0.0, "max_retries": 0,
                  "connect_timeout": 1.0, "read_timeout": 5.0, "deadline": 10.0, "mode": mode},
        "extract": {"extractor": "trafilatura", "isolation": "inline"},
        "archive": {"sources": [{"kind": "wayback", "cdx_url": pywb.cdx_url,
                                 "replay_url": pywb.replay_url, "rate_per_s": 200.0}]},
    })  # fmt: skip
    crawl_and_extract(cfg)
    table = pq.read_table(RunPaths.of(tmp_path).pages / "part-00000.parquet").to_pylist()
    names = {u: n for n, u in urls.items()}
    return {names[r["url"]]: r for r in table}


def test_archive_mode_uses_the_archived_robots_closest_to_the_capture(archived, tmp_path):
    live, pywb, urls = archived
    before = live.hits()
    rows = _crawl(tmp_path, pywb, urls, "archive")
    assert live.hits() == before  # archive mode asks no live host, robots.txt included
    got = {n: r["fetch_status"] for n, r in rows.items()}
    assert got == {
        "alive_news": "optout:robots_ai",  # its archived robots.txt: GPTBot Disallow: /
        "alive_cc": "optout:robots_ai",
        "dead_news": "optout:robots_ai",  # the capture's closest robots.txt (a day before)
        "dead_old": "ok",  # 300 days back robots.txt allowed everything
        "dead_private": "robots_disallowed",  # our own group in the archived robots.txt
        "dead_blog": "ok",
    }
    for name in ("alive_news", "dead_news", "dead_private"):
        assert rows[name]["text"] is None and rows[name]["source"] == "wayback"
        assert "archived (" in rows[name]["error"]
    assert "archived-dead_blog" in rows["dead_blog"]["text"]


def test_live_then_archive_follows_the_live_site_where_it_answers(archived, tmp_path):
    live, pywb, urls = archived
    rows = _crawl(tmp_path, pywb, urls, "live_then_archive")
    got = {n: r["fetch_status"] for n, r in rows.items()}
    assert got == {
        "alive_news": "ok",  # the live robots.txt allows it today: the archived copy is used
        "alive_cc": "optout:robots_ai",  # the live robots.txt refuses it: no archive asked
        "dead_news": "optout:robots_ai",  # the host is gone: its archived robots.txt decides
        "dead_old": "ok",
        "dead_private": "robots_disallowed",
        "dead_blog": "ok",
    }
    assert rows["alive_news"]["source"] == "wayback" and rows["alive_cc"]["source"] in (
        None,
        "live",
    )
    assert live.hits("/cc/a.html") == 0 and live.hits("/news/a.html") == 1
