"""Who failed: a bug in the crawler's own code is `internal_error` with its traceback in the
log, the network's failures stay `connection_error` / `timeout`, and an archive answer cut by
the deadline is never a capture (the live fetcher's body read serves both)."""

from __future__ import annotations

import json
import logging

import pytest

import webtext.fetch.fetcher as fetcher_module
from tests.hostile_server import HostileServer, page, raw, respond, stall_after
from webtext.config import ArchiveConfig, FetchConfig
from webtext.fetch import Crawler, Fetcher
from webtext.fetch.archive import ArchiveFetcher
from webtext.fetch.archive.request import ArchiveRequestError, guarded_get
from webtext.schemas import FETCH_STATUSES

HTML = "<html><head><title>T</title></head><body><p>{}</p></body></html>"
TRIGGER = "page that trips the deliberate bug"


def cfg(**kw) -> FetchConfig:
    base = dict(allow_networks=["127.0.0.1/32"], per_host_delay=0.0, connect_timeout=1.0,
                read_timeout=2.0, deadline=1.5, max_retries=2, backoff_base=0.01,
                backoff_max=0.02, max_bytes=64 * 1024)  # fmt: skip
    return FetchConfig(**(base | kw))


def test_a_bug_of_ours_is_internal_error_with_its_traceback(monkeypatch, caplog):
    real_decode = fetcher_module.decode_html

    def decode_with_a_bug(body, content_type, remaining):  # webtext's own function, broken
        if TRIGGER.encode() in body:
            return {}["charset"]  # a KeyError, as a real slip in our code would raise
        return real_decode(body, content_type, remaining)

    monkeypatch.setattr(fetcher_module, "decode_html", decode_with_a_bug)
    with HostileServer() as srv:
        srv.route("/robots.txt", respond(404, b""))
        srv.route("/fine", page(HTML.format("all good")))
        srv.route("/bug", page(HTML.format(TRIGGER)))
        # the network's doing: a body that stops short of its length, an empty reply
        srv.route("/hangup", respond(200, HTML.format("cut").encode(), length=5000))
        srv.route("/empty", raw(b""))
        urls = [srv.url(p) for p in ("/fine", "/bug", "/hangup", "/empty")]
        c = cfg()
        with caplog.at_level(logging.ERROR, logger="webtext.fetch"), Fetcher(c) as fetcher:
            results = dict(Crawler(fetcher, c).run(urls))
        hits = srv.hits("/bug"), srv.hits("/hangup"), srv.hits("/empty")
    fine, bug, hangup, empty = (results[i] for i in range(4))
    assert fine.status == "ok" and "all good" in fine.html
    assert "internal_error" in FETCH_STATUSES
    assert bug.status == "internal_error" and bug.html is None
    assert bug.error.startswith("internal error: KeyError: 'charset'"), bug.error
    assert bug.attempts == 1 and hits[0] == 1  # a bug is not retried
    logged = [r for r in caplog.records if r.exc_info and srv.url("/bug") in r.getMessage()]
    assert len(logged) == 1 and "Traceback" in caplog.text and "decode_with_a_bug" in caplog.text
    for result, n in ((hangup, hits[1]), (empty, hits[2])):  # retried, as before
        assert result.status == "connection_error" and n == 3, (result.status, result.error)
        assert not any(result.url in r.getMessage() for r in caplog.records)


CUT_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n\r\n"
ARTICLE = HTML.format("An archived story that the archive stops sending halfway. " * 40)


@pytest.fixture
def cut_archive():
    """A Wayback-like archive (CDX API + `id_` replay) whose replay of the one capture sends
    half the page without a length, then nothing until long after the fetch deadline."""
    with HostileServer() as srv:
        url, stamp = "http://dead.example/story.html", "20170101000000"
        rows = [["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"],
                ["example,dead)/story.html", stamp, url, "text/html", "200", "D", "100"]]  # fmt: skip

        def cdx(conn, req):  # archived robots.txt: none; the page: one capture
            found = rows if "story.html" in req.target else []
            respond(200, json.dumps(found).encode(), content_type=b"application/json")(conn, req)

        srv.route("/cdx", cdx)
        half = ARTICLE.encode()[: len(ARTICLE) // 2]
        srv.route(f"/web/{stamp}id_/{url}", stall_after(CUT_HEAD + half, 5))
        yield srv, url, stamp


def test_an_archive_answer_cut_by_the_deadline_is_not_stored(cut_archive):
    srv, url, stamp = cut_archive
    c = cfg(max_retries=0)
    with Fetcher(c) as fetcher:
        with pytest.raises(ArchiveRequestError) as info:
            guarded_get(fetcher, srv.url(f"/web/{stamp}id_/{url}"), {})
        assert info.value.status == "timeout"
        (exchange,) = info.value.exchanges
        assert exchange.truncated == "time" and 0 < len(exchange.body) < len(ARTICLE)
        archive = ArchiveConfig(sources=[{"kind": "wayback", "cdx_url": srv.url("/cdx"),
                                          "replay_url": srv.url("/web")}])  # fmt: skip
        result = ArchiveFetcher(fetcher, archive, None).fetch(url, 1_483_228_800)
    assert result.status == "timeout" and result.html is None, (result.status, result.error)
    assert result.source is None
