"""Fetching one URL: guard, robots, redirects, limits, charset; one attempt, no retries.

`Fetcher.fetch(url)` returns a `FetchResult` whose `status` is one of
`webtext.schemas.FETCH_STATUSES` (`extract_empty` is decided later, by extraction) and
whose `retryable`/`retry_after` tell the scheduler (`webtext.fetch.crawler`) whether and
when to try again. Every request made on the way (robots.txt, redirect hops) is kept in
`exchanges` for the WARC file.

Every URL, the first and each redirect target (a raw UTF-8 `Location` included), goes
through `webtext.uri.parse`: the request is made for its ASCII URI form, without userinfo,
so the host connected to is the one robots.txt and politeness were keyed to. A body is
`ok` only when it ended by itself: cut by the deadline it is `timeout`, by the cap
`too_large`, and its WARC record says `WARC-Truncated`.
"""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import requests
import urllib3

from webtext.config import FetchConfig
from webtext.fetch.body import (
    DECODE_ERRORS,
    IncompleteEncoding,
    TooLarge,
    UnsupportedEncoding,
    decoder_for,
    sniff_html,
)
from webtext.fetch.charset import DecodeTimeout, decode_html
from webtext.fetch.guard import AddressGuard, BlockedAddress
from webtext.fetch.http import Deadline, Watchdog, current_deadline, guarded_session
from webtext.fetch.optout import (
    OPTOUT_LIST,
    OPTOUT_ROBOTS_AI,
    OPTOUT_TDMREP,
    SignalReader,
    TdmRepCache,
    TdmRules,
    robots_ai_optout,
)
from webtext.fetch.robots import (
    ROBOTS_MAX_BYTES,
    RobotsCache,
    RobotsPolicy,
    policy_from_response,
    product_token,
)
from webtext.fetch.warc import Exchange
from webtext.uri import BadUrl, Uri, parse, without_userinfo

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
    # provenance (webtext.fetch.archive): where the bytes came from
    source: str | None = "live"
    capture_time: int | None = None  # UTC seconds of the archive's capture
    archive_url: str | None = None


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

    def __init__(self, cfg: FetchConfig, takedown=None):
        self.cfg = cfg
        # `optout.lists` (webtext.takedown.Takedown): harvest keeps listed URLs out, but a
        # link can redirect into a list, and only a hop shows that
        self.takedown = takedown if takedown else None
        self.guard = AddressGuard(cfg.allow_networks, cfg.resolve)
        self.session = guarded_session(self.guard, cfg.concurrency)
        self.watchdog = Watchdog()
        self.agent = product_token(cfg.user_agent)
        self.robots = RobotsCache(self._fetch_robots, self.agent)
        self.signals = SignalReader(self.agent, cfg.optout_agents)
        self.tdmrep = TdmRepCache(self._fetch_tdmrep)
        self.requests_made = 0

    def close(self) -> None:
        self.watchdog.close()
        self.session.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- one URL
    def fetch(self, url: str, spent: float = 0.0) -> FetchResult:
        """One URL within `fetch.deadline`, less `spent`: the seconds its host's robots.txt
        took when the crawler fetched that just before (robots.txt counts against the
        deadline of the host's first URL, whoever fetches it)."""
        start = time.monotonic() - spent
        result = FetchResult(url=url, status="connection_error")
        with self.watchdog.watch(max(self.cfg.deadline - spent, 0.0)) as deadline:
            try:
                self._follow(_parse(url), result, deadline)
            except _Stop as stop:
                result.status, result.error, result.retryable = (
                    stop.status,
                    stop.error,
                    stop.retryable,
                )
            except _NETWORK_ERRORS as exc:  # the network, wherever it broke off
                stop = _network_stop(exc, deadline)
                result.status, result.error, result.retryable = (
                    stop.status,
                    stop.error,
                    stop.retryable,
                )
            except Exception as exc:  # a bug in our own code: a row, not a crash, and said so
                result.status, result.error = internal_error(url, exc)
        result.fetch_ms = int((time.monotonic() - start) * 1000)
        if result.status != "ok":
            result.html = None
        return result

    def _follow(self, current: Uri, result: FetchResult, deadline: Deadline) -> None:
        seen: set[str] = set()
        for hop in range(self.cfg.max_redirects + 1):
            url = str(current)
            seen.add(url)
            result.final_url = url
            self._vet(current, result)
            location = self._request(current, result, deadline)
            if location is None:
                return
            nxt = _parse(location, current, "redirect Location")
            if str(nxt) in seen:
                raise _Stop("too_many_redirects", f"redirect loop at {nxt}")
            if hop == self.cfg.max_redirects:
                break
            current = nxt
        raise _Stop("too_many_redirects", f"more than {self.cfg.max_redirects} redirects")

    def _vet(self, uri: Uri, result: FetchResult) -> None:
        """Takedown lists, address guard and robots.txt for one hop, before any connection."""
        if self.takedown is not None and self.takedown.match_url(str(uri)):
            raise _Stop(OPTOUT_LIST, f"a takedown list (optout.lists) names {uri}")
        try:
            self.guard.resolve(uri.host, uri.effective_port)
        except BlockedAddress as exc:
            raise _Stop("blocked_address", str(exc)) from None
        except OSError as exc:
            raise _Stop("connection_error", str(exc)) from None
        if self.cfg.respect_robots:
            url = str(uri)
            policy, fetched_now = self.robots.policy(url)
            if fetched_now:
                result.exchanges.extend(policy.exchanges)
            refused = self.robots_refusal(policy, url)
            if refused is not None:
                raise _Stop(*refused)
        self._vet_tdmrep(uri, result)

    def robots_refusal(self, policy: RobotsPolicy, url: str) -> tuple[str, str] | None:
        """(status, reason) when robots.txt keeps `url` from being fetched, else None."""
        if not policy.allowed(url, self.agent):
            status = policy.failure_status or "robots_disallowed"
            return status, policy.reason or f"robots.txt disallows {url}"
        token = robots_ai_optout(policy.parser, policy.named, url, self.cfg.optout_agents)
        if token:
            return OPTOUT_ROBOTS_AI, f"robots.txt disallows {url} for {token}"
        return None

    def _vet_tdmrep(self, uri: Uri, result: FetchResult) -> None:
        """The origin's /.well-known/tdmrep.json (cached per host) reserving this path."""
        rules, exchanges = self.tdmrep.rules(uri.origin)
        result.exchanges.extend(exchanges)
        if rules.reserved(str(uri)):
            raise _Stop(OPTOUT_TDMREP, f"/.well-known/tdmrep.json reserves TDM rights on {uri}")

    def _request(self, uri: Uri, result: FetchResult, deadline: Deadline) -> str | None:
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
                str(uri), headers=headers, stream=True, allow_redirects=False, timeout=timeout
            )
        except BlockedAddress as exc:  # the connection itself refused (DNS changed)
            raise _Stop("blocked_address", str(exc)) from None
        except _NETWORK_ERRORS as exc:
            result.exchanges.append(_request_exchange(uri, headers))
            raise _network_stop(exc, deadline) from None
        try:
            return self._handle(uri, resp, result, deadline)
        finally:
            resp.close()

    def _handle(self, uri: Uri, resp, result: FetchResult, deadline: Deadline) -> str | None:
        exchange = _exchange(uri, resp)
        result.exchanges.append(exchange)
        code = resp.status_code
        result.http_status = code
        result.content_type = resp.headers.get("Content-Type")
        if code in REDIRECT_CODES and resp.headers.get("Location"):
            exchange.truncated = "unspecified"  # redirect bodies are not read
            return wire_text(resp.headers["Location"])
        if code == 429 or code >= 500:
            exchange.truncated = "unspecified"
            result.retry_after = _retry_after(resp.headers.get("Retry-After"))
            raise _Stop("http_error", f"HTTP {code}", retryable=True)
        if not 200 <= code < 300:
            exchange.truncated = "unspecified"
            raise _Stop("http_error", f"HTTP {code}")
        signal = self.signals.from_headers(resp.headers.items())
        if signal:  # refused before the body is read: its text is never stored
            exchange.truncated = "unspecified"
            raise _Stop(signal, f"response header opts out of AI training ({signal})")
        sniff = sniff_html(result.content_type, b"<html>")  # the type alone, first
        if not sniff.is_html:
            exchange.truncated = "unspecified"
            raise _Stop("not_html", sniff.reason or "not HTML")
        length = resp.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > self.cfg.max_bytes:
            exchange.truncated = "length"
            raise _Stop("too_large", f"Content-Length {length} > {self.cfg.max_bytes}")
        body = self._read_body(resp, exchange, result, deadline)
        try:
            html, charset = decode_html(body, result.content_type, deadline.remaining)
        except DecodeTimeout as exc:
            raise _Stop("timeout", f"deadline of {self.cfg.deadline}s passed: {exc}") from None
        signal = self.signals.from_html(html)
        if signal:  # a <meta> refusal: the text goes neither to pages/ nor to the WARC
            exchange.body, exchange.truncated = b"", "unspecified"
            raise _Stop(signal, f"<meta> tag opts out of AI training ({signal})")
        result.html, result.charset, result.status = html, charset, "ok"
        return None

    def _read_body(self, resp, exchange: Exchange, result: FetchResult, deadline) -> bytes:
        try:
            decoder = decoder_for(resp.headers.get("Content-Encoding"))
        except UnsupportedEncoding as exc:
            exchange.truncated = "unspecified"
            raise _Stop("not_html", str(exc)) from None
        try:
            return read_body(
                resp, decoder, exchange, self.cfg.max_bytes, deadline, self.cfg.deadline,
                sniff=lambda head: self._sniff(result, head, exchange),
            )  # fmt: skip
        finally:
            result.bytes = len(exchange.body)

    @staticmethod
    def _sniff(result: FetchResult, head: bytes, exchange: Exchange) -> None:
        sniff = sniff_html(result.content_type, head)
        if not sniff.is_html:
            raise _Stop("not_html", sniff.reason or "not HTML")

    # ---------------------------------------------------------------- robots
    def _fetch_robots(self, robots_url: str) -> RobotsPolicy:
        """Same guard, limits and deadline as pages; up to 5 redirects (RFC 9309).

        A robots.txt that cannot be read to its end (cut by the deadline, an unsupported or
        corrupt Content-Encoding) or that redirects more than 5 times is "unavailable":
        everything allowed, as for a 4xx, and cached like any other answer.
        """
        result, body, unavailable = self._fetch_host_file(robots_url)
        if unavailable is not None:
            policy = RobotsPolicy(allow_all=True, reason=f"{unavailable}: unavailable, all allowed")
        else:
            policy = policy_from_response(
                result.http_status, body, self.agent, result.error, result.status
            )
        policy.exchanges = result.exchanges
        return policy

    def _fetch_host_file(self, file_url: str) -> tuple[FetchResult, str | None, str | None]:
        """A per-host file (robots.txt, tdmrep.json): the final answer, its decoded text, and
        why it is unavailable (cut, undecodable, too many redirects) or None."""
        result = FetchResult(url=file_url, status="connection_error")
        body: str | None = None
        unavailable: str | None = None
        # inside a page fetch (the robots.txt of a host it was redirected to), the page's
        # deadline bounds this one: a page never takes more than `deadline` in all
        outer = current_deadline()
        budget = self.cfg.deadline
        if outer is not None:
            budget = min(budget, max(outer.remaining(), 0.0))
        with self.watchdog.watch(budget) as deadline:
            try:
                current = _parse(file_url)
                for hop in range(6):
                    try:
                        self.guard.resolve(current.host, current.effective_port)
                    except BlockedAddress as exc:
                        raise _Stop("blocked_address", str(exc)) from None
                    except OSError as exc:
                        raise _Stop("connection_error", str(exc)) from None
                    location, body = self._robots_request(current, result, deadline)
                    if location is None:
                        break
                    if hop == 5:
                        unavailable = "robots.txt redirects more than 5 times"
                        break
                    try:
                        current = parse(location, current)
                    except BadUrl as exc:
                        unavailable = f"robots.txt redirects to a bad URL: {exc}"
                        break
                    result.http_status = None
            except _Unavailable as exc:
                unavailable = str(exc)
            except _Stop as stop:
                result.http_status, result.error, result.status = None, stop.error, stop.status
        if budget < self.cfg.deadline and deadline.remaining() <= 0:
            # cut by the page's deadline, not the host's doing: the page is `timeout` and
            # nothing is cached (the host's next URL asks again)
            raise _Stop("timeout", f"deadline of {self.cfg.deadline}s passed reading {file_url}")
        return result, body, unavailable

    def _fetch_tdmrep(self, url: str) -> tuple[TdmRules, list]:
        """tdmrep.json through robots.txt's fetch path (guard, redirects, 500 KiB cap).
        Anything but a complete 2xx JSON array of rules: no reservation declared this way."""
        result, body, unavailable = self._fetch_host_file(url)
        ok = result.http_status is not None and 200 <= result.http_status < 300
        if unavailable is not None or not ok:
            why = unavailable or result.http_status or result.error
            return TdmRules(note=f"no tdmrep.json ({why})"), result.exchanges
        return TdmRules.parse(body or ""), result.exchanges

    def _robots_request(self, uri: Uri, result: FetchResult, deadline) -> tuple[str | None, str]:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise _Stop("timeout", "deadline passed")
        headers = {"User-Agent": self.cfg.user_agent, "Accept-Encoding": "gzip, deflate, br"}
        timeout = (min(self.cfg.connect_timeout, remaining), min(self.cfg.read_timeout, remaining))
        self.requests_made += 1
        try:
            resp = self.session.get(
                str(uri), headers=headers, stream=True, allow_redirects=False, timeout=timeout
            )
        except BlockedAddress as exc:
            raise _Stop("blocked_address", str(exc)) from None
        except _NETWORK_ERRORS as exc:
            result.exchanges.append(_request_exchange(uri, headers))
            raise _network_stop(exc, deadline, retryable=False) from None
        try:
            exchange = _exchange(uri, resp)
            result.exchanges.append(exchange)
            result.http_status = resp.status_code
            if resp.status_code in REDIRECT_CODES and resp.headers.get("Location"):
                exchange.truncated = "unspecified"
                return wire_text(resp.headers["Location"]), ""
            if not 200 <= resp.status_code < 300:
                exchange.truncated = "unspecified"
                return None, ""
            body = self._read_robots_body(resp, exchange, deadline)
            # a UTF-8 BOM (files saved by Windows editors) is not text: protego would read
            # '\ufeffUser-agent' as an unknown line and drop the first group, json.loads
            # refuses the file
            return None, body.decode("utf-8", errors="replace").removeprefix("\ufeff")
        finally:
            resp.close()

    def _read_robots_body(self, resp, exchange: Exchange, deadline) -> bytes:
        cap = ROBOTS_MAX_BYTES  # RFC 9309: parse at least the first 500 KiB, ignore the rest
        try:
            decoder = decoder_for(resp.headers.get("Content-Encoding"))
        except UnsupportedEncoding as exc:
            exchange.truncated = "unspecified"
            raise _Unavailable(f"robots.txt undecodable: {exc}") from None
        raw, out, size, raw_size = [], [], 0, 0
        try:
            while size < cap:
                if raw_size >= cap:  # a stream of empty blocks: bytes in, nothing out
                    exchange.truncated = "length"
                    break
                if deadline.remaining() <= 0:
                    exchange.truncated = "time"
                    raise _Unavailable("robots.txt cut by the deadline")
                chunk = resp.raw.read1(CHUNK, decode_content=False)
                if not chunk:
                    if deadline.expired:
                        exchange.truncated = "time"
                        raise _Unavailable("robots.txt cut by the deadline")
                    out.append(decoder.flush(cap))
                    break
                chunk = chunk[: cap - raw_size]  # the cap holds on the wire too
                raw.append(chunk)
                raw_size += len(chunk)
                piece = decoder.feed(chunk, cap)  # the cap of the whole file
                out.append(piece)
                size += len(piece)
        except TooLarge as exc:  # RFC 9309: the first 500 KiB are the file
            out.append(exc.partial)
            exchange.truncated = "length"
        except IncompleteEncoding as exc:  # a compressed file that stops early: cut short
            raise _Unavailable(f"robots.txt cut short: {exc}") from None
        except _Unavailable:
            raise
        except _NETWORK_ERRORS as exc:  # the host answered, then the body broke off
            exchange.truncated = "time" if deadline.expired else "unspecified"
            raise _Unavailable(f"robots.txt cut short: {type(exc).__name__}: {exc}") from None
        except DECODE_ERRORS as exc:  # a corrupt compressed body
            exchange.truncated = "unspecified"
            raise _Unavailable(f"robots.txt undecodable: {type(exc).__name__}: {exc}") from None
        finally:
            exchange.body = b"".join(raw)
        return b"".join(out)[:cap]


