"""IRIs in, URIs out: the one parser that decides what an http(s) URL means.

Harvest (canonical URL, domain, partition), the fetcher (connection, redirects), robots.txt,
politeness keys and WARC records all read URLs through `parse`, so the host a request
connects to is, by construction, the host whose robots.txt is honoured, whose delay is
kept and whose partition holds the link. Two parsers that disagree (`urllib.parse` reads
`http://A\\@B/` as host B, an HTTP client as host A) are how robots.txt gets bypassed.

The reading follows the WHATWG URL Standard for special schemes, as browsers do: `\\` is a
`/`, the authority ends at the first `/`, `\\`, `?` or `#`, userinfo ends at its last `@`,
hosts are percent-decoded and mapped to ASCII with IDNA (UTS #46), IPv4 numbers in any form
(`0x7f.1`, `2130706433`) become dotted quads, dot segments are resolved. The result is a
plain ASCII URI: non-ASCII path and query characters percent-encoded as UTF-8, userinfo
removed (never sent, never stored), no fragment. What the parsers read differently and the
standard does not settle is rejected with a named reason (`BadUrl.reason`): control
characters, a scheme not followed by exactly two slashes, forbidden host characters.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 4096

_TRIM = " \t\r\n\x0b\x0c"  # whitespace around a URL is dropped; other controls are refused
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_SLASHES = re.compile(r"[/\\]*")
_AUTHORITY_END = re.compile(r"[/\\?#]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOST_CHARS = re.compile(r"[a-z0-9_][a-z0-9._-]*\Z")
# WHATWG forbidden domain code points (after percent-decoding), '%' included
_FORBIDDEN_HOST = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")
_PCT_TRIPLET = re.compile(r"%[0-9A-Fa-f]{2}")
_HEX = "0123456789ABCDEF"
# left as they are; everything else is percent-encoded as UTF-8 (an existing escape stays).
# RFC 3986 pchars: the sub-delims ("'" included) stay, as harvest's fast path keeps them
_PATH_KEEP = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/"
)
_QUERY_KEEP = _PATH_KEEP | frozenset("?")


class BadUrl(ValueError):
    """A URL that cannot be fetched; `reason` names why (`not_http`, `malformed_url`)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Uri:
    """An absolute http(s) URI, every part ASCII and normalised."""

    scheme: str
    host: str  # lower-case ASCII (IDNA); an IPv6 address without brackets
    port: int | None  # None: the scheme's default port
    path: str  # percent-encoded, starts with '/'
    query: str | None  # percent-encoded, without '?'; None: no '?' at all
    is_ip: bool = False
    had_userinfo: bool = False  # the input named a user (removed here, never sent)

    @property
    def host_literal(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def netloc(self) -> str:
        return self.host_literal + (f":{self.port}" if self.port is not None else "")

    @property
    def origin(self) -> str:
        """scheme://host[:port]: the key of robots.txt and of per-host politeness."""
        return f"{self.scheme}://{self.netloc}"

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else DEFAULT_PORTS[self.scheme]

    @property
    def target(self) -> str:
        """The request target: path and query."""
        return self.path + (f"?{self.query}" if self.query is not None else "")

    def __str__(self) -> str:
        return self.origin + self.target


def parse(url: str, base: Uri | str | None = None) -> Uri:
    """The URI `url` names (relative to `base` when it is relative); raises BadUrl."""
    if not isinstance(url, str):
        raise BadUrl("malformed_url", f"not a string: {type(url).__name__}")
    text = url.strip(_TRIM)
    if len(text) > MAX_URL_LENGTH:
        raise BadUrl("malformed_url", f"longer than {MAX_URL_LENGTH} characters")
    if _CONTROL.search(text):
        raise BadUrl("malformed_url", "control characters in URL")
    text = text.partition("#")[0]
    match = _SCHEME.match(text)
    if match is not None:
        scheme = match.group(1).lower()
        if scheme not in DEFAULT_PORTS:
            raise BadUrl("not_http", f"scheme {scheme!r}")
        rest = text[match.end() :]
        slashes = _SLASHES.match(rest).group()  # type: ignore[union-attr]
        if len(slashes) != 2:
            # 'http:/x', 'http:///x': RFC 3986 and WHATWG parsers find different hosts
            raise BadUrl("malformed_url", "the scheme must be followed by exactly '//'")
        return _checked(_absolute(scheme, rest[2:]))
    if base is None:
        raise BadUrl("not_http", "no scheme")
    if not isinstance(base, Uri):
        base = parse(base)
    return _checked(_relative(text, base))


def _checked(uri: Uri) -> Uri:
    """The limit holds for the URI too (percent-encoding triples a character), so the URI
    harvest stores is one the fetcher's `parse` accepts."""
    size = len(uri.host) + len(uri.path) + len(uri.query or "")  # str(uri): at most 24 more
    if size > MAX_URL_LENGTH - 24 and len(str(uri)) > MAX_URL_LENGTH:
        raise BadUrl("malformed_url", f"longer than {MAX_URL_LENGTH} characters as a URI")
    return uri


@functools.lru_cache(maxsize=1 << 14)
def _cached_parse(url: str) -> Uri:
    return parse(url)


def origin(url: str) -> str:
    """scheme://host[:port] of `url` as the fetcher reads it (raises BadUrl)."""
    return _cached_parse(url).origin


def without_userinfo(url: str) -> str:
    """`url` as written, minus a `user:password@` in its authority (read as `parse` does)."""
    match = _SCHEME.match(url.strip(_TRIM))
    if match is None:
        return url
    text = url.strip(_TRIM)
    rest = text[match.end() :]
    slashes = _SLASHES.match(rest).group()  # type: ignore[union-attr]
    start = match.end() + len(slashes)
    end = _AUTHORITY_END.search(text, start)
    stop = end.start() if end else len(text)
    at = text.rfind("@", start, stop)
    return text if at < 0 else text[:start] + text[at + 1 :]


def _absolute(scheme: str, rest: str) -> Uri:
    end = _AUTHORITY_END.search(rest)
    authority, tail = (rest[: end.start()], rest[end.start() :]) if end else (rest, "")
    userinfo, at, hostport = authority.rpartition("@")
    host, port = _host_port(hostport, scheme)
    path, query = _split_tail(tail)
    return Uri(
        scheme,
        host[0],
        port,
        _path(path),
        _query(query),
        is_ip=host[1],
        had_userinfo=bool(at),
    )


def _relative(ref: str, base: Uri) -> Uri:
    if ref[:2] in ("//", "\\\\", "/\\", "\\/"):
        return _absolute(base.scheme, ref[2:])
    path, query = _split_tail(ref)
    if path.startswith(("/", "\\")):
        new_path = path
    elif path:
        new_path = base.path[: base.path.rfind("/") + 1] + path
    else:
        new_path = base.path
        if query is None:
            query = base.query
    return Uri(
        base.scheme,
        base.host,
        base.port,
        _path(new_path),
        _query(query),
        is_ip=base.is_ip,
    )


def _split_tail(tail: str) -> tuple[str, str | None]:
    path, q, query = tail.partition("?")
    return path, (query if q else None)


# ------------------------------------------------------------------------------ host
def _host_port(hostport: str, scheme: str) -> tuple[tuple[str, bool], int | None]:
    if hostport.startswith("["):
        literal, bracket, rest = hostport[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise BadUrl("malformed_url", f"bad IPv6 host {hostport!r}")
        try:  # WHATWG refuses zone ids ('%eth0'): they name an interface, not a host
            host = (ipaddress.IPv6Address(literal).compressed, True)
            if "%" in literal:
                raise ValueError(literal)
        except ValueError:
            raise BadUrl("malformed_url", f"bad IPv6 host {hostport!r}") from None
        port_text = rest[1:]
    else:
        name, _, port_text = hostport.partition(":")
        host = _host(name)
    port = None
    if port_text:
        # ASCII digits only: str.isdigit() also takes '²' (int() refuses) and '８' (int() reads)
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise BadUrl("malformed_url", f"bad port {port_text!r}")
        port = int(port_text)
        if port == DEFAULT_PORTS[scheme]:
            port = None
    return host, port


@functools.lru_cache(maxsize=1 << 16)
def _host(name: str) -> tuple[str, bool]:
    """A host name -> (lower-case ASCII host, is_ip). Raises BadUrl."""
    if "%" in name:
        name = _percent_decode(name)
    name = name.rstrip(".") if name.strip(".") else name
    if not name:
        raise BadUrl("malformed_url", "no host")
    if _FORBIDDEN_HOST.search(name):
        raise BadUrl("malformed_url", f"forbidden character in host {name!r}")
    if not name.isascii():
        name = _idna(name)
    name = name.lower()
    ipv4 = _ipv4(name)
    if ipv4 is not None:
        return ipv4, True
    if (
        not _HOST_CHARS.match(name)
        or len(name) > 253
        or ".." in name
        or any(len(label) > 63 for label in name.split("."))
    ):
        raise BadUrl("malformed_url", f"bad host {name!r}")
    return name, False


def _idna(name: str) -> str:
    """UTS #46 (non-transitional, as browsers); IDNA 2003 for what IDNA 2008 refuses
    (emoji domains, which browsers still open)."""
    import idna

    try:
        return idna.encode(name, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        pass
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        raise BadUrl("malformed_url", f"host is not valid IDNA: {name!r}") from None


def _ipv4(name: str) -> str | None:
    """WHATWG IPv4 parsing: a host whose last label is a number is an IPv4 address
    (decimal, 0x hex or 0-prefixed octal parts, 1 to 4 of them); None when it is not."""
    labels = name.split(".")
    last = labels[-1]
    if not last or not (last.isdigit() or (last[:2] == "0x" and _is_hex(last[2:]))):
        return None
    if len(labels) > 4:
        raise BadUrl("malformed_url", f"bad IPv4 host {name!r}")
    numbers = []
    for label in labels:
        number = _ipv4_number(label)
        if number is None:
            raise BadUrl("malformed_url", f"bad IPv4 host {name!r}")
        numbers.append(number)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise BadUrl("malformed_url", f"bad IPv4 host {name!r}")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n * 256 ** (3 - i)
    return str(ipaddress.IPv4Address(value))


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _ipv4_number(label: str) -> int | None:
    if not label:
        return None
    if label[:2] == "0x":
        digits = label[2:]
        if not digits:
            return 0
        return int(digits, 16) if _is_hex(digits) else None
    if len(label) > 1 and label[0] == "0":
        return int(label[1:], 8) if all(c in "01234567" for c in label[1:]) else None
    return int(label) if label.isdigit() else None


def _percent_decode(text: str) -> str:
    data = _PCT_TRIPLET.sub(lambda m: chr(int(m.group()[1:], 16)), text)
    try:
        return data.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise BadUrl("malformed_url", f"host is not UTF-8 once decoded: {text!r}") from None


# ------------------------------------------------------------------------ path, query
def _encode(text: str, keep: frozenset[str]) -> str:
    if all(c in keep for c in text) and "%" not in text:
        return text
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in keep:
            out.append(c)
        elif c == "%" and _PCT_TRIPLET.match(text, i):
            out.append(text[i : i + 3].upper())
            i += 3
            continue
        else:
            for byte in c.encode("utf-8", errors="surrogatepass"):
                out.append("%" + _HEX[byte >> 4] + _HEX[byte & 15])
        i += 1
    return "".join(out)


def _path(path: str) -> str:
    path = path.replace("\\", "/")
    if not path.startswith("/"):
        path = "/" + path
    return _remove_dot_segments(_encode(path, _PATH_KEEP))


def _query(query: str | None) -> str | None:
    return None if query is None else _encode(query, _QUERY_KEEP)


_DOT = frozenset((".", "%2E"))
_DOTDOT = frozenset(("..", ".%2E", "%2E.", "%2E%2E"))


def _remove_dot_segments(path: str) -> str:
    if "." not in path and "%2E" not in path:
        return path
    segments = path.split("/")[1:]
    out: list[str] = []
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg in _DOTDOT:
            if out:
                out.pop()
            if last:
                out.append("")
        elif seg in _DOT:
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out)
