"""WARC capture: every request and response of a crawl chunk, gzip-compressed (warcio).

Bodies are stored as they came over the wire (content-encoded, e.g. gzip); the HTTP layer
removes chunked transfer coding before we see the bytes, so that header is renamed to
`X-Webtext-Transfer-Encoding` and readers do not try to de-chunk the body again. A body
cut at `fetch.max_bytes` or by the deadline (or not read: redirects, errors) carries
`WARC-Truncated`.

HTTP header blocks are stored as the bytes received: http.client decodes status lines and
header values as ISO-8859-1, so encoding them back as ISO-8859-1 restores the wire bytes
(a raw UTF-8 `Location` or reason phrase included). warcio's own serialisation would encode
them as ASCII and raise `UnicodeEncodeError` on the first non-ASCII byte. A record that
cannot be written raises `WarcWriteError` and leaves the file as it was before the record.
"""

from __future__ import annotations

import contextlib
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from webtext.io import atomic_path

GZIP_LEVEL = 3


@dataclass
class Exchange:
    """One HTTP request and its response (or none, when the request failed)."""

    url: str
    request_line: str
    request_headers: list[tuple[str, str]]
    status: int | None = None
    reason: str = ""
    http_version: str = "HTTP/1.1"
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    truncated: str | None = None  # "length", "time", "unspecified"
    ip: str | None = None


class WarcWriteError(Exception):
    """One exchange could not be written; the file holds every record before it."""


def header_bytes(text: str) -> bytes:
    """Header text -> wire bytes: ISO-8859-1 (what http.client decoded), else UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="surrogateescape")


class _WireHeaders(StatusAndHeaders):
    """An HTTP header block serialised as the bytes that were received or sent."""

    def compute_headers_buffer(self, header_filter=None) -> None:  # type: ignore[no-untyped-def]
        self.headers_buff = header_bytes(self.to_str(header_filter)) + b"\r\n"


class WarcChunkWriter:
    """Writes a WARC file atomically: it appears under its name only when closed cleanly."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.records = 0
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._fh = open(self._tmp, "wb")  # noqa: SIM115 (closed in close/abort)
        self._buf = io.BytesIO()
        # records are serialised uncompressed, then each is written as its own gzip member
        # (the WARC convention) at level 3: warcio's own gzip uses level 9, about 3x the
        # CPU for 1% smaller files on HTML
        self._writer = WARCWriter(self._buf, gzip=False, warc_version="1.1")
        info = {"software": "webtext", "format": "WARC File Format 1.1"}
        self._write(self._writer.create_warcinfo_record(self.path.name, info))

    def _serialise(self, record) -> bytes:  # type: ignore[no-untyped-def]
        self._buf.seek(0)
        self._buf.truncate()
        self._writer.write_record(record)
        comp = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return comp.compress(self._buf.getvalue()) + comp.flush()

    def _write(self, record) -> None:  # type: ignore[no-untyped-def]
        self._fh.write(self._serialise(record))

    def write(self, exchange: Exchange) -> None:
        """Both records of `exchange`, or none (WarcWriteError, the file unchanged)."""
        try:
            blobs = self._records(exchange)
        except Exception as exc:  # a header nobody foresaw: this exchange, not the task
            raise WarcWriteError(f"{type(exc).__name__}: {exc}") from exc
        pos = self._fh.tell()
        try:
            self._fh.write(b"".join(blobs))
        except OSError as exc:  # disk full: cut the partial record so the file still parses
            with contextlib.suppress(OSError):
                self._fh.truncate(pos)
                self._fh.seek(pos)
            raise WarcWriteError(f"{type(exc).__name__}: {exc}") from exc
        self.records += len(blobs)

    def _records(self, exchange: Exchange) -> list[bytes]:
        w = self._writer
        req_headers = _WireHeaders(
            exchange.request_line, exchange.request_headers, is_http_request=True
        )
        request = w.create_warc_record(
            exchange.url, "request", payload=io.BytesIO(b""), http_headers=req_headers
        )
        if exchange.status is None:
            return [self._serialise(request)]
        headers = [
            ("X-Webtext-Transfer-Encoding", v) if k.lower() == "transfer-encoding" else (k, v)
            for k, v in exchange.response_headers
        ]
        status_line = f"{exchange.status} {exchange.reason}".strip()
        resp_headers = _WireHeaders(status_line, headers, protocol=exchange.http_version)
        warc_headers = {}
        if exchange.ip:
            warc_headers["WARC-IP-Address"] = exchange.ip
        if exchange.truncated:
            warc_headers["WARC-Truncated"] = exchange.truncated
        response = w.create_warc_record(
            exchange.url,
            "response",
            payload=io.BytesIO(exchange.body),
            length=len(exchange.body),
            http_headers=resp_headers,
            warc_headers_dict=warc_headers,
        )
        request.rec_headers.add_header("WARC-Concurrent-To", response.rec_headers["WARC-Record-ID"])
        return [self._serialise(request), self._serialise(response)]

    def close(self) -> None:
        self._fh.close()
        self._ctx.__exit__(None, None, None)

    def abort(self) -> None:
        self._fh.close()
        with contextlib.suppress(RuntimeError):
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> WarcChunkWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