class _Unavailable(Exception):
    """robots.txt cannot be read as a whole file: RFC 9309's "unavailable"."""


# -------------------------------------------------------------------- helpers
def read_body(resp, decoder, exchange: Exchange, cap: int, deadline: Deadline, seconds: float,
              sniff: Callable[[bytes], None] | None = None, what: str = "body") -> bytes:  # fmt: skip
    """The body of `resp`, decoded by `decoder` (from `decoder_for`), within `deadline`.

    Live pages and archive answers alike: at most `cap` bytes as received (kept in
    `exchange.body`, whatever happens) and after decoding. A body is complete only when it
    ended by itself: an empty read after the watchdog shut the socket is a cut (`timeout`),
    not the end. `sniff(first bytes)` may stop a body that is not HTML once 1 KiB is in.
    Every outcome but a complete body is a `_Stop` naming its fetch_status.
    """
    raw: list[bytes] = []
    out: list[bytes] = []
    raw_size = out_size = 0
    sniffed = sniff is None
    try:
        while True:
            if deadline.remaining() <= 0:
                exchange.truncated = "time"
                raise _Stop("timeout", f"deadline of {seconds}s passed")
            chunk = resp.raw.read1(CHUNK, decode_content=False)
            if not chunk:
                if deadline.expired:  # the watchdog shut the socket: a cut, not the end
                    exchange.truncated = "time"
                    raise _Stop("timeout", f"deadline of {seconds}s passed")
                out.append(decoder.flush(cap))
                break
            if raw_size + len(chunk) > cap:
                raw.append(chunk[: cap - raw_size])
                raw_size = cap
                exchange.truncated = "length"
                raise _Stop("too_large", f"{what} over {cap} bytes")
            raw.append(chunk)
            raw_size += len(chunk)
            piece = decoder.feed(chunk, cap)
            out.append(piece)
            out_size += len(piece)
            if not sniffed and out_size >= SNIFF_BYTES:
                sniffed = True
                sniff(b"".join(out))
    except TooLarge:
        exchange.truncated = "length"
        raise _Stop("too_large", f"decompressed {what} over {cap} bytes") from None
    except IncompleteEncoding as exc:  # the server stopped inside a gzip/br stream
        raise _Stop("connection_error", f"{what} cut short: {exc}", retryable=True) from None
    except _Stop:
        raise
    except _NETWORK_ERRORS as exc:
        exchange.truncated = "time" if deadline.expired else "unspecified"
        raise _network_stop(exc, deadline) from None
    except DECODE_ERRORS as exc:  # a corrupt compressed body
        exchange.truncated = "unspecified"
        raise _Stop("not_html", f"undecodable {what}: {type(exc).__name__}: {exc}") from None
    finally:
        exchange.body = b"".join(raw)
    body = b"".join(out)
    if not sniffed:
        sniff(body)
    return body


