"""Looking a URL up in each archive, choosing a capture and retrieving its original bytes.

`wayback`: GET {cdx_url}?url=..&output=json&from=..&to=.. then {replay_url}/{ts}id_/{url}
(`id_`: the bytes as captured, never the archive's rewritten replay page).
`commoncrawl`: GET {cdx_url}/{index}-index?url=..&output=json&from=..&to=.. for each index,
then {data_url}/{filename} with `Range: bytes=offset-(offset+length-1)`: one gzip member
holding one WARC record, read with warcio under the same caps.
An archived redirect is followed hop by hop (a new lookup for its target, closest to the
same time) up to `fetch.max_redirects`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import random
import re
import threading
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote, urlencode

from webtext.config import ArchiveConfig, ArchiveSource
from webtext.fetch.archive.cache import CdxCache
from webtext.fetch.archive.capture import (
    REDIRECTS,
    Capture,
    format_timestamp,
    parse_cdx,
    rank,
    why_unusable,
)
from webtext.fetch.archive.consent import ASK_ARCHIVE, archived_verdict, live_verdict
from webtext.fetch.archive.ratelimit import RateLimiter
from webtext.fetch.archive.request import Answer, ArchiveRequestError, guarded_get
from webtext.fetch.body import decode_body, sniff_html
from webtext.fetch.charset import decode_html
from webtext.fetch.crawler import backoff_delay
from webtext.fetch.fetcher import Fetcher, FetchResult, internal_error
from webtext.fetch.warc import Exchange
from webtext.uri import BadUrl, parse

CAPTURES_TRIED = 3  # replays tried per hop before giving up on a source
WARC_HEADER_ALLOWANCE = 256 * 1024  # WARC + HTTP headers around a payload of max_bytes


def target_time(first_created_utc: int | None, archive: ArchiveConfig) -> int:
    """The time a capture should be closest to: `archive.target_date` (00:00 UTC), else the
    link's first submission, else now."""
    if archive.target_date is not None:
        day = archive.target_date
        return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())
    if first_created_utc is not None:
        return int(first_created_utc)
    return int(time.time())


class _Miss(Exception):
    """This source has no usable capture (a definitive answer)."""


