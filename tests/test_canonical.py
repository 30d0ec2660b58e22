"""URL canonicalisation, registered domains and the stable domain partition."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from webtext.reddit import canonical
from webtext.reddit.canonical import (
    BadUrl,
    canonicalize,
    domain_partition,
    fetch_url,
    path_extension,
    registered_domain,
    split_url,
)


@pytest.mark.parametrize(
    "url, key",
    [
        # scheme and host lower-cased, default port dropped, www. dropped, fragment dropped
        ("HTTP://WWW.Example.COM:80/a/B#frag", "http://example.com/a/B"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        # tracking parameters removed, the rest sorted
        (
            "https://ex.com/p?utm_source=tw&b=2&fbclid=X&a=1&gclid=Y&UTM_Medium=z&mc_cid=1",
            "https://ex.com/p?a=1&b=2",
        ),
        ("https://ex.com/p?igshid=1&ref_src=twsrc&mc_eid=3", "https://ex.com/p"),
        ("https://ex.com/p?z=1&a=2&a=1", "https://ex.com/p?a=1&a=2&z=1"),
        ("https://ex.com/p?&&a=1&", "https://ex.com/p?a=1"),
        # percent-encoding: unreserved decoded, hex upper-cased, raw characters quoted
        ("https://ex.com/%7euser/%2f%41", "https://ex.com/~user/%2FA"),
        ("https://ex.com/a b/é", "https://ex.com/a%20b/%C3%A9"),
        ("https://ex.com/100%", "https://ex.com/100%25"),
        ("https://ex.com/s?q=%e2%82%ac&x=a%2Bb", "https://ex.com/s?q=%E2%82%AC&x=a%2Bb"),
        # dot segments, repeated slashes
        ("https://ex.com/a/./b/../c", "https://ex.com/a/c"),
        ("https://ex.com//a///b/", "https://ex.com/a/b/"),
        # IDNA hosts, trailing dot
        ("https://Bücher.de/x", "https://xn--bcher-kva.de/x"),
        ("https://example.com./x", "https://example.com/x"),
        # userinfo is not part of the key; &amp; from old dumps unescaped
        ("https://user:pw@ex.com/x", "https://ex.com/x"),
        ("https://ex.com/p?a=1&amp;b=2", "https://ex.com/p?a=1&b=2"),
        # IP literals and ports (the demo's mini-web), IPv6
        ("http://127.0.0.2:8080/path?b=1&a=2", "http://127.0.0.2:8080/path?a=2&b=1"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://news-site.test:9000/story/1", "http://news-site.test:9000/story/1"),
        ("http://www.x/", "http://www.x/"),  # 'www.' alone is a host, not a prefix
    ],
)
def test_canonical_key(url, key):
    assert canonicalize(url) == key
    assert split_url(url, fast=False) == split_url(url)  # the regex fast path agrees


@pytest.mark.parametrize(
    "url",
    [
        "https://www.site12.com/2017/03/article-123.html?utm_source=reddit&b=2&a=1",
        "http://Sub.Example.co.uk/a/b/c/?x=1&y=&z",
        "https://www.example.com",
        "HTTPS://www.EXAMPLE.com/Path/To?Q=A&q=b",
        "https://xn--bcher-kva.de/x?ref_src=1",
        # the fast path must not read these differently from webtext.uri (the fetcher)
        "http://1.2.3.0xa/p",  # an IPv4 address, not a host name
        "http://1.2.3.0XA/p",
        "https://ex.com/it's?q='x'",
        "https://" + "ab." * 90 + "com/",  # over 253 characters: not a host name
    ],
)
def test_fast_path_agrees_with_the_general_path(url):
    def split(fast: bool):
        try:
            return split_url(url, fast=fast)
        except BadUrl as exc:
            return exc.reason

    assert split(False) == split(True)


def test_same_page_same_key():
    variants = [
        "https://www.nytimes.com/2017/01/a.html?utm_source=reddit#comments",
        "HTTPS://nytimes.com:443/2017/01/a.html",
        "https://NYTimes.com/2017/01/%61.html?fbclid=abc",
    ]
    assert len({canonicalize(v) for v in variants}) == 1


def test_fetch_url_is_the_uri_form_minus_fragment():
    fetch, key, host, is_ip = split_url("https://WWW.ex.com/A?utm_source=x#top")
    assert fetch == "https://www.ex.com/A?utm_source=x"
    assert key == "https://ex.com/A"
    assert (host, is_ip) == ("www.ex.com", False)
    assert fetch_url(" https://ex.com/a?x=1&amp;y=2#f ") == "https://ex.com/a?x=1&y=2"
    assert split_url("http://127.0.0.2:8080/p")[2:] == ("127.0.0.2", True)


@pytest.mark.parametrize(
    "url, reason",
    [
        ("ftp://ex.com/file", "not_http"),
        ("javascript:alert(1)", "not_http"),
        ("mailto:a@b.com", "not_http"),
        ("/r/news/comments/1", "not_http"),
        ("http://", "malformed_url"),
        ("http://ex.com:99999/", "malformed_url"),
        ("http://ex.com:abc/", "malformed_url"),
        ("http://exa mple.com/", "malformed_url"),
        ("http://[zz::1]/", "malformed_url"),
        ("http://ex.com/\x00", "malformed_url"),
        ("http://ex.com/" + "a" * 5000, "malformed_url"),
    ],
)
def test_bad_urls_have_a_reason(url, reason):
    with pytest.raises(BadUrl) as info:
        split_url(url)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    "host, domain",
    [
        ("en.m.wikipedia.org", "wikipedia.org"),
        ("news.bbc.co.uk", "bbc.co.uk"),
        ("www.nytimes.com", "nytimes.com"),
        ("foo.blogspot.com", "blogspot.com"),  # private suffixes off: blogspot is one site
        ("127.0.0.2", "127.0.0.2"),
        ("::1", "::1"),
        ("news-site.test", "news-site.test"),  # no public suffix: the host is the domain
        ("www.news-site.test", "news-site.test"),
        ("localhost", "localhost"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
    ],
)
def test_registered_domain(host, domain):
    assert registered_domain(host) == domain


def test_tldextract_makes_no_network_request(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    canonical._extractor.cache_clear()
    registered_domain.cache_clear()
    assert registered_domain("a.b.example.co.jp") == "example.co.jp"


def test_domain_partition_is_stable_across_processes():
    here = [domain_partition(d, 16) for d in ("bbc.co.uk", "nytimes.com", "127.0.0.2")]
    code = (
        "from webtext.reddit.canonical import domain_partition as p;"
        "print([p(d, 16) for d in ('bbc.co.uk', 'nytimes.com', '127.0.0.2')])"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(here)
    # pinned: blake2b-64 of the domain mod 16; a change here would reshuffle every links file
    assert canonical.stable_hash("bbc.co.uk") == 9755168957875053428
    assert here == [4, 13, 3]


@pytest.mark.parametrize(
    "key, ext",
    [
        ("https://ex.com/a/b.JPG", "jpg"),
        ("https://ex.com/a/b.pdf?x=1.html", "pdf"),
        ("https://ex.com/a.b/c", ""),
        ("https://ex.com/", ""),
        ("https://ex.com/v/clip.gifv", "gifv"),
    ],
)
def test_path_extension(key, ext):
    assert path_extension(key) == ext
