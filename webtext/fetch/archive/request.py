"""One GET to an archive through the live fetcher's guarded session, under its limits.

No second HTTP client: the session (address guard on the connected IP), the watchdog
(total deadline), `fetch.max_bytes` on the body as received and after decompression are
the live fetcher's. Redirects are not followed here; the caller decides what they mean.
"""

from __future__ import annotations

from dataclasses import dataclass

from requests.structures import CaseInsensitiveDict

from webtext.fetch.body import UnsupportedEncoding, decoder_for
from webtext.fetch.fetcher import (
    _NETWORK_ERRORS,
    Fetcher,
    _exchange,
    _network_stop,
    _request_exchange,
    _retry_after,
    _Stop,
    read_body,
)
from webtext.fetch.guard import BlockedAddress
from webtext.fetch.warc import Exchange
from webtext.uri import BadUrl, parse


class ArchiveRequestError(Exception):
    """The request got no usable answer: `status` is a fetch_status name."""

    def __init__(self, status: str, error: str, retryable: bool = False,
                 retry_after: float | None = None, exchanges: list[Exchange] | None = None):  # fmt: skip
        super().__init__(error)
        self.status, self.error, self.retryable = status, error, retryable
        self.retry_after = retry_after
        self.exchanges = exchanges or []


@dataclass
class Answer:
    url: str
    status: int
    headers: CaseInsensitiveDict
    body: bytes  # content-decoded, at most the cap; b"" when not read (redirects, errors)
    raw_bytes: int
    exchange: Exchange


def guarded_get(fetcher: Fetcher, url: str, headers: dict[str, str], *,
                read_body_for: tuple[int, ...] = (200, 206, 404),
                max_bytes: int | None = None) -> Answer:  # fmt: skip
    """GET `url` once; 429 and 5xx raise a retryable error carrying Retry-After."""
    cfg = fetcher.cfg
    cap = max_bytes or cfg.max_bytes
    try:
        uri = parse(url)
    except BadUrl as exc:
        raise ArchiveRequestError("http_error", f"invalid archive URL {url!r}: {exc}") from None
    try:
        fetcher.guard.resolve(uri.host, uri.effective_port)
    except BlockedAddress as exc:
        raise ArchiveRequestError("blocked_address", str(exc)) from None
    except (OSError, ValueError) as exc:
        raise ArchiveRequestError("connection_error", str(exc), retryable=True) from None
    with fetcher.watchdog.watch(cfg.deadline) as deadline:
        timeout = (cfg.connect_timeout, cfg.read_timeout)
        try:
            resp = fetcher.session.get(
                str(uri), headers=headers, stream=True, allow_redirects=False, timeout=timeout
            )
        except BlockedAddress as exc:
            raise ArchiveRequestError("blocked_address", str(exc)) from None
        except _NETWORK_ERRORS as exc:
            stop = _network_stop(exc, deadline)
            raise ArchiveRequestError(stop.status, stop.error, stop.retryable,
                                      exchanges=[_request_exchange(uri, headers)]) from None  # fmt: skip
        try:
            exchange = _exchange(uri, resp)
            exchange.url = url  # under the name the caller uses (archive_url), not normalised
            code = resp.status_code
            if code == 429 or code >= 500:
                exchange.truncated = "unspecified"
                raise ArchiveRequestError(
                    "http_error", f"archive answered HTTP {code}", retryable=True,
                    retry_after=_retry_after(resp.headers.get("Retry-After")),
                    exchanges=[exchange],
                )  # fmt: skip
            body, raw_size = b"", 0
            if code in read_body_for:
                body, raw_size = _read(resp, exchange, cap, deadline, cfg.deadline)
            else:
                exchange.truncated = "unspecified"
            return Answer(url, code, CaseInsensitiveDict(resp.headers), body, raw_size, exchange)
        finally:
            resp.close()


def _read(resp, exchange: Exchange, cap: int, deadline, seconds: float) -> tuple[bytes, int]:
    """The live fetcher's body read (`read_body`: caps, deadline, a cut is not an end), its
    outcome as an ArchiveRequestError."""
    try:
        decoder = decoder_for(resp.headers.get("Content-Encoding"))
        body = read_body(resp, decoder, exchange, cap, deadline, seconds, what="archive body")
    except UnsupportedEncoding as exc:
        exchange.truncated = "unspecified"
        raise ArchiveRequestError("not_html", str(exc), exchanges=[exchange]) from None
    except _Stop as stop:
        raise ArchiveRequestError(stop.status, stop.error, stop.retryable,
                                  exchanges=[exchange]) from None  # fmt: skip
    return body, len(exchange.body)
