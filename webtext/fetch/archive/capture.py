"""CDX answers and the choice of a capture.

Three answer formats are read: pywb's and Common Crawl's `output=json` (one JSON object per
line), the Wayback Machine's `output=json` (a JSON array whose first row names the fields)
and plain CDX/CDXJ lines. A capture is usable when it is a 200 HTML response or an archived
redirect (followed hop by hop); among usable captures the one closest to the target time
wins, an earlier one on a tie (what a reader could have seen when the link was posted).
"""

from __future__ import annotations

import calendar
import json
import time
from collections import Counter
from dataclasses import dataclass

from webtext.fetch.body import HTML_TYPES, media_type

REDIRECTS = (301, 302, 303, 307, 308)
_IA_FIELDS = {"original": "url", "mimetype": "mime", "statuscode": "status"}
# no type recorded ("unk": Common Crawl, the Wayback Machine): a candidate whose replayed
# bytes are sniffed, as a live page without Content-Type is
UNKNOWN_TYPES = ("", "unk", "-", "unknown")
_PLAIN_FIELDS = ["urlkey", "timestamp", "url", "mime", "status", "digest", "length"]


@dataclass(frozen=True)
class Capture:
    url: str
    timestamp: str  # 14 digits, UTC
    status: int | None
    mime: str
    filename: str | None = None
    offset: int | None = None
    length: int | None = None
    redirect: str | None = None  # Common Crawl's index names an archived redirect's target

    @property
    def time(self) -> int:
        return parse_timestamp(self.timestamp)

    def unusable_reason(self) -> str | None:
        if self.status in REDIRECTS:
            return None
        if self.status != 200:
            return f"status {self.status if self.status is not None else '-'}"
        mtype = media_type(self.mime)
        if mtype not in HTML_TYPES and mtype not in UNKNOWN_TYPES:
            return f"type {mtype or '-'}"
        return None


def parse_timestamp(ts: str) -> int:
    """A CDX timestamp (4 to 14 digits, missing digits the earliest they can be: "20171"
    is October 2017) as UTC seconds."""
    digits = ts[:14].ljust(14, "0")
    if len(ts) < 14 and digits[4:6] == "00":
        digits = digits[:4] + "01" + digits[6:]
    if len(ts) < 14 and digits[6:8] == "00":
        digits = digits[:6] + "01" + digits[8:]
    return calendar.timegm(time.strptime(digits, "%Y%m%d%H%M%S"))


def format_timestamp(seconds: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(max(seconds, 0)))


def parse_cdx(text: str) -> tuple[list[Capture], int]:
    """Captures in a CDX answer, and how many lines could not be read."""
    text = text.strip()
    if not text:
        return [], 0
    rows: list[dict] = []
    bad = 0
    if text.startswith("["):
        try:
            table = json.loads(text)
        except ValueError:
            return [], 1
        if table and isinstance(table[0], list):
            names = [_IA_FIELDS.get(n, n) for n in table[0]]
            rows = [dict(zip(names, r, strict=False)) for r in table[1:] if isinstance(r, list)]
    else:
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                if line.startswith("{"):
                    rows.append(json.loads(line))
                elif " {" in line:  # CDXJ: urlkey timestamp {json}
                    key, ts, blob = line.split(" ", 2)
                    rows.append({"urlkey": key, "timestamp": ts, **json.loads(blob)})
                else:
                    rows.append(dict(zip(_PLAIN_FIELDS, line.split(" "), strict=False)))
            except ValueError:
                bad += 1
    captures = []
    for row in rows:
        capture = _capture(row)
        if capture is None:
            bad += 1
        else:
            captures.append(capture)
    return captures, bad


def _capture(row: dict) -> Capture | None:
    for theirs, ours in _IA_FIELDS.items():  # NDJSON rows in the Wayback Machine's naming
        if ours not in row and theirs in row:
            row[ours] = row[theirs]
    url, ts = row.get("url"), str(row.get("timestamp") or "")
    if not isinstance(url, str) or not ts.isdigit() or len(ts) < 4:
        return None
    status = str(row.get("status") or "")
    mime = str(row.get("mime") or "")
    detected = row.get("mime-detected")
    if detected and (media_type(mime) in HTML_TYPES or media_type(mime) in UNKNOWN_TYPES) \
            and media_type(str(detected)) not in UNKNOWN_TYPES:  # fmt: skip
        mime = str(detected)  # Common Crawl sniffed something else than the header said
    try:
        parse_timestamp(ts)
        return Capture(
            url=url,
            timestamp=ts.ljust(14, "0")[:14] if len(ts) >= 14 else ts,
            status=int(status) if status.isdigit() else None,
            mime=mime,
            filename=row.get("filename"),
            offset=int(row["offset"]) if str(row.get("offset", "")).isdigit() else None,
            length=int(row["length"]) if str(row.get("length", "")).isdigit() else None,
            redirect=row.get("redirect") or None,
        )
    except ValueError:
        return None


def rank(captures: list[Capture], target: int, max_distance_s: int) -> list[Capture]:
    """Usable captures within the window, closest to `target` first (ties: earlier)."""
    usable = [
        c for c in captures
        if abs(c.time - target) <= max_distance_s and c.unusable_reason() is None
    ]  # fmt: skip
    unique = {(c.timestamp, c.url, c.filename, c.offset): c for c in usable}
    return sorted(unique.values(), key=lambda c: (abs(c.time - target), c.time, c.url))


def why_unusable(captures: list[Capture], target: int, max_distance_s: int) -> str:
    """A short account of why none of `captures` can be used (for the `error` column)."""
    if not captures:
        day = time.strftime("%Y-%m-%d", time.gmtime(target))
        return f"no capture within {max_distance_s // 86400} days of {day}"
    reasons: Counter[str] = Counter()
    for c in captures:
        if abs(c.time - target) > max_distance_s:
            reasons[f"over {max_distance_s // 86400} days away"] += 1
        else:
            reasons[c.unusable_reason() or "usable"] += 1
    detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
    return f"{len(captures)} capture(s): {detail}"
