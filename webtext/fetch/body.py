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
    pass


class UnsupportedEncoding(Exception):
    pass


class _Identity:
    def feed(self, data: bytes, limit: int) -> bytes:
        return data

    def flush(self, limit: int) -> bytes:
        return b""


class _Zlib:
    def __init__(self, wbits: int):
        self._wbits = wbits
        self._obj = zlib.decompressobj(wbits)
        self._first = True

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
        out = self._obj.decompress(data, limit + 1)
        if len(out) > limit or self._obj.unconsumed_tail:
            raise TooLarge
        return out

    def flush(self, limit: int) -> bytes:
        return self._obj.flush(limit + 1) if limit >= 0 else b""


class _Brotli:
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def feed(self, data: bytes, limit: int) -> bytes:
        out = self._obj.process(data, output_buffer_limit=limit + 1)
        if len(out) > limit or not self._obj.can_accept_more_data():
            raise TooLarge
        return out

    def flush(self, limit: int) -> bytes:
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
        for dec in self.decoders:
            data = dec.feed(data, max_bytes - self.size)
        self._count(data, max_bytes)
        return data

    def flush(self, max_bytes: int) -> bytes:
        data = b""
        for dec in self.decoders:
            if data:
                data = dec.feed(data, max_bytes - self.size)
            data += dec.flush(max_bytes - self.size)
        self._count(data, max_bytes)
        return data

    def _count(self, data: bytes, max_bytes: int) -> None:
        self.size += len(data)
        if self.size > max_bytes:
            raise TooLarge


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
    return (content_type or "").split(";")[0].strip().lower()


def sniff_html(content_type: str | None, head: bytes) -> Sniff:
    """HTML by Content-Type (or none given) and by the first bytes looking like text."""
    mtype = media_type(content_type)
    if mtype not in _ACCEPTED_TYPES:
        return Sniff(False, f"content-type {mtype}")
    sample = head[:1024]
    stripped = sample.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(_BINARY_MAGIC):
        return Sniff(False, "binary signature in the first bytes")
    if sample and _binary_ratio(sample) > 0.1:
        return Sniff(False, "binary bytes in the first bytes")
    if mtype in ("text/plain", "application/xml", "text/xml", ""):
        low = sample.lower()
        if b"<html" not in low and b"<!doctype html" not in low and b"<body" not in low:
            return Sniff(False, f"content-type {mtype or 'missing'} without HTML markup")
    return Sniff(True)


def _binary_ratio(sample: bytes) -> float:
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 BOM: text, not binary
        return 0.0
    controls = sum(1 for b in sample if b < 0x09 or 0x0E <= b < 0x20 or b == 0x7F)
    return controls / len(sample)
