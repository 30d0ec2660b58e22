"""webtext.uri: the one parser of harvest, fetcher, robots.txt, politeness and WARC."""

from __future__ import annotations

import pytest

from webtext.reddit.canonical import split_url, split_url_full
from webtext.uri import BadUrl, parse, without_userinfo


@pytest.mark.parametrize(
    "url, uri",
    [
        # IRIs in, URIs out: UTF-8 percent-encoding, IDNA hosts
        ("http://host.test/ok/café", "http://host.test/ok/caf%C3%A9"),
        ("http://host.test/s?q=日本&x=1", "http://host.test/s?q=%E6%97%A5%E6%9C%AC&x=1"),
        ("https://Bücher.de/x", "https://xn--bcher-kva.de/x"),
        ("http://i❤.ws/", "http://xn--i-7iq.ws/"),  # IDNA 2008 refuses it, browsers open it
        ("http://CAF%C3%A9.test/", "http://xn--caf-dma.test/"),  # hosts are percent-decoded
        ("http://ex.test/a b/100%", "http://ex.test/a%20b/100%25"),
        ("http://ex.test/%e2%82%ac", "http://ex.test/%E2%82%AC"),
        # userinfo: removed (never sent); the last '@' ends it
        ("http://user:pass@host.test:80/x", "http://host.test/x"),
        ("http://a@b@c.test/", "http://c.test/"),
        # parser confusion, read as browsers (WHATWG) read it: '\\' is '/'
        ("http://A\\@B.test/path", "http://a/@B.test/path"),
        ("http:\\\\host.test\\a\\b", "http://host.test/a/b"),
        ("http://host.test\\@evil.test/", "http://host.test/@evil.test/"),
        # IPv4 in any notation becomes the dotted quad the resolver would connect to
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://2130706433:8080/a/./b/../c", "http://127.0.0.1:8080/a/c"),
        ("http://0177.0.0.1/", "http://127.0.0.1/"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://ex.test/%2e%2E/x", "http://ex.test/x"),
        ("http://1.2.3.0xa/", "http://1.2.3.10/"),  # a hex last part: an IPv4 address
        ("http://ex.test/it's?q='x'", "http://ex.test/it's?q='x'"),  # sub-delims stay
        ("HTTP://WWW.Ex.test:80", "http://www.ex.test/"),
    ],
)
def test_iri_to_uri(url, uri):
    parsed = parse(url)
    assert str(parsed) == uri and str(parsed).isascii()
    assert str(parse(str(parsed))) == uri  # a URI is its own URI form


@pytest.mark.parametrize(
    "url, reason",
    [
        ("mailto:a@b.test", "not_http"),
        ("/relative/only", "not_http"),
        ("http:///three-slashes", "malformed_url"),  # RFC 3986: no host; WHATWG: a host
        ("http:/one-slash.test/", "malformed_url"),
        ("http://ex.test/\x00", "malformed_url"),
        ("http://ex.test/a\nb", "malformed_url"),
        ("http://exa mple.test/", "malformed_url"),
        ("http://a%2fb.test/", "malformed_url"),  # a '/' hidden in the host
        ("http://256.1.1.1/", "malformed_url"),
        ("http://1.2.3.4.5/", "malformed_url"),
        ("http://ex.test:0/", "malformed_url"),
        ("http://[zz::1]/", "malformed_url"),
        # ports are ASCII digits: int() refuses '²' and reads '８０' as 80
        ("http://ex.test:²/", "malformed_url"),
        ("http://ex.test:８０/", "malformed_url"),
        ("http://[::1]:8080²/", "malformed_url"),
        ("http://[fe80::1%25eth0]/", "malformed_url"),  # a zone id names an interface
        ("http://ex.test/" + "%" * 3000, "malformed_url"),  # 9000 characters as a URI
    ],
)
def test_urls_parsers_read_differently_are_refused_with_a_reason(url, reason):
    with pytest.raises(BadUrl) as info:
        parse(url)
    assert info.value.reason == reason


def test_relative_references_and_raw_location_values():
    base = parse("http://h.test/dir/page?x=1")
    assert str(parse("/café?q=日", base)) == "http://h.test/caf%C3%A9?q=%E6%97%A5"
    assert str(parse("other", base)) == "http://h.test/dir/other"
    assert str(parse("../up", base)) == "http://h.test/up"
    assert str(parse("?q=2", base)) == "http://h.test/dir/page?q=2"
    assert str(parse("", base)) == "http://h.test/dir/page?x=1"
    assert str(parse("\\\\other.test\\p", base)) == "http://other.test/p"
    assert str(parse("//u:p@other.test/p", base)) == "http://other.test/p"


def test_harvest_uses_the_same_host_as_the_connection():
    # urllib.parse says host 'b.test' for this URL; the HTTP client connects to 'a'
    fetch, key, host, is_ip, original = split_url_full("http://A\\@b.test/path")
    assert (fetch, host, original) == ("http://a/@b.test/path", "a", "http://A\\@b.test/path")
    assert parse(fetch).host == host
    fetch, key, host, is_ip, original = split_url_full("http://user:pw@Café.test/é?q=日#f")
    assert fetch == "http://xn--caf-dma.test/%C3%A9?q=%E6%97%A5" and host == "xn--caf-dma.test"
    assert original == "http://Café.test/é?q=日"  # as submitted, minus userinfo and fragment
    assert split_url_full("https://ex.test/a")[4] is None  # already a URI: nothing to keep
    assert split_url("https://ex.test/a", fast=False) == split_url("https://ex.test/a")


def test_without_userinfo():
    assert without_userinfo("http://u:p@h.test/x@y") == "http://h.test/x@y"
    assert without_userinfo("http://h.test/a@b") == "http://h.test/a@b"
    assert without_userinfo("not a url") == "not a url"