class ArchiveFetcher:
    """Thread-safe; one per crawl task, beside (and sharing the session of) its `Fetcher`."""

    def __init__(self, fetcher: Fetcher, archive: ArchiveConfig, work_dir: str | Path | None):
        self.fetcher = fetcher
        self.cfg = archive
        self.fcfg = fetcher.cfg
        work = Path(work_dir) if work_dir is not None else None
        self.cache = CdxCache(work / "cdx" if work else None)
        self.limiters = [
            RateLimiter(
                s.rate_per_s, s.concurrency, work / "rate" / f"{i}-{s.kind}.next" if work else None
            )  # fmt: skip
            for i, s in enumerate(archive.sources)
        ]
        self.max_distance_s = archive.max_distance_days * 86400
        self._rng = random.Random(0)
        self._lock = threading.Lock()
        self.requests_made = 0
        self._robots_memo: dict = {}  # (robots.txt URL, capture time) -> archived policy
        # URLs whose live host answered (live_then_archive): its robots.txt and tdmrep.json
        # let the live request through, so they allow the archived copy too (consent.py)
        self.live_answered: set[str] = set()

    # ------------------------------------------------------------------ one URL
    def fetch(self, url: str, target: int) -> FetchResult:
        """`ok` with the capture, `archive_miss` when every archive answered without a
        usable capture, else the first archive's failure status (it may answer later)."""
        start = time.monotonic()
        exchanges: list[Exchange] = []
        misses: list[str] = []
        failure: ArchiveRequestError | None = None
        result: FetchResult | None = None
        refused = live_verdict(self, url)  # the live site's signals, when it answered
        if refused and refused is not ASK_ARCHIVE:
            result = FetchResult(url=url, status=refused[0], error=refused[1])
            result.source = None
            result.fetch_ms = int((time.monotonic() - start) * 1000)
            return result
        for i, source in enumerate(self.cfg.sources):
            try:
                result = self._from_source(i, source, url, target, exchanges)
                break
            except _Miss as miss:
                misses.append(f"{source.kind}: {miss}")
            except ArchiveRequestError as exc:
                misses.append(f"{source.kind}: {exc.status}: {exc.error}")
                failure = failure or exc
            except Exception as exc:  # a bug in our own code: a row, not a crash, and said so
                status, error = internal_error(url, exc)
                misses.append(f"{source.kind}: {error}")
                failure = failure or ArchiveRequestError(status, error)
        if result is not None and result.status == "ok" and refused is ASK_ARCHIVE:
            page_exchange = exchanges[-1] if exchanges else None
            verdict = archived_verdict(self, url, result.capture_time, exchanges)
            if verdict:  # the archived robots.txt refuses it: keep no text, as for live pages
                if page_exchange is not None:
                    page_exchange.body, page_exchange.truncated = b"", "unspecified"
                result.status, result.error, result.html, result.charset = (
                    verdict[0], verdict[1], None, None)  # fmt: skip
        if result is None:
            status = failure.status if failure is not None else "archive_miss"
            result = FetchResult(url=url, status=status, error="; ".join(misses) or "no archive")
            result.source = None
        result.exchanges = exchanges
        result.fetch_ms = int((time.monotonic() - start) * 1000)
        return result

    def _from_source(self, i: int, source: ArchiveSource, url: str, target: int,
                     exchanges: list[Exchange]) -> FetchResult:  # fmt: skip
        current, seen = url, {url}
        for _hop in range(self.fcfg.max_redirects + 1):
            captures = self._lookup(i, source, current, target, exchanges)
            ranked = rank(captures, target, self.max_distance_s)
            if not ranked:
                raise _Miss(f"{current}: {why_unusable(captures, target, self.max_distance_s)}")
            notes: list[str] = []
            nxt = None
            for capture in ranked[:CAPTURES_TRIED]:
                try:
                    got = self._retrieve(i, source, capture, exchanges)
                except ArchiveRequestError as exc:
                    if exc.status not in ("too_large", "not_html"):
                        raise  # the archive itself failed: not this capture's fault
                    got = ("unusable", f"{exc.status}: {exc.error}")
                if isinstance(got, FetchResult):
                    served = got.capture_time
                    if served is not None and abs(served - target) > self.max_distance_s:
                        notes.append(f"{capture.timestamp}: the archive served a capture of "
                                     f"{format_timestamp(served)}, outside the window")  # fmt: skip
                        continue
                    return got
                kind, detail = got
                if kind == "redirect":
                    nxt = detail
                    break
                notes.append(f"{capture.timestamp}: {detail}")
            if nxt is None:
                raise _Miss(f"{current}: no capture could be used ({'; '.join(notes)})")
            if nxt in seen:
                raise _Miss(f"archived redirect loop at {nxt}")
            seen.add(nxt)
            current = nxt
        raise _Miss(f"more than {self.fcfg.max_redirects} archived redirects")

    # ------------------------------------------------------------------ lookups
    def _lookup(self, i: int, source: ArchiveSource, url: str, target: int,
                exchanges: list[Exchange]) -> list[Capture]:  # fmt: skip
        params = {
            "url": url,
            "output": "json",
            "from": format_timestamp(target - self.max_distance_s),
            "to": format_timestamp(target + self.max_distance_s),
        }
        query = urlencode(params, quote_via=quote, safe=":/")
        if source.kind == "wayback":
            requests = [f"{source.cdx_url}?{query}"]
        else:
            requests = [f"{source.cdx_url}/{index}-index?{query}" for index in source.indexes]
        captures: list[Capture] = []
        for request_url in requests:
            cached = self.cache.get(request_url)
            if cached is None:
                answer = self._call(i, request_url, {}, exchanges, read_body_for=(200, 404))
                if answer.status not in (200, 404):
                    raise ArchiveRequestError(
                        "http_error", f"CDX lookup answered HTTP {answer.status}"
                    )
                text = answer.body.decode("utf-8", errors="replace")
                cached = (answer.status, text)
                self.cache.put(request_url, answer.status, text)
            status, text = cached
            if status == 200:
                found, _bad = parse_cdx(text)
                captures += found
        return captures

    def _call(self, i: int, url: str, extra: dict[str, str], exchanges: list[Exchange],
              **kwargs) -> Answer:  # fmt: skip
        """One request to archive `i`, paced by its bucket; 429/5xx retried (Retry-After)."""
        headers = {"User-Agent": self.fcfg.user_agent, "Accept-Encoding": "gzip, deflate, br",
                   **extra}  # fmt: skip
        limiter = self.limiters[i]
        attempt = 1
        while True:
            with limiter.slot():
                with self._lock:
                    self.requests_made += 1
                try:
                    answer = guarded_get(self.fetcher, url, headers, **kwargs)
                    exchanges.append(answer.exchange)
                    return answer
                except ArchiveRequestError as exc:
                    exchanges.extend(exc.exchanges)
                    if not exc.retryable or attempt > self.fcfg.max_retries:
                        raise
                    retry_after = exc.retry_after
            with self._lock:
                wait = backoff_delay(self.fcfg, attempt, retry_after, self._rng)
            limiter.pause(wait)
            attempt += 1

    # ------------------------------------------------------------------ replays
    def _retrieve(self, i: int, source: ArchiveSource, capture: Capture,
                  exchanges: list[Exchange]) -> FetchResult | tuple[str, str]:  # fmt: skip
        """The capture as a result, or ("redirect", target URL) / ("unusable", why)."""
        if source.kind == "wayback":
            return self._replay(i, source, capture, exchanges)
        return self._range(i, source, capture, exchanges)

    def _replay(self, i, source: ArchiveSource, capture: Capture, exchanges):
        archive_url = f"{source.replay_url}/{capture.timestamp}id_/{capture.url}"
        for _ in range(3):  # the archive may point at the same URL under another timestamp
            answer = self._call(i, archive_url, {}, exchanges, read_body_for=(200,))
            location = answer.headers.get("Location")
            if answer.status in REDIRECTS and location:
                try:
                    target, ts = _unwrap(source.replay_url or "", archive_url, capture.url,
                                         location)  # fmt: skip
                except BadUrl as exc:
                    return ("unusable", f"archived redirect to {location[:200]!r}: {exc}")
                if ts is not None and _same_url(target, capture.url):
                    archive_url = f"{source.replay_url}/{ts}id_/{capture.url}"
                    continue
                return ("redirect", target)
            if answer.status != 200:
                return ("unusable", f"replay answered HTTP {answer.status}")
            # an archive may answer with another capture than the one asked for (pywb passes
            # over a redirect to another form of the same URL, http -> https://www.): its
            # Memento headers name what was served, and provenance records that
            capture, archive_url = _served(answer.headers, capture, archive_url)
            return self._page(source, capture, archive_url, list(answer.headers.items()),
                              answer.body, answer.raw_bytes, exchanges)  # fmt: skip
        return ("unusable", "replay kept redirecting to other timestamps")

    def _range(self, i, source: ArchiveSource, capture: Capture, exchanges):
        if not capture.filename or capture.offset is None or not capture.length:
            return ("unusable", "index entry without filename/offset/length")
        if capture.length > self.fcfg.max_bytes:
            return ("unusable", f"record of {capture.length} bytes > {self.fcfg.max_bytes}")
        end = capture.offset + capture.length - 1
        data_url = f"{source.data_url}/{capture.filename.lstrip('/')}"
        archive_url = f"{data_url}#bytes={capture.offset}-{end}"
        scratch: list[Exchange] = []
        answer = self._call(i, data_url, {"Range": f"bytes={capture.offset}-{end}"}, scratch,
                            read_body_for=(206,))  # fmt: skip
        if answer.status != 206:
            exchanges.extend(scratch)
            return ("unusable", f"range request answered HTTP {answer.status}, not 206")
        try:
            record = _warc_record(answer.body, self.fcfg.max_bytes + WARC_HEADER_ALLOWANCE)
        except ValueError as exc:
            exchanges.extend(scratch)
            return ("unusable", str(exc))
        code, reason, headers, payload = record
        if len(payload) > self.fcfg.max_bytes:
            exchanges.extend(scratch)
            return ("unusable", f"archived body over {self.fcfg.max_bytes} bytes")
        request = answer.exchange
        exchanges.append(Exchange(  # the archived response, under the URL it was read from
            url=archive_url, request_line=request.request_line,
            request_headers=request.request_headers, status=code, reason=reason,
            response_headers=headers, body=payload, ip=request.ip,
        ))  # fmt: skip
        lower = {k.lower(): v for k, v in headers}
        location = lower.get("location") or capture.redirect
        if code in REDIRECTS and location:
            try:
                return ("redirect", str(parse(location, capture.url)))
            except BadUrl as exc:
                return ("unusable", f"archived redirect to {location[:200]!r}: {exc}")
        if code != 200:
            return ("unusable", f"archived record has status {code}")
        try:
            body = decode_body(payload, lower.get("content-encoding"), self.fcfg.max_bytes)
        except Exception as exc:  # TooLarge, a corrupt or unknown encoding
            return ("unusable", f"archived body: {type(exc).__name__}: {exc}")
        return self._page(source, capture, archive_url, headers, body, len(payload), exchanges)

    def _page(self, source, capture: Capture, archive_url: str, headers: list[tuple[str, str]],
              body: bytes, raw_bytes: int, exchanges) -> FetchResult | tuple[str, str]:  # fmt: skip
        # the original response headers: as replayed (pywb) or prefixed (Wayback Machine)
        original = [(k[len("x-archive-orig-"):] if k.lower().startswith("x-archive-orig-")
                     else k, v) for k, v in headers]  # fmt: skip
        content_type = dict((k.lower(), v) for k, v in original).get("content-type")
        sniff = sniff_html(content_type, body[:1024])
        if not sniff.is_html:
            return ("unusable", f"not HTML: {sniff.reason}")
        html, charset = decode_html(body, content_type)
        # the page's own AI-training opt-outs hold for its archived copy too
        signal = self.fetcher.signals.from_headers(original) or self.fetcher.signals.from_html(html)
        if signal:
            if exchanges:  # as for live pages: the text goes neither to pages/ nor the WARC
                exchanges[-1].body, exchanges[-1].truncated = b"", "unspecified"
            result = FetchResult(url=capture.url, status=signal, final_url=capture.url,
                                 http_status=200, content_type=content_type,
                                 error=f"archived copy opts out of AI training ({signal})")  # fmt: skip
            result.source, result.capture_time, result.archive_url = (
                source.kind, capture.time, archive_url)  # fmt: skip
            return result
        result = FetchResult(
            url=capture.url, status="ok", final_url=capture.url, http_status=200,
            content_type=content_type, bytes=raw_bytes, html=html, charset=charset,
        )  # fmt: skip
        result.source = source.kind
        result.capture_time = capture.time
        result.archive_url = archive_url
        return result


