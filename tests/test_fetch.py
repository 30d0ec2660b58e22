"""The fetcher against a real local web server: every failure mode ends with its status."""

from __future__ import annotations

import time

import pytest

from tests.web_server import (
    WebServer,
    big,
    can_bind,
    drip,
    flaky,
    gzip_bomb,
    gzipped,
    page,
    redirect,
    slow,
    status,
)
from webtext.config import FetchConfig
from webtext.fetch import Crawler, Fetcher
from webtext.fetch.guard import AddressGuard, BlockedAddress

HTML = "<html><head><title>T</title></head><body><p>Hello world</p></body></html>"


def cfg(**kw) -> FetchConfig:
    base = dict(
        allow_networks=["127.0.0.1/32"],
        per_host_delay=0.0,
        connect_timeout=1.0,
        read_timeout=1.0,
        deadline=3.0,
        max_retries=2,
        backoff_base=0.05,
        backoff_max=0.2,
        max_retry_after=2.0,
        max_bytes=64 * 1024,
        concurrency=8,
    )
    base.update(kw)
    return FetchConfig(**base)


@pytest.fixture
def server():
    with WebServer() as srv:
        srv.route("/robots.txt", status(404))
        yield srv


def fetch_one(server, path, **kw):
    c = cfg(**kw)
    with Fetcher(c) as fetcher:
        results = dict(Crawler(fetcher, c).run([server.url(path)]))
    return results[0]


def test_plain_page(server):
    server.route("/a", page(HTML))
    r = fetch_one(server, "/a")
    assert r.status == "ok" and r.http_status == 200
    assert "Hello world" in r.html and r.final_url == server.url("/a")
    assert r.bytes == len(HTML) and r.charset == "utf-8"
    kinds = [(e.url.rsplit("/", 1)[1], e.status) for e in r.exchanges]
    assert kinds == [("robots.txt", 404), ("tdmrep.json", 404), ("a", 200)]


def test_gzip_page_is_decompressed(server):
    server.route("/z", gzipped(HTML))
    r = fetch_one(server, "/z")
    assert r.status == "ok" and "Hello world" in r.html
    assert r.exchanges[-1].body[:2] == b"\x1f\x8b"  # stored as received


def test_http_error_is_not_retried(server):
    server.route("/missing", status(404))
    r = fetch_one(server, "/missing")
    assert (r.status, r.http_status, r.attempts) == ("http_error", 404, 1)
    assert server.hits("/missing") == 1


def test_robots_disallow_and_page_never_requested(server):
    server.route("/robots.txt", page("User-agent: *\nDisallow: /private\n", "text/plain"))
    server.route("/private/x", page(HTML))
    server.route("/public", page(HTML))
    c = cfg()
    with Fetcher(c) as f:
        res = dict(Crawler(f, c).run([server.url("/private/x"), server.url("/public")]))
    assert res[0].status == "robots_disallowed" and res[1].status == "ok"
    assert server.hits("/private/x") == 0
    assert server.hits("/robots.txt") == 1  # fetched once per host, cached


def test_robots_specific_agent_group_and_longest_match(server):
    robots = "User-agent: *\nDisallow: /\n\nUser-agent: webtext\nDisallow: /\nAllow: /ok/\n"
    server.route("/robots.txt", page(robots, "text/plain"))
    server.route("/ok/1", page(HTML))
    server.route("/no", page(HTML))
    c = cfg()
    with Fetcher(c) as f:
        res = dict(Crawler(f, c).run([server.url("/ok/1"), server.url("/no")]))
    assert res[0].status == "ok" and res[1].status == "robots_disallowed"


def test_robots_5xx_disallows_conservatively(server):
    server.route("/robots.txt", status(503))
    server.route("/a", page(HTML))
    r = fetch_one(server, "/a")
    assert r.status == "robots_disallowed" and "unreachable" in r.error
    assert server.hits("/a") == 0


def test_crawl_delay_spaces_requests(server):
    server.route("/robots.txt", page("User-agent: *\nCrawl-delay: 0.6\n", "text/plain"))
    for i in range(3):
        server.route(f"/p{i}", page(HTML))
    c = cfg(concurrency=4)
    with Fetcher(c) as f:
        res = dict(Crawler(f, c).run([server.url(f"/p{i}") for i in range(3)]))
    assert all(r.status == "ok" for r in res.values())
    times = sorted(t for i in range(3) for t in server.times(f"/p{i}"))
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.55, gaps


