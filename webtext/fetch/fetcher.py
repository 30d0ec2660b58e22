"""Fetching one URL: guard, robots, redirects, limits, charset; one attempt, no retries.

`Fetcher.fetch(url)` returns a `FetchResult` whose `status` is one of
`webtext.schemas.FETCH_STATUSES` (`extract_empty` is decided later, by extraction) and
whose `retryable`/`retry_after` tell the scheduler (`webtext.fetch.crawler`) whether and
when to try again. Every request made on the way (robots.txt, redirect hops) is kept in
`exchanges` for the WARC file.
"""

from __future__ import annotations

import http.client
import logging
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3

from webtext.config import FetchConfig
from webtext.fetch.body import TooLarge, UnsupportedEncoding, decoder_for, sniff_html
from webtext.fetch.charset import decode_html
from webtext.fetch.guard import AddressGuard, BlockedAddress
from webtext.fetch.http import Deadline, Watchdog, guarded_session
from webtext.fetch.robots import (
    ROBOTS_MAX_BYTES,
    RobotsCache,
    RobotsPolicy,
    policy_from_response,
    product_token,
)
from webtext.fetch.warc import Exchange

log = logging.getLogger("webtext.fetch")
CHUNK = 64 * 1024
SNIFF_BYTES = 1024
ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"
REDIRECT_CODES = (301, 302, 303, 307, 308)


@dataclass
class FetchResult:
    url: str
    status: str
    final_url: str | None = None
    http_status: int | None = None
    content_type: str | None = None
    bytes: int = 0  # body bytes as received (before decompression) of the final response
    fetch_ms: int = 0
    html: str | None = None
    charset: str | None = None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    attempts: int = 1
    exchanges: list[Exchange] = field(default_factory=list)


class _Stop(Exception):
    """Ends an attempt with a status (raised deep inside body reading)."""

    def __init__(self, status: str, error: str, retryable: bool = False):
        super().__init__(error)
        self.status, self.error, self.retryable = status, error, retryable


_NETWORK_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)
_BAD_REQUEST_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
    urllib3.exceptions.LocationParseError,
)
_TIMEOUT_ERRORS = (
    requests.Timeout,
    urllib3.exceptions.TimeoutError,
    TimeoutError,
)


