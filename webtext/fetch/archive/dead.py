"""When does a live fetch count as a dead link (fetch.mode live_then_archive)?

HTTP 404/410/5xx after the retries, DNS or connection failures and timeouts, a page the
clean stage would drop as a bot wall or soft 404, and parked domains. Robots exclusions
and refused addresses are not dead links: the archive is not asked for them.
"""

from __future__ import annotations

import re
from typing import Any

DEAD_HTTP = (404, 410)
DEAD_STATUSES = ("connection_error", "timeout")
PARKED = re.compile(
    r"\b(this domain (name )?(is|may be) for sale|buy this domain|domain (is )?parked"
    r"|parked (free|domain)|this domain has expired|domain has been registered"
    r"|the domain [\w.-]+ (is|may be) for sale|inquire about this domain"
    r"|this web page is parked|related searches:?)\b",
    re.I,
)


def dead_reason(status: str, http_status: int | None, page: dict[str, Any] | None,
                botwall: Any = None) -> str | None:  # fmt: skip
    """Why the live copy is no good (None: it is fine, or not the archive's business)."""
    if status in DEAD_STATUSES:
        return status
    if status == "http_error" and http_status is not None:
        if http_status in DEAD_HTTP or http_status >= 500:
            return f"HTTP {http_status}"
        return None
    if status != "ok" or not page:
        return None
    text, title = page.get("text") or "", page.get("title") or ""
    if PARKED.search(title) or (len(text) < 3000 and PARKED.search(text)):
        return "parked domain"
    if botwall is not None:
        wall = botwall.check({"text": text, "title": title})
        if wall:
            return f"bot wall or soft 404 ({wall})"
    return None