def test_per_host_delay_and_other_hosts_not_blocked():
    if not can_bind("127.0.0.3"):
        pytest.skip("no 127.0.0.3 on this system")
    with WebServer() as a, WebServer("127.0.0.3") as b:
        for srv in (a, b):
            srv.route("/robots.txt", status(404))
            for i in range(3):
                srv.route(f"/p{i}", page(HTML))
        c = cfg(per_host_delay=0.4, allow_networks=["127.0.0.0/8"])
        start = time.monotonic()
        urls = [s.url(f"/p{i}") for s in (a, b) for i in range(3)]
        with Fetcher(c) as f:
            res = dict(Crawler(f, c).run(urls))
        elapsed = time.monotonic() - start
        assert all(r.status == "ok" for r in res.values())
        # each host: 3 pages 0.4 s apart ~ 0.8 s; hosts in parallel (serial: 2 s+)
        assert 0.75 < elapsed < 1.9, elapsed
        ta = sorted(t for i in range(3) for t in a.times(f"/p{i}"))
        assert min(y - x for x, y in zip(ta, ta[1:], strict=False)) >= 0.35


def test_redirects_followed(server):
    server.route("/r1", redirect("/r2", 301))
    server.route("/r2", redirect(server.url("/final") + "#frag", 307))
    server.route("/final", page(HTML))
    r = fetch_one(server, "/r1")
    assert r.status == "ok" and r.final_url == server.url("/final")
    assert [e.status for e in r.exchanges[2:]] == [301, 307, 200]  # after robots, tdmrep


def test_redirect_loop_and_too_many(server):
    server.route("/loop1", redirect("/loop2"))
    server.route("/loop2", redirect("/loop1"))
    for i in range(10):
        server.route(f"/chain{i}", redirect(f"/chain{i + 1}"))
    r = fetch_one(server, "/loop1")
    assert r.status == "too_many_redirects" and "loop" in r.error
    r = fetch_one(server, "/chain0", max_redirects=3)
    assert r.status == "too_many_redirects" and server.hits("/chain4") == 0


def test_slow_server_times_out(server):
    server.route("/slow", slow(3.0))
    start = time.monotonic()
    r = fetch_one(server, "/slow", read_timeout=0.5, max_retries=0)
    assert r.status == "timeout" and time.monotonic() - start < 2.5


@pytest.mark.parametrize("in_headers", [False, True])
def test_drip_server_stops_at_deadline(server, in_headers):
    server.route("/drip", drip(0.2, in_headers=in_headers))
    start = time.monotonic()
    r = fetch_one(server, "/drip", read_timeout=1.0, deadline=1.5, max_retries=0)
    elapsed = time.monotonic() - start
    assert r.status == "timeout", (r.status, r.error)
    assert elapsed < 2.5, elapsed


@pytest.mark.parametrize("chunked", [False, True])
def test_body_over_cap(server, chunked):
    server.route("/big", big(200_000, chunked=chunked))
    r = fetch_one(server, "/big", max_bytes=50_000)
    assert r.status == "too_large"
    assert r.bytes <= 50_000 and r.exchanges[-1].truncated == "length"


def test_gzip_bomb_stops_at_cap(server):
    server.route("/bomb", gzip_bomb(64 << 20))  # ~64 KB on the wire, 64 MB expanded
    start = time.monotonic()
    r = fetch_one(server, "/bomb", max_bytes=1 << 20)
    assert r.status == "too_large" and "decompressed" in r.error
    assert r.bytes < 1 << 20 and time.monotonic() - start < 3.0


def test_brotli_bomb_stops_at_cap(server):
    import brotli

    data = brotli.compress(b"<html><body>" + b" " * (32 << 20), quality=5)
    server.route("/br", page(data, "text/html", **{"Content-Encoding": "br"}))
    r = fetch_one(server, "/br", max_bytes=1 << 20)
    assert r.status == "too_large" and "decompressed" in r.error and len(data) < 1 << 20