class Fetcher:
    """Thread-safe: one per crawl task, shared by its worker threads."""

    def __init__(self, cfg: FetchConfig):
        self.cfg = cfg
        self.guard = AddressGuard(cfg.allow_networks)
        self.session = guarded_session(self.guard, cfg.concurrency)
        self.watchdog = Watchdog()
        self.agent = product_token(cfg.user_agent)
        self.robots = RobotsCache(self._fetch_robots, self.agent)
        self.requests_made = 0

    def close(self) -> None:
        self.watchdog.close()
        self.session.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- one URL
    def fetch(self, url: str) -> FetchResult:
        start = time.monotonic()
        result = FetchResult(url=url, status="connection_error")
        with self.watchdog.watch(self.cfg.deadline) as deadline:
            try:
                self._follow(url, result, deadline)
            except _Stop as stop:
                result.status, result.error, result.retryable = (
                    stop.status,
                    stop.error,
                    stop.retryable,
                )
            except Exception as exc:  # a bug or an input nobody foresaw: a row, not a crash
                log.warning("fetch %s: unexpected %s: %s", url, type(exc).__name__, exc)
                result.status = "connection_error"
                result.error = f"unexpected {type(exc).__name__}: {exc}"
        result.fetch_ms = int((time.monotonic() - start) * 1000)
        if result.status != "ok":
            result.html = None
        return result

    def _follow(self, url: str, result: FetchResult, deadline: Deadline) -> None:
        seen: set[str] = set()
        current = _strip_fragment(url)
        for hop in range(self.cfg.max_redirects + 1):
            seen.add(current)
            result.final_url = current
            self._vet(current, result)
            location = self._request(current, result, deadline)
            if location is None:
                return
            nxt = _strip_fragment(urljoin(current, location))
            if nxt in seen:
                raise _Stop("too_many_redirects", f"redirect loop at {nxt}")
            if hop == self.cfg.max_redirects:
                break
            current = nxt
        raise _Stop("too_many_redirects", f"more than {self.cfg.max_redirects} redirects")

    def _vet(self, url: str, result: FetchResult) -> None:
        """Scheme, address guard and robots.txt for one hop, before any connection."""
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise _Stop("http_error", f"invalid URL {url!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _Stop("http_error", f"unsupported URL {url!r}")
        try:
            self.guard.resolve(parts.hostname, port)
        except BlockedAddress as exc:
            raise _Stop("blocked_address", str(exc)) from None
        except OSError as exc:
            raise _Stop("connection_error", str(exc)) from None
        if self.cfg.respect_robots:
            policy, fetched_now = self.robots.policy(url)
            if fetched_now:
                result.exchanges.extend(policy.exchanges)
            if not policy.allowed(url, self.agent):
                status = policy.failure_status or "robots_disallowed"
                raise _Stop(status, policy.reason or f"robots.txt disallows {url}")

    def _request(self, url: str, result: FetchResult, deadline: Deadline) -> str | None:
        """One HTTP exchange; returns the redirect target, or None when the chain ends."""
        remaining = deadline.remaining()
        if remaining <= 0:
            raise _Stop("timeout", f"deadline of {self.cfg.deadline}s passed")
        timeout = (min(self.cfg.connect_timeout, remaining), min(self.cfg.read_timeout, remaining))
        headers = {
            "User-Agent": self.cfg.user_agent,
            "Accept": ACCEPT,
            "Accept-Encoding": "gzip, deflate, br",
            "Accept-Language": "en;q=1.0, *;q=0.5",
        }
        self.requests_made += 1
        try:
            resp = self.session.get(
                url, headers=headers, stream=True, allow_redirects=False, timeout=timeout
            )
        except BlockedAddress as exc:  # the connection itself refused (DNS changed)
            raise _Stop("blocked_address", str(exc)) from None
        except _NETWORK_ERRORS as exc:
            result.exchanges.append(_request_exchange(url, headers))
            raise _network_stop(exc, deadline) from None
        try:
            return self._handle(url, resp, result, deadline)
        finally:
            resp.close()

    def _handle(self, url, resp, result: FetchResult, deadline: Deadline) -> str | None:
        exchange = _exchange(url, resp)
        result.exchanges.append(exchange)
        code = resp.status_code
        result.http_status = code
        result.content_type = resp.headers.get("Content-Type")
        if code in REDIRECT_CODES and resp.headers.get("Location"):
            exchange.truncated = "unspecified"  # redirect bodies are not read
            return resp.headers["Location"]
        if code == 429 or code >= 500:
            exchange.truncated = "unspecified"
            result.retry_after = _retry_after(resp.headers.get("Retry-After"))
            raise _Stop("http_error", f"HTTP {code}", retryable=True)
        if not 200 <= code < 300:
            exchange.truncated = "unspecified"
            raise _Stop("http_error", f"HTTP {code}")
        sniff = sniff_html(result.content_type, b"<html>")  # the type alone, first
        if not sniff.is_html:
            exchange.truncated = "unspecified"
            raise _Stop("not_html", sniff.reason or "not HTML")
        length = resp.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self.cfg.max_bytes:
            exchange.truncated = "length"
            raise _Stop("too_large", f"Content-Length {length} > {self.cfg.max_bytes}")
        body = self._read_body(resp, exchange, result, deadline)
        html, charset = decode_html(body, result.content_type)
        result.html, result.charset, result.status = html, charset, "ok"
        return None

    def _read_body(self, resp, exchange: Exchange, result: FetchResult, deadline) -> bytes:
        cap = self.cfg.max_bytes
        try:
            decoder = decoder_for(resp.headers.get("Content-Encoding"))
        except UnsupportedEncoding as exc:
            exchange.truncated = "unspecified"
            raise _Stop("not_html", str(exc)) from None
        raw: list[bytes] = []
        out: list[bytes] = []
        raw_size = out_size = 0
        sniffed = False
        try:
            while True:
                if deadline.remaining() <= 0:
                    exchange.truncated = "time"
                    raise _Stop("timeout", f"deadline of {self.cfg.deadline}s passed")
                chunk = resp.raw.read1(CHUNK, decode_content=False)
                if not chunk:
                    out.append(decoder.flush(cap))
                    break
                if raw_size + len(chunk) > cap:
                    raw.append(chunk[: cap - raw_size])
                    raw_size = cap
                    exchange.truncated = "length"
                    raise _Stop("too_large", f"body over {cap} bytes")
                raw.append(chunk)
                raw_size += len(chunk)
                piece = decoder.feed(chunk, cap)
                out.append(piece)
                out_size += len(piece)
                if not sniffed and out_size >= SNIFF_BYTES:
                    sniffed = True
                    self._sniff(result, b"".join(out), exchange)
        except TooLarge:
            exchange.truncated = "length"
            raise _Stop("too_large", f"decompressed body over {cap} bytes") from None
        except _Stop:
            raise
        except _NETWORK_ERRORS as exc:
            exchange.truncated = "time" if deadline.expired else "unspecified"
            raise _network_stop(exc, deadline) from None
        except Exception as exc:  # zlib.error, brotli.error: a corrupt compressed body
            exchange.truncated = "unspecified"
            raise _Stop("not_html", f"undecodable body: {type(exc).__name__}: {exc}") from None
        finally:
            exchange.body = b"".join(raw)
            result.bytes = raw_size
        body = b"".join(out)
        if not sniffed:
            self._sniff(result, body, exchange)
        return body

    @staticmethod
    def _sniff(result: FetchResult, head: bytes, exchange: Exchange) -> None:
        sniff = sniff_html(result.content_type, head)
        if not sniff.is_html:
            raise _Stop("not_html", sniff.reason or "not HTML")

    # ---------------------------------------------------------------- robots
    def _fetch_robots(self, robots_url: str) -> RobotsPolicy:
        """Same guard, limits and deadline as pages; up to 5 redirects (RFC 9309)."""
        result = FetchResult(url=robots_url, status="connection_error")
        body: str | None = None
        with self.watchdog.watch(self.cfg.deadline) as deadline:
            current = robots_url
            try:
                for _ in range(6):
                    parts = urlsplit(current)
                    if parts.scheme not in ("http", "https") or not parts.hostname:
                        break
                    port = parts.port or (443 if parts.scheme == "https" else 80)
                    try:
                        self.guard.resolve(parts.hostname, port)
                    except BlockedAddress as exc:
                        raise _Stop("blocked_address", str(exc)) from None
                    except OSError as exc:
                        raise _Stop("connection_error", str(exc)) from None
                    location, body = self._robots_request(current, result, deadline)
                    if location is None:
                        break
                    current = urljoin(current, location)
                    result.http_status = None
            except _Stop as stop:
                result.http_status, result.error, result.status = None, stop.error, stop.status
        policy = policy_from_response(
            result.http_status, body, self.agent, result.error, result.status
        )
        policy.exchanges = result.exchanges
        return policy

    def _robots_request(self, url, result: FetchResult, deadline) -> tuple[str | None, str]:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise _Stop("timeout", "deadline passed")
        headers = {"User-Agent": self.cfg.user_agent, "Accept-Encoding": "gzip, deflate, br"}
        timeout = (min(self.cfg.connect_timeout, remaining), min(self.cfg.read_timeout, remaining))
        self.requests_made += 1
        try:
            resp = self.session.get(
                url, headers=headers, stream=True, allow_redirects=False, timeout=timeout
            )
        except BlockedAddress as exc:
            raise _Stop("blocked_address", str(exc)) from None
        except _NETWORK_ERRORS as exc:
            result.exchanges.append(_request_exchange(url, headers))
            raise _network_stop(exc, deadline, retryable=False) from None
        try:
            exchange = _exchange(url, resp)
            result.exchanges.append(exchange)
            result.http_status = resp.status_code
            if resp.status_code in REDIRECT_CODES and resp.headers.get("Location"):
                exchange.truncated = "unspecified"
                return resp.headers["Location"], ""
            if not 200 <= resp.status_code < 300:
                exchange.truncated = "unspecified"
                return None, ""
            body = self._read_robots_body(resp, exchange, deadline)
            return None, body.decode("utf-8", errors="replace")
        finally:
            resp.close()

    def _read_robots_body(self, resp, exchange: Exchange, deadline) -> bytes:
        cap = ROBOTS_MAX_BYTES  # RFC 9309: parse at least the first 500 KiB, ignore the rest
        decoder = decoder_for(resp.headers.get("Content-Encoding"))
        raw, out, size = [], [], 0
        try:
            while size < cap and deadline.remaining() > 0:
                chunk = resp.raw.read1(CHUNK, decode_content=False)
                if not chunk:
                    out.append(decoder.flush(cap - size))
                    break
                raw.append(chunk)
                piece = decoder.feed(chunk, cap - size)
                out.append(piece)
                size += len(piece)
        except TooLarge:
            exchange.truncated = "length"
        except _NETWORK_ERRORS as exc:
            exchange.body = b"".join(raw)
            raise _network_stop(exc, deadline, retryable=False) from None
        exchange.body = b"".join(raw)
        return b"".join(out)[:cap]


# -------------------------------------------------------------------- helpers
def _strip_fragment(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(fragment=""))


def _network_stop(exc: BaseException, deadline: Deadline, retryable: bool = True) -> _Stop:
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, _BAD_REQUEST_ERRORS):
        return _Stop("http_error", f"invalid request: {detail}")
    if deadline.expired or deadline.remaining() <= 0:
        return _Stop("timeout", f"deadline passed ({detail})")
    if isinstance(exc, _TIMEOUT_ERRORS) or "timed out" in str(exc).lower():
        return _Stop("timeout", detail)
    return _Stop("connection_error", detail, retryable=retryable)


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _request_line(url: str) -> str:
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return f"GET {target} HTTP/1.1"


def _request_exchange(url: str, headers: dict[str, str]) -> Exchange:
    host = urlsplit(url).netloc
    return Exchange(url, _request_line(url), [("Host", host), *headers.items()])


def _exchange(url: str, resp: requests.Response) -> Exchange:
    req_headers = [("Host", urlsplit(url).netloc)]
    req_headers += [(k, v) for k, v in resp.request.headers.items() if k.lower() != "host"]
    ip = None
    try:
        sock = resp.raw.connection.sock  # type: ignore[union-attr]
        ip = sock.getpeername()[0] if sock is not None else None
    except (AttributeError, OSError):
        pass
    version = {10: "HTTP/1.0", 11: "HTTP/1.1"}.get(getattr(resp.raw, "version", 11), "HTTP/1.1")
    return Exchange(
        url=url,
        request_line=_request_line(url),
        request_headers=req_headers,
        status=resp.status_code,
        reason=resp.reason or "",
        http_version=version,
        response_headers=list(resp.raw.headers.items()),
        ip=ip,
    )
