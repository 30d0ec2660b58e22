"""Bytes -> str: charset from the HTTP header, then the document's meta, then detection.

Only the labels of the WHATWG Encoding Standard are honoured (the `webencodings` table,
mapped to Python codecs as browsers decode them: latin-1 and ascii mean windows-1252).
Any other label (`punycode`, `idna`, `rot13`, `hex`, `zlib`, `undefined`...) names a Python
codec that is not a text encoding, or none, and is ignored: detection decides. Python's
punycode decoder alone is quadratic (minutes of CPU for a few MB); the allowlisted codecs
are linear, and decoding runs in bounded chunks that check the caller's deadline, so no
label can hold a crawl thread past `fetch.deadline`.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable

import webencodings
from charset_normalizer import from_bytes

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
DECODE_CHUNK = 256 * 1024  # bytes decoded between two deadline checks
DETECT_BYTES = 65536  # detection reads at most this much

# WHATWG encoding name -> the Python codec that decodes it as browsers do; "replacement"
# (ISO-2022-KR, HZ...) and "x-user-defined" have no such codec here: detection decides
_PYTHON_CODEC = {
    "utf-8": "utf-8",
    "utf-16le": "utf-16-le",
    "utf-16be": "utf-16-be",
    "iso-8859-8-i": "iso8859-8",
    "x-mac-cyrillic": "mac-cyrillic",
    "macintosh": "mac-roman",
    "windows-874": "cp874",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
    "euc-kr": "cp949",
    "gbk": "gb18030",
}
_NO_CODEC = frozenset({"replacement", "x-user-defined"})


class DecodeTimeout(Exception):
    """Decoding ran past the deadline."""


def lookup(label: str | None) -> str | None:
    """A charset label -> the Python codec name to decode with; None for a label that is
    not a WHATWG text encoding label."""
    if not label:
        return None
    encoding = webencodings.LABELS.get(label.strip().lower())
    if encoding is None or encoding in _NO_CODEC:
        return None
    name = _PYTHON_CODEC.get(encoding, encoding)
    return codecs.lookup(name).name


def header_charset(content_type: str | None) -> str | None:
    match = _HEADER_CHARSET.search(content_type or "")
    return lookup(match.group(1)) if match else None


def meta_charset(body: bytes) -> str | None:
    """`<meta charset=...>` or the http-equiv Content-Type in the first 4 KiB."""
    match = _META_CHARSET.search(body[:4096])
    charset = lookup(match.group(1).decode("ascii", "ignore")) if match else None
    # WHATWG: a meta that could be read as ASCII is not UTF-16, whatever it says
    return "utf-8" if charset in ("utf-16-le", "utf-16-be") else charset


# the Python codecs the WHATWG labels decode with: what detection may answer too
_ALLOWED_CODECS = frozenset(
    codecs.lookup(_PYTHON_CODEC.get(name, name)).name
    for name in set(webencodings.LABELS.values()) - _NO_CODEC
)
# detection answers in Python codec names; these are the WHATWG encoding's superset or twin
_DETECTED_AS = {
    "euc_jis_2004": "euc_jp",
    "euc_jisx0213": "euc_jp",
    "shift_jis": "cp932",
    "shift_jis_2004": "cp932",
    "shift_jisx0213": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "iso8859-1": "cp1252",
}


def detected_codec(name: str | None) -> str | None:
    """A detector's answer (a label or a Python codec name such as `cp932`) -> the codec to
    decode with, when it is one a WHATWG encoding decodes with; else None."""
    if not name:
        return None
    codec = lookup(name)
    if codec is not None:
        return codec
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    codec = _DETECTED_AS.get(codec, codec)
    return codec if codec in _ALLOWED_CODECS else None


def detect_charset(body: bytes) -> str:
    best = from_bytes(body[:DETECT_BYTES]).best()
    return (detected_codec(best.encoding) if best is not None else None) or "utf-8"


def decode(
    data: bytes,
    charset: str,
    remaining: Callable[[], float] | None = None,
    errors: str = "replace",
) -> str:
    """`data` decoded in chunks of DECODE_CHUNK, checking `remaining()` between chunks."""
    if remaining is None or len(data) <= DECODE_CHUNK:
        return data.decode(charset, errors=errors)
    decoder = codecs.getincrementaldecoder(charset)(errors=errors)
    parts = []
    for start in range(0, len(data), DECODE_CHUNK):
        if remaining() <= 0:
            raise DecodeTimeout(f"decoding {len(data)} bytes as {charset}")
        parts.append(decoder.decode(data[start : start + DECODE_CHUNK]))
    parts.append(decoder.decode(b"", final=True))
    return "".join(parts)


def decode_html(
    body: bytes, content_type: str | None, remaining: Callable[[], float] | None = None
) -> tuple[str, str]:
    """(text, charset used). A BOM wins (as in browsers), then header, meta, detection.

    `remaining` (seconds left, e.g. `Deadline.remaining`) bounds the decoding: past it,
    DecodeTimeout."""
    for bom, name in _BOMS:
        if body.startswith(bom):
            return decode(body[len(bom) :], name, remaining), name
    charset = header_charset(content_type) or meta_charset(body)
    if charset in ("utf-16-le", "utf-16-be"):
        charset = _utf16_order(body[:1024]) or meta_charset(body)
    if charset is None:
        try:
            return _utf8(body, remaining), "utf-8"
        except UnicodeDecodeError:
            charset = detect_charset(body)
    return decode(body, charset, remaining), charset


def _utf16_order(head: bytes) -> str | None:
    """The byte order of a UTF-16 page without a BOM, from where the NULs of its ASCII
    markup fall (odd bytes: little-endian); None when it has no NULs at all: the UTF-16
    label is wrong, and decoding by it would store mojibake as text."""
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if even == odd == 0:
        return None
    return "utf-16-le" if odd >= even else "utf-16-be"


def _utf8(body: bytes, remaining: Callable[[], float] | None) -> str:
    """Strict UTF-8 (UnicodeDecodeError when it is not), in bounded chunks."""
    return decode(body, "utf-8", remaining, errors="strict")