def test_binary_served_as_html(server):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20
    server.route("/img", page(png, "text/html"))
    server.route("/pdf", page(b"%PDF-1.4\n" + b"\x00\x01" * 100, "application/pdf"))
    server.route("/noise", page(bytes(range(32)) * 100, "text/html"))
    assert fetch_one(server, "/img").status == "not_html"
    r = fetch_one(server, "/pdf")
    assert r.status == "not_html" and "application/pdf" in r.error
    assert fetch_one(server, "/noise").status == "not_html"


def test_429_retry_after_honoured(server):
    server.route("/busy", flaky(1, page(HTML), code=429, Retry_After="1"))
    start = time.monotonic()
    r = fetch_one(server, "/busy")
    elapsed = time.monotonic() - start
    assert r.status == "ok" and r.attempts == 2
    t = server.times("/busy")
    assert len(t) == 2 and t[1] - t[0] >= 0.95 and elapsed < 3


def test_retry_after_capped(server):
    server.route("/busy", flaky(1, page(HTML), code=429, Retry_After="3600"))
    r = fetch_one(server, "/busy", max_retry_after=0.3)
    assert r.status == "ok" and r.attempts == 2


def test_flaky_5xx_succeeds_on_retry(server):
    server.route("/flaky", flaky(2, page(HTML), code=503))
    r = fetch_one(server, "/flaky")
    assert r.status == "ok" and r.attempts == 3 and server.hits("/flaky") == 3
    assert [e.status for e in r.exchanges[2:]] == [503, 503, 200]  # all kept for WARC


def test_5xx_gives_up_after_max_retries(server):
    server.route("/down", status(500))
    r = fetch_one(server, "/down", max_retries=2)
    assert r.status == "http_error" and r.http_status == 500 and server.hits("/down") == 3


def test_connection_refused_is_connection_error():
    with WebServer() as srv:
        url = srv.url("/x")
    c = cfg(max_retries=1, respect_robots=False)
    with Fetcher(c) as f:
        r = dict(Crawler(f, c).run([url]))[0]
    assert r.status == "connection_error" and r.attempts == 2  # retried once
    c = cfg(max_retries=1)
    with Fetcher(c) as f:  # robots.txt unreachable for the same reason: same status
        r = dict(Crawler(f, c).run([url]))[0]
    assert r.status == "connection_error" and "robots.txt" in r.error


def test_windows_1252_declared_in_meta(server):
    body = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
    body += "<title>caf\u00e9</title></head><body><p>na\u00efve \u201cquotes\u201d \u20ac</p></body></html>"
    server.route("/w", page(body.encode("cp1252"), "text/html"))
    r = fetch_one(server, "/w")
    assert r.status == "ok" and r.charset == "cp1252"
    assert "na\u00efve \u201cquotes\u201d \u20ac" in r.html


def test_shift_jis_declared_in_meta(server):
    text = "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002"
    body = f'<html><head><meta charset="Shift_JIS"></head><body><p>{text}</p></body></html>'
    server.route("/sj", page(body.encode("shift_jis"), "text/html"))
    r = fetch_one(server, "/sj")
    # WHATWG decodes Shift_JIS as Windows-31J (cp932), a superset
    assert r.status == "ok" and r.charset == "cp932" and text in r.html


def test_header_charset_wins_and_detection_last(server):
    body = '<html><head><meta charset="utf-8"></head><body>caf\u00e9</body></html>'
    server.route("/h", page(body.encode("latin-1"), "text/html; charset=ISO-8859-1"))
    assert "caf\u00e9" in fetch_one(server, "/h").html
    text = (
        "Москва — столица России, город федерального значения, административный центр "
        "Центрального федерального округа. Население города составляет более двенадцати "
        "миллионов человек. "
    )
    server.route("/d", page(f"<html><body>{text}</body></html>".encode("cp1251"), "text/html"))
    assert text in fetch_one(server, "/d").html


def test_redirect_to_address_outside_allowlist_is_never_contacted(server):
    if not can_bind("127.0.0.2"):
        pytest.skip("no 127.0.0.2 on this system")
    with WebServer("127.0.0.2") as other:
        other.route("/", page(HTML))
        server.route("/go", redirect(other.url("/")))
        r = fetch_one(server, "/go")  # only 127.0.0.1/32 allowed
        assert r.status == "blocked_address" and "127.0.0.2" in r.error
        time.sleep(0.1)
        assert other.connections == 0 and other.hits() == 0


