"""AI-training opt-outs at crawl time, against a real local site (tests/web_server.py)."""

from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq
import pytest

from tests.stage_runs import crawl_and_extract
from tests.web_server import WebServer, page, status
from webtext.config import FetchConfig
from webtext.fetch import Crawler, Fetcher
from webtext.fetch.optout import SignalReader, TdmRules, named_agents

HTML = "<html><head><title>T</title></head><body><p>Hello world</p></body></html>"


def cfg(**kw) -> FetchConfig:
    base = dict(
        allow_networks=["127.0.0.1/32"],
        per_host_delay=0.0,
        connect_timeout=1.0,
        read_timeout=1.0,
        deadline=3.0,
        max_retries=0,
        concurrency=4,
    )
    base.update(kw)
    return FetchConfig(**base)


@pytest.fixture
def site():
    with WebServer() as srv:
        srv.route("/robots.txt", status(404))
        srv.route("/.well-known/tdmrep.json", status(404))
        yield srv


def crawl(site, paths, **kw):
    c = cfg(**kw)
    with Fetcher(c) as fetcher:
        results = dict(Crawler(fetcher, c).run([site.url(p) for p in paths]))
    return [results[i] for i in range(len(paths))]


def test_gptbot_disallow_stops_news_and_allows_blog(site):
    site.route("/robots.txt", page("User-agent: GPTBot\nDisallow: /news/\n", "text/plain"))
    for p in ("/news/a", "/news/b", "/blog/a", "/blog/b"):
        site.route(p, page(HTML))
    res = crawl(site, ["/news/a", "/news/b", "/blog/a", "/blog/b"])
    assert [r.status for r in res] == ["optout:robots_ai"] * 2 + ["ok"] * 2
    assert "GPTBot" in res[0].error and res[0].html is None
    assert site.hits("/news/a") == site.hits("/news/b") == 0  # never requested
    assert site.hits("/blog/a") == site.hits("/blog/b") == 1
    assert site.hits("/robots.txt") == 1 and site.hits("/.well-known/tdmrep.json") == 1


def test_own_rules_still_apply_and_empty_agent_list_turns_it_off(site):
    robots = "User-agent: GPTBot\nDisallow: /news/\n\nUser-agent: webtext\nDisallow: /private/\n"
    site.route("/robots.txt", page(robots, "text/plain"))
    site.route("/news/a", page(HTML))
    res = crawl(site, ["/private/x", "/news/a"], optout_agents=[])
    assert [r.status for r in res] == ["robots_disallowed", "ok"]
    assert site.hits("/private/x") == 0


def test_star_group_is_not_an_ai_optout(site):
    """`User-agent: *` rules are everyone's: an explicit allow for us is not overridden."""
    robots = "User-agent: *\nDisallow: /\n\nUser-agent: webtext\nAllow: /\n"
    site.route("/robots.txt", page(robots, "text/plain"))
    site.route("/a", page(HTML))
    assert crawl(site, ["/a"])[0].status == "ok"


def test_tdmrep_header_meta_and_well_known_each_stop_the_page(site):
    site.route("/.well-known/tdmrep.json", page(json.dumps([
        {"location": "/reserved/*", "tdm-reservation": 1, "tdm-policy": "https://x.test/p"},
        {"location": "/open/", "tdm-reservation": 0},
        {"location": "/exact.html$", "tdm-reservation": 1},
    ]), "application/json"))  # fmt: skip
    site.route("/header", page(HTML, **{"tdm-reservation": "1"}))
    site.route("/header0", page(HTML, **{"tdm-reservation": "0"}))
    meta = '<html><head><meta name="tdm-reservation" content="1"></head><body>x</body></html>'
    site.route("/meta", page(meta))
    for p in ("/reserved/x", "/open/x", "/exact.html", "/exact.html.bak"):
        site.route(p, page(HTML))
    paths = ["/header", "/header0", "/meta", "/reserved/x", "/open/x", "/exact.html",
             "/exact.html.bak"]  # fmt: skip
    res = crawl(site, paths)
    assert [r.status for r in res] == [
        "optout:tdmrep", "ok", "optout:tdmrep", "optout:tdmrep", "ok", "optout:tdmrep", "ok",
    ]  # fmt: skip
    assert site.hits("/reserved/x") == site.hits("/exact.html") == 0  # stopped before the GET
    assert site.hits("/.well-known/tdmrep.json") == 1  # once per host, cached
    assert all(r.html is None for r in res if r.status != "ok")
    meta_page = [e for e in res[2].exchanges if e.url.endswith("/meta")][0]
    assert meta_page.body == b""  # the refused text is not kept in the WARC either


