"""Reading a response body under limits, decompressing it incrementally, sniffing HTML.

The raw bytes are read with `decode_content=False`, so the cap applies to what came over
the wire, and decompressed here in bounded steps, so the cap also applies to the output: a
gzip or brotli bomb stops at `max_bytes` of output, having expanded no more than that.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import brotli


class TooLarge(Exception):
    """The output passed the limit; `partial` holds the output up to the limit (robots.txt
    keeps its first 500 KiB even when one network chunk expands far past them)."""

    def __init__(self, partial: bytes = b""):
        super().__init__(f"output over the limit ({len(partial)} bytes kept)")
        self.partial = partial


class UnsupportedEncoding(Exception):
    pass


class IncompleteEncoding(Exception):
    """The body ended inside a compressed stream: what came is not the whole document."""


_GZIP = 16 + zlib.MAX_WBITS
# what a decoder raises on a corrupt compressed body (anything else is a bug of ours)
DECODE_ERRORS = (zlib.error, brotli.error)


class _Zlib:
    def __init__(self, wbits: int):
        self._wbits = wbits
        self._obj = zlib.decompressobj(wbits)
        self._first = True
        self._fed = False
        self._trailer = False  # bytes after the end of the stream (ignored, as browsers do)

    def feed(self, data: bytes, limit: int) -> bytes:
        if self._first and self._wbits == zlib.MAX_WBITS and data:
            self._first = False
            try:  # "deflate" is zlib-wrapped by the RFC but raw deflate in practice too
                return self._drain(data, limit)
            except zlib.error:
                self._wbits = -zlib.MAX_WBITS
                self._obj = zlib.decompressobj(self._wbits)
        return self._drain(data, limit)

    def _drain(self, data: bytes, limit: int) -> bytes:
        # max_length bounds the output of each call; one byte over the limit is enough
        # to know the cap was passed, without expanding the rest of a bomb
        out = b""
        while data and not self._trailer:
            self._fed = True
            if self._obj.eof:
                if self._wbits != _GZIP or data[:1] != b"\x1f":
                    self._trailer = True
                    break
                self._obj = zlib.decompressobj(_GZIP)  # RFC 1952: another member follows
            out += self._obj.decompress(data, limit + 1 - len(out))
            if len(out) > limit or self._obj.unconsumed_tail:
                raise TooLarge(out[:limit])
            data = self._obj.unused_data if self._obj.eof else b""
        return out

    def flush(self, limit: int) -> bytes:
        out = self._obj.flush(limit + 1) if limit >= 0 else b""
        if len(out) > limit:
            raise TooLarge(out[: max(limit, 0)])
        if self._fed and not self._obj.eof:
            raise IncompleteEncoding("the body ends inside its compressed stream")
        return out


class _Brotli:
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()
        self._fed = False

    def feed(self, data: bytes, limit: int) -> bytes:
        self._fed = self._fed or bool(data)
        if self._obj.is_finished():
            return b""  # bytes after the end of the stream (ignored, as browsers do)
        out = self._obj.process(data, output_buffer_limit=limit + 1)
        if len(out) > limit or not self._obj.can_accept_more_data():
            raise TooLarge(out[:limit])
        return out

    def flush(self, limit: int) -> bytes:
        if self._fed and not self._obj.is_finished():
            raise IncompleteEncoding("the body ends inside its compressed stream")
        return b""


def decoder_for(content_encoding: str | None):
    """A decoder chain for a Content-Encoding header value (applied in reverse order)."""
    names = [n.strip().lower() for n in (content_encoding or "").split(",") if n.strip()]
    chain = []
    for name in reversed(names):
        if name in ("identity", "none"):
            continue
        if name in ("gzip", "x-gzip"):
            chain.append(_Zlib(16 + zlib.MAX_WBITS))
        elif name == "deflate":
            chain.append(_Zlib(zlib.MAX_WBITS))
        elif name == "br":
            chain.append(_Brotli())
        else:
            raise UnsupportedEncoding(f"unsupported content-encoding {name!r}")
    return _Chain(chain)


class _Chain:
    def __init__(self, decoders: list) -> None:
        self.decoders = decoders
        self.size = 0

    def feed(self, data: bytes, max_bytes: int) -> bytes:
        return self._run(data, max_bytes, flush=False)

    def flush(self, max_bytes: int) -> bytes:
        return self._run(b"", max_bytes, flush=True)

    def _run(self, data: bytes, max_bytes: int, flush: bool) -> bytes:
        """`data` through every decoder; on TooLarge, what came out up to the cap is passed
        on, so the exception raised at the end carries the decoded prefix."""
        cut = False
        for dec in self.decoders:
            limit = max_bytes - self.size
            try:
                if data or not flush:
                    data = dec.feed(data, limit)
                if flush and not cut:
                    data += dec.flush(limit - len(data))
            except TooLarge as exc:
                data, cut = exc.partial, True
        room = max_bytes - self.size
        self.size += len(data)
        if cut or self.size > max_bytes:
            raise TooLarge(data[: max(room, 0)])
        return data


def decode_body(raw: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """Decompress a whole stored body (the extract stage reading WARC) under the same cap."""
    chain = decoder_for(content_encoding)
    return chain.feed(raw, max_bytes) + chain.flush(max_bytes)


# ------------------------------------------------------------------------ sniffing
HTML_TYPES = ("text/html", "application/xhtml+xml")
_ACCEPTED_TYPES = (*HTML_TYPES, "text/plain", "application/xml", "text/xml", "")

_BINARY_MAGIC = (
    b"%PDF-",
    b"\x89PNG",
    b"GIF87a",
    b"GIF89a",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"BM",
    b"RIFF",
    b"OggS",
    b"ID3",
    b"\x00\x00\x00",
    b"fLaC",
    b"7z\xbc\xaf",
    b"Rar!",
    b"\x7fELF",
    b"MZ",
    b"wOFF",
    b"wOF2",
    b"\xd0\xcf\x11\xe0",
)


@dataclass(frozen=True)
class Sniff:
    is_html: bool
    reason: str | None = None


def media_type(content_type: str | None) -> str:
    """The essence of a Content-Type; of several (two headers arrive joined by ", "), the
    last valid one, as browsers read it (WHATWG "extract a MIME type")."""
    found = ""
    for value in (content_type or "").split(","):
        essence = value.split(";")[0].strip().lower()
        if "/" in essence and essence != "*/*":
            found = essence
    return found


def sniff_html(content_type: str | None, head: bytes) -> Sniff:
    """HTML by Content-Type (or none given) and by the first bytes looking like text."""
    mtype = media_type(content_type)
    if mtype not in _ACCEPTED_TYPES:
        return Sniff(False, f"content-type {mtype}")
    sample = head[:1024]
    stripped = sample.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(_BINARY_MAGIC):
        return Sniff(False, "binary signature in the first bytes")
    if sample and _binary_ratio(sample) > 0.1 and not _utf16_labelled(content_type):
        return Sniff(False, "binary bytes in the first bytes")
    if mtype in ("text/plain", "application/xml", "text/xml", ""):
        low = sample.lower()
        if b"<html" not in low and b"<!doctype html" not in low and b"<body" not in low:
            return Sniff(False, f"content-type {mtype or 'missing'} without HTML markup")
    return Sniff(True)


def _utf16_labelled(content_type: str | None) -> bool:
    """A UTF-16 page without a BOM is half NUL bytes: text all the same when labelled so."""
    from webtext.fetch.charset import header_charset

    return header_charset(content_type) in ("utf-16-le", "utf-16-be")


def _binary_ratio(sample: bytes) -> float:
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 BOM: text, not binary
        return 0.0
    controls = sum(1 for b in sample if b < 0x09 or 0x0E <= b < 0x20 or b == 0x7F)
    return controls / len(sample)
