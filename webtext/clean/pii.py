"""Personal data in page text: e-mail addresses, phone numbers, IPv4 and IPv6 addresses.

`clean.pii`:
- `redact` (default): each match is replaced by a fixed placeholder (`PLACEHOLDERS`), the
  same for every occurrence, so no personal datum and no trace of it (length, digits)
  reaches documents/ or the shards;
- `drop`: pages with more than `clean.pii_max_density` matches per word are dropped
  (reason `clean:pii`: contact lists, directories, server logs), the rest are redacted;
- `off`: text untouched.

Speed: one combined regular expression, one pass, and only over text that can hold a match
(an `@` for e-mails, a digit or `:` run for the rest: cheap `in` tests in C). Candidates
are then confirmed in Python: IPs through `ipaddress`, phones by their digit count and
shape. Precision over recall where they conflict: dates, times, prices, ISBNs, DOIs,
semantic versions, coordinates, hashes and ordinary numbers are never touched
(tests/test_pii.py holds the labelled corpus).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter

from webtext.clean.base import Filter, Page

PLACEHOLDERS = {
    "email": "<EMAIL_ADDRESS>",
    "phone": "<PHONE_NUMBER>",
    "ipv4": "<IP_ADDRESS>",
    "ipv6": "<IP_ADDRESS>",
}

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_SEP = r"[ .\-\u00a0]"  # between phone digit groups
_PATTERN = re.compile(
    # e-mail: local@domain.tld (the local part as RFC 5322's dot-atom, common characters;
    # letters in any script, as in internationalised addresses (RFC 6531) and IDN domains,
    # whose TLD may be Unicode letters or punycode `xn--...`)
    r"(?P<email>(?<![\w.%+-])[^\W_][\w.%+-]{0,63}@"
    r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,24}|[Xx][Nn]--[A-Za-z0-9-]{1,59})(?![\w-]))"
    # IPv4: four octets, not part of a longer dotted run (1.2.3.4.5) or a word
    rf"|(?P<ipv4>(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d))"
    # IPv6 candidates: hex groups with at least two colons (confirmed by ipaddress)
    rf"|(?P<ipv6>(?<![\w:.])(?:[0-9A-Fa-f]{{0,4}}:){{2,7}}(?:{_OCTET}(?:\.{_OCTET}){{3}}|"
    r"[0-9A-Fa-f]{1,4})?(?![\w:]|\.\d))"
    # international: +CC then 2-5 groups of digits, optional (area) group
    rf"|(?P<intl>(?<![\w+])\+\d{{1,3}}(?:{_SEP}?\(\d{{1,4}}\))?(?:{_SEP}?\d{{1,5}}){{2,5}}(?!\w|[.\-]\d))"
    # North American: (555) 123-4567, 555-123-4567, 555.123.4567, 1-800-555-0199
    rf"|(?P<nanp>(?<![\w+.\-/])(?:1{_SEP})?(?:\(\d{{3}}\)\s?|\d{{3}}{_SEP})\d{{3}}{_SEP}\d{{4}}(?!\w|[.\-/]\d))"
    # national with trunk 0: 020 7946 0958, 01 23 45 67 89, 030-12345678, 0412 345 678
    rf"|(?P<trunk>(?<![\w+.\-/,])0\d{{1,4}}(?:{_SEP}\d{{2,8}}){{1,4}}(?!\w|[.\-/,]\d))"
)
# cheap candidate spans: the full pattern runs only inside these (and around each "@")
# (each alternative starts with a plain character set or literal, which re scans for in C;
# a leading optional group would make it try every position in Python-level steps: 6x slower)
_CANDIDATE = re.compile(
    r"\d[\d .\-()\u00a0]{5,}\d"  # phone numbers, IPv4
    r"|:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]*"  # IPv6 (from its first ':')
)
_BACK = 5  # a candidate's window starts this much earlier: "+", "(", an IPv6 first group
_EMAIL_BEFORE, _EMAIL_AFTER = 65, 256  # local part <= 64 chars; domain <= 253
_LOOKAHEAD = 3  # chars after a candidate that the pattern's (?!...) tests must see


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


_THOUSANDS = re.compile(r"\+\d{1,3}(?:[ .\u00a0]\d{3})+")


def _phone_ok(kind: str, text: str) -> bool:
    n = _digits(text)
    if kind == "intl":
        if text.startswith("+1") and n != 11:
            return False  # +1 (North America) is always followed by ten digits
        if _THOUSANDS.fullmatch(text) and "000" in re.split(r"[ .\u00a0]", text)[1:]:
            return False  # `+20 000 000`: a signed number in thousands groups
        return 8 <= n <= 15
    if kind == "nanp":
        return n in (10, 11)
    # trunk-0 national numbers: 9-11 digits in at least two groups (a lone "0123" is not)
    groups = re.split(r"[ .\-\u00a0]", text)
    return 9 <= n <= 11 and len(groups) >= 2 and all(g.isdigit() for g in groups)


def _kind(match: re.Match[str]) -> str | None:
    kind = match.lastgroup
    text = match.group()
    if kind == "email":
        return "email"
    if kind == "ipv4":
        return "ipv4"
    if kind == "ipv6":
        # a decimal digit: `Face::Add`, `ac::dc`, `dead:beef::` are valid IPv6 but in
        # text they are code (C++/Rust/Perl names); an address in use has digits
        if not any(c.isdigit() for c in text) or text.count(":") < 2:
            return None
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            return None
        return "ipv6"
    if kind in ("intl", "nanp", "trunk") and _phone_ok(kind, text):
        return "phone"
    return None


def _windows(text: str) -> list[tuple[int, int]]:
    """Merged [start, end) ranges that may hold personal data."""
    spans = [(max(0, m.start() - _BACK), m.end()) for m in _CANDIDATE.finditer(text)]
    at = text.find("@")
    while at >= 0:
        spans.append((max(0, at - _EMAIL_BEFORE), at + _EMAIL_AFTER))
        at = text.find("@", at + 1)
    if not spans:
        return []
    spans.sort()
    merged = [spans[0]]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def find_pii(text: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) of every personal datum in `text`, in order.

    The combined pattern runs only over candidate windows (`_windows`): for ordinary prose
    that is a few percent of the text. Its look-behinds see the real text before a window,
    and each window reaches `_LOOKAHEAD` characters past its candidate for the look-aheads.
    """
    if not text:
        return []
    found: list[tuple[str, int, int]] = []
    size = len(text)
    for start, end in _windows(text):
        for match in _PATTERN.finditer(text, start, min(size, end + _LOOKAHEAD)):
            if found and match.start() < found[-1][2]:
                continue
            kind = _kind(match)
            if kind is not None:
                found.append((kind, match.start(), match.end()))
    return found