def test_noai_header_and_meta_stop_the_page_noimageai_does_not(site):
    site.route("/h", page(HTML, **{"X-Robots-Tag": "noindex, noai"}))
    site.route("/h-other", page(HTML, **{"X-Robots-Tag": "otherbot: noai"}))
    site.route("/h-gpt", page(HTML, **{"X-Robots-Tag": "GPTBot: noai"}))
    site.route("/m", page('<html><head><meta name="robots" content="noai, noimageai">'
                          "</head><body>x</body></html>"))  # fmt: skip
    site.route("/img", page('<html><head><meta name="robots" content="noimageai">'
                            "</head><body>x</body></html>"))  # fmt: skip
    res = crawl(site, ["/h", "/h-other", "/h-gpt", "/m", "/img"])
    assert [r.status for r in res] == ["optout:noai", "ok", "optout:noai", "optout:noai", "ok"]


def test_signal_parsers_edge_cases():
    assert named_agents("User-Agent: GPTBot # x\nuser-agent:CCBot\nDisallow: /") == {
        "gptbot",
        "ccbot",
    }
    reader = SignalReader("webtext", ["GPTBot"])
    assert reader.from_headers([("X-Robots-Tag", "unavailable_after: 2030-01-01")]) is None
    assert reader.from_headers([("x-robots-tag", "webtext: noai")]) == "optout:noai"
    assert reader.from_html("<p>noai in the text body is not a tag</p>") is None
    assert reader.from_html("<meta content='noai' name='GPTBot'>") == "optout:noai"
    assert reader.from_html("<body><meta name=robots content=noai></body>") == "optout:noai"
    assert reader.from_html("<p>&lt;meta name=robots content=noai&gt;</p>") is None
    rules = TdmRules.parse('[{"location": "/a*b$", "tdm-reservation": 1}, {"location": "/"}]')
    assert rules.reserved("http://x.test/a-zz-b") and not rules.reserved("http://x.test/a-b-c")
    assert not TdmRules.parse("{not json").rules
    assert TdmRules.parse('[{"location": "/", "tdm-reservation": 1}]').reserved("http://h/x?q=1")


def test_crawl_stage_pages_ledger_and_report_show_optouts(site, tmp_path):
    """pages/ rows carry the opt-out status and no text; the ledger fate and the report
    count them by kind and domain; the WARC keeps no body of a refused page."""
    from tests.test_crawl import config, write_links
    from webtext.paths import RunPaths
    from webtext.report.ledger import build_ledger
    from webtext.report.run_report import build_report, write_stats

    site.route("/robots.txt", page("User-agent: CCBot\nDisallow: /news/\n", "text/plain"))
    site.route("/news/1", page(HTML))
    site.route("/tdm", page(HTML, **{"tdm-reservation": "1"}))
    site.route("/noai", page('<html><head><meta name="robots" content="noai"></head>'
                             "<body><p>Private prose</p></body></html>"))  # fmt: skip
    site.route("/ok", page(HTML))
    urls = [site.url(p) for p in ("/news/1", "/tdm", "/noai", "/ok")]
    write_links(tmp_path, {0: urls})
    crawl_and_extract(config(tmp_path))
    rows = pq.read_table(RunPaths.of(tmp_path).pages / "part-00000.parquet").to_pylist()
    status = {r["url"].rsplit("/", 1)[1]: r for r in rows}
    assert {k: v["fetch_status"] for k, v in status.items()} == {
        "1": "optout:robots_ai", "tdm": "optout:tdmrep", "noai": "optout:noai", "ok": "ok",
    }  # fmt: skip
    assert all(not status[k]["text"] for k in ("1", "tdm", "noai"))
    assert site.hits("/news/1") == 0
    warc = b"".join(p.read_bytes() for p in RunPaths.of(tmp_path).warc.glob("*.warc.gz"))
    assert b"Private prose" not in gzip.decompress(warc)

    fates = build_ledger(tmp_path)
    assert {k: v for k, v in fates.items() if k.startswith("optout:")} == {
        "optout:noai": 1, "optout:robots_ai": 1, "optout:tdmrep": 1,
    }  # fmt: skip
    stats = write_stats(tmp_path, {}, fates)
    assert stats["optouts"]["by_kind"] == {
        "optout:noai": 1, "optout:robots_ai": 1, "optout:tdmrep": 1,
    }  # fmt: skip
    assert stats["optouts"]["by_domain"] == {
        "example.org": {"optout:noai": 1, "optout:robots_ai": 1, "optout:tdmrep": 1}
    }
    report = build_report(tmp_path, stats).read_text()
    assert "Opt-outs" in report and "optout:tdmrep" in report