# -------------------------------------------------------------------- helpers
def _unwrap(replay_url: str, archive_url: str, capture_url: str,
            location: str) -> tuple[str, str | None]:  # fmt: skip
    """(original target URL, archive timestamp or None) of a replayed redirect's Location:
    pywb passes the original Location through `id_`; the Wayback Machine points into
    itself ({replay_url}/{ts}id_/{target}). Both are read by `webtext.uri.parse`, as the
    live fetcher reads a Location (raises BadUrl for a target nobody may fetch)."""
    try:
        absolute = str(parse(location, archive_url))
        prefix = str(parse(replay_url.rstrip("/") + "/"))
    except BadUrl:
        absolute, prefix = "", "\0"
    if absolute.startswith(prefix):
        stamp, _, original = absolute[len(prefix) :].partition("/")
        digits = stamp[:14].rstrip("abcdefghijklmnopqrstuvwxyz_")
        if digits.isdigit() and original:
            if "://" not in original and original.startswith(("http:/", "https:/")):
                original = original.replace(":/", "://", 1)
            return str(parse(original)), digits
    return str(parse(location, capture_url)), None


def _served(headers, capture: Capture, archive_url: str) -> tuple[Capture, str]:
    """The capture a replay really is, by its Memento-Datetime, Link rel="original" and
    Content-Location (RFC 7089; pywb and the Wayback Machine send them); else as asked."""
    stamp = headers.get("Memento-Datetime")
    if not stamp:
        return capture, archive_url
    try:
        when = int(parsedate_to_datetime(stamp).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return capture, archive_url
    if when == capture.time:
        return capture, archive_url
    url = capture.url
    match = _LINK_ORIGINAL.search(headers.get("Link") or "")
    if match:
        with contextlib.suppress(BadUrl):
            url = str(parse(match.group(1)))
    where = headers.get("Content-Location")
    if where:
        with contextlib.suppress(BadUrl):
            archive_url = str(parse(where, archive_url))
    return dataclasses.replace(capture, url=url, timestamp=format_timestamp(when)), archive_url


_LINK_ORIGINAL = re.compile(r'<([^>]+)>\s*;\s*rel="?original"?')


def _same_url(a: str, b: str) -> bool:
    try:
        return parse(a) == parse(b)
    except BadUrl:
        return a == b


def _warc_record(member: bytes, cap: int):
    """(status, reason, headers, raw payload) of the one WARC response record in a gzip
    member, decompressed under `cap`."""
    from warcio.archiveiterator import ArchiveIterator

    try:
        data = decode_body(member, "gzip", cap)
    except Exception as exc:
        raise ValueError(f"WARC record: {type(exc).__name__}: {exc}") from None
    try:
        for record in ArchiveIterator(io.BytesIO(data)):
            if record.rec_type != "response" or record.http_headers is None:
                raise ValueError(f"WARC record of type {record.rec_type}, not an HTTP response")
            code = record.http_headers.get_statuscode()
            status_line = record.http_headers.statusline or ""
            reason = status_line.split(" ", 1)[1] if " " in status_line else ""
            payload = record.raw_stream.read(cap + 1)
            if len(payload) > cap:
                raise ValueError(f"archived payload over {cap} bytes")
            return int(code), reason, list(record.http_headers.headers), payload
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"WARC record unreadable: {type(exc).__name__}: {exc}") from None
    raise ValueError("no WARC record in the range")
