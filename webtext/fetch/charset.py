"""Bytes -> str: charset from the HTTP header, then the document's meta, then detection."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _lookup(name: str | None) -> str | None:
    if not name:
        return None
    try:
        codec = codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None
    # WHATWG: latin-1 and ascii labels mean windows-1252 in browsers
    if codec in ("latin-1", "iso8859-1", "ascii"):
        return "cp1252"
    return codec


def header_charset(content_type: str | None) -> str | None:
    match = _HEADER_CHARSET.search(content_type or "")
    return _lookup(match.group(1)) if match else None


def meta_charset(body: bytes) -> str | None:
    """`<meta charset=...>` or the http-equiv Content-Type in the first 4 KiB."""
    match = _META_CHARSET.search(body[:4096])
    return _lookup(match.group(1).decode("ascii", "ignore")) if match else None


def detect_charset(body: bytes) -> str:
    best = from_bytes(body[:65536]).best()
    return _lookup(best.encoding) if best is not None else "utf-8"


def decode_html(body: bytes, content_type: str | None) -> tuple[str, str]:
    """(text, charset used). A BOM wins (as in browsers), then header, meta, detection."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, errors="replace"), name
    charset = header_charset(content_type) or meta_charset(body)
    if charset is None:
        try:
            return body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            charset = detect_charset(body) or "utf-8"
    return body.decode(charset, errors="replace"), charset