def test_tdmrep_locations_match_whether_percent_encoded_or_not():
    """A location is written like a URL path (`/caf%C3%A9/`) or as text (`/café/`); both
    name the same pages as the URL's path, encoded or not."""
    rules = TdmRules.parse(
        '[{"location": "/caf%C3%A9/*", "tdm-reservation": 1},'
        ' {"location": "/stra\u00dfe/", "tdm-reservation": 1},'
        ' {"location": "/", "tdm-reservation": 0}]'
    )
    for url in [
        "http://h/caf%C3%A9/x",
        "http://h/café/x",
        "http://h/stra%C3%9Fe/",
        "http://h/straße/",
    ]:
        assert rules.reserved(url), url
    assert not rules.reserved("http://h/cafe/x")


def test_a_redirect_into_a_takedown_list_is_never_followed(site):
    """Harvest keeps listed URLs out, but a link that redirects to one (a shortener, an
    old address) is only seen at crawl time: the listed target is never requested, and
    the page gets `optout:list` (dedup could not catch it: the document carries the
    link's URL, not the redirect target's)."""
    from tests.web_server import redirect
    from webtext.takedown import Takedown

    site.route("/short", redirect("/listed/story"))
    site.route("/listed/story", page(HTML))
    site.route("/free", page(HTML))
    takedown = Takedown()
    takedown.add(site.url("/listed/*"))
    c = cfg()
    with Fetcher(c, takedown=takedown) as fetcher:
        results = dict(Crawler(fetcher, c).run([site.url("/short"), site.url("/free")]))
    assert results[0].status == "optout:list" and results[0].html is None
    assert "takedown" in results[0].error
    assert results[1].status == "ok"
    assert site.hits("/short") == 1 and site.hits("/listed/story") == 0


def test_a_versioned_user_agent_line_names_its_product_token(site):
    """`User-agent: GPTBot/1.1` is a group for GPTBot: the line's product token is its
    leading letters, `_` and `-`, as Google's reference parser reads it."""
    site.route(
        "/robots.txt",
        page("User-agent: GPTBot/1.1\nDisallow: /news/\n\nUser-agent: *\nAllow: /\n", "text/plain"),
    )
    site.route("/news/a", page(HTML))
    site.route("/blog/a", page(HTML))
    res = crawl(site, ["/news/a", "/blog/a"])
    assert [r.status for r in res] == ["optout:robots_ai", "ok"]
    assert site.hits("/news/a") == 0


def test_a_takedown_list_that_grew_after_the_crawl_applies_without_a_request(site, tmp_path):
    """A list that names a redirect target after the crawl: the next run makes that page
    `optout:list` without text (extract, no request), as a crawl with the list from the
    start does; the crawl is not redone."""
    from tests.test_crawl import config, write_links
    from tests.web_server import redirect
    from webtext.config import build_config
    from webtext.paths import RunPaths

    site.route("/short", redirect("/listed/story"))
    site.route("/listed/story", page(HTML))
    site.route("/free", page(HTML))
    urls = [site.url("/short"), site.url("/free")]
    listed = tmp_path / "takedown.txt"
    listed.write_text(site.url("/listed/*") + "\n")

    def with_list(run_dir):
        return build_config({**config(run_dir).model_dump(mode="json"),
                             "optout": {"lists": [str(listed)]}})  # fmt: skip

    def statuses(run_dir) -> dict[str, tuple]:
        rows = pq.read_table(RunPaths.of(run_dir).pages / "part-00000.parquet").to_pylist()
        return {r["url"]: (r["fetch_status"], r["text"]) for r in rows}

    late = tmp_path / "late"
    write_links(late, {0: urls})
    crawl_and_extract(config(late))
    assert statuses(late)[urls[0]][0] == "ok"
    marker = json.loads((late / "_state" / "crawl.json").read_text())
    assert marker["outputs"] == ["fetched/part-00000.parquet"]  # not the WARC chunks
    hits = site.hits()
    crawl_and_extract(with_list(late))
    assert site.hits() == hits  # no request: the crawl stands
    now = statuses(late)
    assert now[urls[0]] == ("optout:list", None) and now[urls[1]][0] == "ok"
    fresh = tmp_path / "fresh"
    write_links(fresh, {0: urls})
    crawl_and_extract(with_list(fresh))
    assert {u: s for u, (s, _) in statuses(fresh).items()} == {u: s for u, (s, _) in now.items()}