def redact(text: str) -> tuple[str, Counter[str]]:
    """`text` with every match replaced by its placeholder; counts per kind."""
    counts: Counter[str] = Counter()
    found = find_pii(text)
    if not found:
        return text, counts
    out, last = [], 0
    for kind, start, end in found:
        out.append(text[last:start])
        out.append(PLACEHOLDERS[kind])
        counts[kind] += 1
        last = end
    out.append(text[last:])
    return "".join(out), counts


class PiiFilter(Filter):
    """Redacts (and in `drop` mode first judges) a page's personal data; counts per kind.

    Runs last in the chain, so only pages every other filter kept pay for it. It rewrites
    `page["text"]`; the clean stage writes the rewritten text to cleaned/.
    """

    name = "pii"

    def __init__(self, mode: str = "redact", max_density: float = 0.02):
        if mode not in ("redact", "drop", "off"):
            raise ValueError(f"clean.pii must be redact, drop or off, got {mode!r}")
        self.mode = mode
        self.max_density = max_density
        self.counts: Counter[str] = Counter()

    def reset_counts(self) -> None:
        self.counts = Counter()

    def check(self, page: Page) -> str | None:
        if self.mode == "off":
            return None
        text = page.get("text") or ""
        redacted, counts = redact(text)
        if not counts:
            return None
        total = sum(counts.values())
        if self.mode == "drop":
            words = max(1, len(text.split()))
            if total / words > self.max_density:
                found = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                return f"{total} personal data in {words} words ({found})"
        self.counts.update(counts)
        page["text"] = redacted
        return None
