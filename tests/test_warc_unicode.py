"""WARC capture of what the real web sends: raw UTF-8 headers and reason phrases, bytes kept."""

from __future__ import annotations

import gzip

from warcio.archiveiterator import ArchiveIterator

from tests.hostile_server import HostileServer, page, redirect, respond
from tests.stage_runs import crawl_and_extract
from tests.test_crawl import article, config, write_links
from webtext.fetch.warc import Exchange, WarcChunkWriter
from webtext.paths import RunPaths


def test_non_ascii_reason_and_location_are_stored_as_received(tmp_path):
    with HostileServer() as srv:
        srv.route("/robots.txt", respond(404, b"", reason="Pas trouvé"))
        srv.route("/reason", page(article(1), reason="Très bien"))
        srv.route("/hop", redirect("/reason", reason="Déplacé"))
        srv.route("/hdr", page(article(2), headers=[("X-Title", "日本語")]))
        write_links(tmp_path, {0: [srv.url("/reason"), srv.url("/hop"), srv.url("/hdr")]})
        cfg = config(tmp_path)
        crawl_and_extract(cfg)
    import pyarrow.parquet as pq

    rows = pq.read_table(RunPaths.of(tmp_path).pages / "part-00000.parquet").to_pylist()
    assert sorted(r["fetch_status"] for r in rows) == ["ok"] * 3
    warc = RunPaths.of(tmp_path).warc / "part-00000-00000.warc.gz"
    with open(warc, "rb") as fh:
        records = list(ArchiveIterator(fh))  # parses end to end
    with open(warc, "rb") as fh:
        types = [r.rec_type for r in ArchiveIterator(fh)]
    # robots.txt, /.well-known/tdmrep.json, /reason, /hop, /reason again, /hdr
    assert types.count("response") == 6 and len(records) == 13
    raw = gzip.decompress(warc.read_bytes())
    assert "HTTP/1.1 200 Très bien\r\n".encode() in raw  # the bytes sent, not re-encoded
    assert "HTTP/1.1 302 Déplacé\r\n".encode() in raw
    assert "X-Title: 日本語\r\n".encode() in raw


def test_unwritable_exchange_raises_and_leaves_the_file_readable(tmp_path):
    path = tmp_path / "w.warc.gz"
    good = Exchange("http://a.test/", "GET / HTTP/1.1", [("Host", "a.test")], 200, "OK")
    bad = Exchange("http://a.test/x", "GET /x HTTP/1.1", [("Host", "a.test")], 200, "OK")
    bad.response_headers = [("X", object())]  # type: ignore[list-item]  # not a string
    from webtext.fetch.warc import WarcWriteError

    with WarcChunkWriter(path) as w:
        w.write(good)
        try:
            w.write(bad)
        except WarcWriteError as exc:
            assert "TypeError" in str(exc)
        else:
            raise AssertionError("expected WarcWriteError")
        w.write(good)
    with open(path, "rb") as fh:
        assert [r.rec_type for r in ArchiveIterator(fh)] == ["warcinfo"] + [
            "request",
            "response",
        ] * 2
