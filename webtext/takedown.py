"""Takedown lists (`optout.lists`, `webtext forget --list`): domains, URL prefixes, URLs.

One entry per line; `#` at the start of a line or after a space starts a comment:

    example.com                      a domain: the host and every subdomain of it
    https://example.com/news/*       a URL prefix (trailing `*`)
    https://example.com/a/page.html  one URL

URLs and prefixes are canonicalised exactly like harvest's URLs (`webtext.reddit.canonical`:
lower-case host, no `www.`, no tracking parameters, sorted query, ...) and compared without
the scheme, so `http://` and `https://` copies of a page are the same entry. A line that is
neither a domain nor a canonicalisable URL is an error naming the file and line: a takedown
list silently half-read would be silent non-compliance.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from webtext.reddit.canonical import BadUrl, canonicalize

_DOMAIN = re.compile(r"(?i)^(?:\*\.)?([a-z0-9\u00a1-\uffff-]+(?:\.[a-z0-9\u00a1-\uffff-]+)*)\.?$")


class TakedownError(ValueError):
    """A list file that cannot be read or has a line that is no entry."""


def _schemeless(canonical: str) -> str:
    return canonical.partition("://")[2] or canonical


def _host_of(schemeless: str) -> str:
    host = schemeless.split("/", 1)[0].split("?", 1)[0]
    if host.startswith("["):
        return host.split("]", 1)[0].strip("[]")
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass
class Takedown:
    """Parsed entries of one or more lists; `match(canonical_url)` says whether it is out."""

    domains: set[str] = field(default_factory=set)
    prefixes: list[str] = field(default_factory=list)
    urls: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.domains or self.prefixes or self.urls)

    def add(self, entry: str, where: str = "") -> None:
        """One list entry (a domain, `URL*` prefix or URL); raises TakedownError when bad."""
        entry = entry.strip()
        if not entry:
            return
        if "://" in entry:
            prefix = entry.endswith("*")
            try:
                key = _schemeless(canonicalize(entry.rstrip("*") if prefix else entry))
            except BadUrl as exc:
                raise TakedownError(f"{where}not a URL: {entry!r} ({exc})") from None
            if prefix:
                # canonicalize() gives a bare host a "/" path: keep the prefix as written
                raw_path = entry.rstrip("*").partition("://")[2]
                if "/" not in raw_path and key.endswith("/"):
                    key = key[:-1]
                self.prefixes.append(key)
            else:
                self.urls.add(key)
            return
        match = _DOMAIN.match(entry)
        if not match or "/" in entry:
            raise TakedownError(
                f"{where}{entry!r} is neither a domain nor a URL (http://..., URL* for a prefix)"
            )
        # the host exactly as harvest writes it (punycode for IDN, lower case, no www.):
        # a Unicode domain compared with canonical URLs' punycode hosts never matched
        try:
            domain = _host_of(_schemeless(canonicalize(f"http://{match.group(1)}/")))
        except BadUrl as exc:
            raise TakedownError(f"{where}not a domain: {entry!r} ({exc})") from None
        self.domains.add(domain)

    def add_canonical(self, canonical_url: str) -> None:
        """An already canonical URL (from a run's own files) as one exact entry."""
        self.urls.add(_schemeless(canonical_url))

    def match(self, canonical_url: str | None) -> bool:
        """True when the canonical URL (harvest's `canonical_url`) is on a list."""
        if not canonical_url:
            return False
        key = _schemeless(canonical_url)
        if key in self.urls:
            return True
        if self.domains:
            host = _host_of(key).lower()
            if host in self.domains:
                return True
            dot = host.find(".")
            while dot >= 0:
                if host[dot + 1 :] in self.domains:
                    return True
                dot = host.find(".", dot + 1)
        return any(key.startswith(p) for p in self.prefixes)

    def match_url(self, url: str | None) -> bool:
        """Like match() for a URL as fetched or submitted (canonicalised first)."""
        if not url:
            return False
        try:
            return self.match(canonicalize(url))
        except BadUrl:
            return False


def load_lists(paths: Iterable[str | Path]) -> Takedown:
    """Every entry of every list file (errors name the file and line)."""
    takedown = Takedown()
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")  # a BOM is no part of line 1
        except (OSError, UnicodeDecodeError) as exc:
            raise TakedownError(f"takedown list {path}: {exc}") from None
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if line.startswith("#"):
                continue
            takedown.add(re.split(r"\s#", line, maxsplit=1)[0], where=f"{path}:{n}: ")
    return takedown


def lists_digest(paths: Iterable[str | Path]) -> list[list[str]]:
    """[path, sha256] of each list: a stage's fingerprint changes when a list's content does."""
    out = []
    for path in paths:
        try:
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
        except OSError as exc:
            raise TakedownError(f"takedown list {path}: {exc}") from None
        out.append([str(path), digest])
    return out
