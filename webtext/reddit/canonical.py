"""URL canonicalisation and registered domains: the key that decides duplicate links.

`split_url(url)` returns the URL to fetch, in its ASCII URI form as `webtext.uri` reads it
(the one parser the fetcher, robots.txt and politeness use too: IDNA host, percent-encoded
path and query, userinfo removed, no fragment), and the canonical key: that URI without
`www.`, `//` collapsed, percent-encoding normalised (unreserved characters decoded, hex
upper-case), tracking parameters removed, query sorted. `split_url_full` also returns the
submitted string (minus fragment and userinfo) when it differs from the URI: links keep it
as `url_original`.

`registered_domain(host)` uses tldextract with its bundled public-suffix snapshot and never
the network. An IP host is its own domain; a host without a public suffix (`localhost`,
`news-site.test`) is its own domain too.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from urllib.parse import quote

from webtext import uri as _uri
from webtext.uri import DEFAULT_PORTS, MAX_URL_LENGTH, BadUrl

__all__ = ["BadUrl", "DEFAULT_PORTS", "MAX_URL_LENGTH"]

# utm_* and these (lower-cased keys) are dropped from the canonical key
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "twclid", "ttclid",
        "mc_cid", "mc_eid", "ref_src", "ref_url", "igshid", "igsh", "_ga", "_gl",
        "_hsenc", "_hsmi", "mkt_tok", "vero_id", "vero_conv", "oly_enc_id", "oly_anon_id",
        "wickedid", "rb_clickid", "s_cid", "spm", "share_id", "cmpid", "ncid", "sr_share",
        "__twitter_impression", "at_medium", "at_campaign", "hsctatracking",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "pk_", "stm_")


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_MULTI_SLASH = re.compile(r"/{2,}")
_PLAIN = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=._~-]*\Z")
_PLAIN_QUERY = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=?._~-]*\Z")
# characters left as they are when quoting a component (reserved sub-delims and '%')
_PATH_SAFE = "/:@!$&'()*+,;=%-._~"
_QUERY_SAFE = "/:@!$'()*+,;=?%-._~"


def _fix_pct(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def normalize_percent(text: str, safe: str) -> str:
    """Quote what must be quoted, decode unreserved escapes, upper-case the other escapes."""
    if _PLAIN.match(text):  # the common case: nothing to quote, no escapes
        return text
    text = quote(text, safe=safe, encoding="utf-8", errors="surrogateescape")
    text = _BAD_PCT.sub("%25", text)
    return _PCT.sub(_fix_pct, text)


def _remove_dot_segments(path: str) -> str:
    if "/." not in path:
        return path
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        lower = key.lower()
        if lower in TRACKING_PARAMS or lower.startswith(TRACKING_PREFIXES):
            continue
        pairs.append(
            (normalize_percent(key, _QUERY_SAFE), sep, normalize_percent(value, _QUERY_SAFE))
        )
    pairs.sort()
    return "&".join(k + s + v for k, s, v in pairs)


def fetch_url(url: str) -> str:
    """The URL to fetch: as submitted (trimmed, `&amp;` unescaped), minus the fragment."""
    url = url.strip()
    if "&amp;" in url:
        url = url.replace("&amp;", "&")
    return url.partition("#")[0]


# the common shape, handled without urlsplit: scheme, plain host, optional port, plain path
_FAST = re.compile(
    r"(?i:(https?))://([A-Za-z0-9][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)+)(?::([0-9]{1,5}))?"
    r"(/[A-Za-z0-9/:@!$&'()*+,;=._~-]*)?(?:\?([^#]*))?\Z"
)


# plain queries seen by _fast_split -> canonical query: tracking-only queries repeat a lot
_QUERY_CACHE: dict[str, str] = {}
QUERY_CACHE_SIZE = 1 << 16


def _fast_split(fetch: str) -> tuple[str, str, str, bool] | None:
    m = _FAST.match(fetch)
    if m is None:
        return None
    scheme, host, port, path, query = m.groups()
    if (
        port
        or "//" in (path or "")
        or "/." in (path or "")
        or (query and not _PLAIN_QUERY.match(query))
        or host[-1] in "0123456789"  # IPv4 (no public suffix ends in a digit)
        or host[host.rfind(".") + 1 :][:2] in ("0x", "0X")  # IPv4 with a hex last part
        or "--" in host[2:4]
        or (len(host) > 63 and (len(host) > 253 or any(len(x) > 63 for x in host.split("."))))
    ):
        return None  # ports, odd paths, escapes, IPs, punycode: the general path
    if path and scheme.islower() and host.islower():
        uri = fetch  # already its URI form (the common case: no copy)
    else:
        scheme = scheme.lower()
        host = host.lower()
        uri = f"{scheme}://{host}{path or '/'}" + (f"?{query}" if query is not None else "")
    key_host = host[4:] if host.startswith("www.") and "." in host[4:] else host
    key = f"{scheme}://{key_host}{path or '/'}"
    if query:
        canonical = _QUERY_CACHE.get(query)
        if canonical is None:
            if len(_QUERY_CACHE) >= QUERY_CACHE_SIZE:
                _QUERY_CACHE.clear()
            canonical = _QUERY_CACHE[query] = _canonical_query(query)
        if canonical:
            key = f"{key}?{canonical}"
    return uri, key, host, False


def split_url(url: str, fast: bool = True) -> tuple[str, str, str, bool]:
    """-> (URI to fetch, canonical key, host, host is IP). Raises BadUrl with a filter reason.

    `fast=False` skips the regex fast path (the tests check both paths agree).
    """
    fetch = fetch_url(url)
    if len(fetch) > MAX_URL_LENGTH:
        raise BadUrl("malformed_url", f"longer than {MAX_URL_LENGTH} characters")
    if fast:
        result = _fast_split(fetch)
        if result is not None:
            return result
    parsed = _uri.parse(fetch)
    host, is_ip = parsed.host, parsed.is_ip
    key_host = parsed.host_literal
    if not is_ip and key_host.startswith("www.") and "." in key_host[4:]:
        key_host = key_host[4:]
    if parsed.port is not None:
        key_host = f"{key_host}:{parsed.port}"
    path = normalize_percent(parsed.path, _PATH_SAFE)
    if "//" in path:
        path = _MULTI_SLASH.sub("/", path)
    path = _remove_dot_segments(path)
    query = _canonical_query(parsed.query or "")
    key = f"{parsed.scheme}://{key_host}{path}" + (f"?{query}" if query else "")
    return str(parsed), key, host, is_ip


def split_url_full(url: str) -> tuple[str, str, str, bool, str | None]:
    """split_url plus the submitted URL (minus fragment and userinfo, which is never
    stored) when it differs from the URI, else None."""
    fetch, key, host, is_ip = split_url(url)
    if fetch == url:
        return fetch, key, host, is_ip, None
    original = _uri.without_userinfo(fetch_url(url))
    return fetch, key, host, is_ip, (original if original != fetch else None)


def canonicalize(url: str) -> str:
    """The canonical key of `url` (raises BadUrl)."""
    return split_url(url)[1]


def path_extension(canonical: str) -> str:
    """Lower-case extension of the last path segment of a canonical key ('' if none)."""
    rest = canonical.partition("://")[2].partition("?")[0]
    if "/" not in rest:
        return ""
    last = rest[rest.rfind("/") + 1 :]
    dot = last.rfind(".")
    return last[dot + 1 :].lower() if dot >= 0 else ""


@functools.lru_cache(maxsize=1)
def _extractor():
    import tldextract

    # no suffix_list_urls and no cache dir: the bundled snapshot, never the network
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


@functools.lru_cache(maxsize=1 << 16)
def registered_domain(host: str) -> str:
    """bbc.co.uk for news.bbc.co.uk; an IP or a host without public suffix is itself."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    parts = _extractor()(host)
    if parts.suffix and parts.domain:
        return f"{parts.domain}.{parts.suffix}"
    return host[4:] if host.startswith("www.") and "." in host[4:] else host


def stable_hash(text: str) -> int:
    """A 64-bit hash that is the same in every process and Python version (not hash())."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


@functools.lru_cache(maxsize=1 << 16)
def domain_partition(domain: str, num_partitions: int) -> int:
    """links/part-N.parquet that owns `domain`: blake2b-64(domain) mod num_partitions."""
    return stable_hash(domain) % num_partitions