def internal_error(url: str, exc: BaseException) -> tuple[str, str]:
    """A bug in the crawler's own code met while fetching `url`: logged with its traceback,
    recorded as `internal_error` (never retried, never taken for a dead link)."""
    log.error("fetch %s: internal error", url, exc_info=exc)
    return "internal_error", f"internal error: {type(exc).__name__}: {exc} (traceback in the log)"


def _parse(url: str, base: Uri | None = None, what: str = "URL") -> Uri:
    try:
        return parse(url, base)
    except BadUrl as exc:
        # the message goes to the `error` column: a userinfo in it is not stored either
        raise _Stop("http_error", f"invalid {what} {without_userinfo(url)!r}: {exc}") from None


def wire_text(value: str) -> str:
    """A header value as the server meant it: http.client decodes header bytes as
    ISO-8859-1, so a raw UTF-8 `Location` arrives as mojibake; undo that when it is UTF-8."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


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


def _request_exchange(uri: Uri, headers: dict[str, str]) -> Exchange:
    line = f"GET {uri.target} HTTP/1.1"
    return Exchange(str(uri), line, [("Host", uri.netloc), *headers.items()])


def _exchange(uri: Uri, resp: requests.Response) -> Exchange:
    req_headers = [("Host", uri.netloc)]
    req_headers += [(k, v) for k, v in resp.request.headers.items() if k.lower() != "host"]
    ip = None
    try:
        sock = resp.raw.connection.sock  # type: ignore[union-attr]
        ip = sock.getpeername()[0] if sock is not None else None
    except (AttributeError, OSError):
        pass
    version = {10: "HTTP/1.0", 11: "HTTP/1.1"}.get(getattr(resp.raw, "version", 11), "HTTP/1.1")
    target = getattr(resp.request, "path_url", None) or uri.target  # as sent
    return Exchange(
        url=str(uri),
        request_line=f"GET {target} HTTP/1.1",
        request_headers=req_headers,
        status=resp.status_code,
        reason=resp.reason or "",
        http_version=version,
        response_headers=list(resp.raw.headers.items()),
        ip=ip,
    )