def test_loopback_refused_by_default(server):
    server.route("/a", page(HTML))
    r = fetch_one(server, "/a", allow_networks=[])
    assert r.status == "blocked_address"
    assert server.connections == 0


def test_guard_ranges():
    guard = AddressGuard()
    refused = [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
        "224.0.0.1", "240.0.0.1", "100.64.0.1", "::1", "::", "fe80::1", "fc00::1",
        "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::",
    ]  # fmt: skip
    for ip in refused:
        assert not guard.is_allowed(ip), ip
    for ip in ("93.184.216.34", "2606:4700::1111", "::ffff:93.184.216.34", "1.1.1.1"):
        assert guard.is_allowed(ip), ip
    assert AddressGuard(["10.0.0.0/8"]).is_allowed("10.1.2.3")
    assert not AddressGuard(["10.0.0.0/8"]).is_allowed("192.168.1.1")
    assert AddressGuard(["127.0.0.1/32"]).is_allowed("::ffff:127.0.0.1")  # mapped: same host


def test_connection_level_guard_blocks_even_without_precheck(server):
    """The socket layer re-checks the address it connects to (DNS rebinding defence)."""
    import requests

    from webtext.fetch.guard import BlockedAddress
    from webtext.fetch.http import guarded_session

    server.route("/a", page(HTML))
    session = guarded_session(AddressGuard([]), 2)
    with pytest.raises(BlockedAddress):
        session.get(server.url("/a"), timeout=1)
    assert server.connections == 0
    ok = guarded_session(AddressGuard(["127.0.0.1/32"]), 2).get(server.url("/a"), timeout=1)
    assert isinstance(ok, requests.Response) and ok.status_code == 200


def test_backoff_and_retry_after_parsing():
    import random

    from webtext.fetch.crawler import backoff_delay
    from webtext.fetch.fetcher import _retry_after
    from webtext.fetch.robots import product_token

    c = cfg(backoff_base=1.0, backoff_max=5.0, max_retry_after=10.0)
    rng = random.Random(0)
    for attempt, (lo, hi) in {1: (0.5, 1), 2: (1, 2), 3: (2, 4), 6: (2.5, 5)}.items():
        assert lo <= backoff_delay(c, attempt, None, rng) <= hi
    assert backoff_delay(c, 1, 3600.0, rng) == 10.0  # Retry-After capped
    assert _retry_after("7") == 7.0 and _retry_after("soon") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
    assert product_token("webtext/0.1 (+https://x.org; research crawler)") == "webtext"


def test_https_connects_to_vetted_ip_with_hostname_for_tls(tmp_path):
    """The guarded connection dials the vetted IP but verifies the certificate (and sends
    SNI) for the URL's host name."""
    import shutil
    import ssl
    import subprocess

    from webtext.fetch.http import guarded_session

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        capture_output=True, check=True,
    )  # fmt: skip
    srv = WebServer()
    srv.route("/a", page(HTML))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv._server.socket = ctx.wrap_socket(srv._server.socket, server_side=True)
    with srv:
        session = guarded_session(AddressGuard(["127.0.0.1/32", "::1/128"]), 2)
        resp = session.get(f"https://localhost:{srv.port}/a", verify=str(cert), timeout=2)
        assert resp.status_code == 200 and "Hello world" in resp.text
        blocked = guarded_session(AddressGuard([]), 2)
        with pytest.raises(BlockedAddress):
            blocked.get(f"https://localhost:{srv.port}/a", verify=str(cert), timeout=2)


def test_bad_urls_are_rows_not_crashes(server):
    c = cfg(max_retries=2)
    urls = [server.url("/x").replace(str(server.port), "99999"), "mailto:a@b.c", "http:///nohost"]
    with Fetcher(c) as f:
        res = dict(Crawler(f, c).run(urls))
    assert [res[i].status for i in range(3)] == ["http_error"] * 3
    assert all(r.attempts == 1 for r in res.values())


def test_watchdog_survives_a_deadline_too_far_for_condition_wait():
    """Condition.wait overflows past ~9.2e9 s: such a deadline stopped the watchdog thread
    and no deadline expired after it."""
    from webtext.fetch.http import Watchdog

    watchdog = Watchdog()
    try:
        watchdog.watch(1e10)
        soon = watchdog.watch(0.05)
        time.sleep(0.3)
        assert soon.expired and watchdog._thread.is_alive()
    finally:
        watchdog.close()
