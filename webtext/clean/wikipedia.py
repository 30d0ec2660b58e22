"""Wikipedia mirrors by host: GPT-2 removed every Wikipedia document.

Harvest already drops wikipedia.org links; this catches pages that redirected there
(`final_url`) and sites that republish Wikipedia articles. Content-based removal (an 8-gram
index of a Wikipedia dump) lives in `overlap_filters.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from webtext.clean.base import Filter, Page

KNOWN_WIKIPEDIA_MIRRORS = (
    "wikipedia.org",
    "wikimedia.org",
    "wikiwand.com",
    "everybodywiki.com",
    "wikizero.com",
    "wikizero.org",
    "justapedia.org",
    "infogalactic.com",
    "dbpedia.org",
    "wiki2.org",
    "wikimili.com",
    "en-academic.com",
    "enacademic.com",
    "wikibrief.org",
    "wikiless.org",
    "wiki.kidzsearch.com",
    "encyclopedia.thefreedictionary.com",
    "thereaderwiki.com",
    "wikiital.com",
    "wikimonde.com",
)


def url_host(url: str | None) -> str:
    if not url:
        return ""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".").lower()


def host_matches(host: str, suffixes: Iterable[str]) -> str | None:
    """The suffix that `host` is, or is a subdomain of (`en.m.wikipedia.org` -> wikipedia.org)."""
    for suffix in suffixes:
        if host == suffix or host.endswith("." + suffix):
            return suffix
    return None


class WikipediaMirror(Filter):
    name = "wikipedia_mirror"

    def __init__(self, extra_hosts: Iterable[str] = ()):
        hosts = {h.strip().lower().lstrip(".") for h in (*KNOWN_WIKIPEDIA_MIRRORS, *extra_hosts)}
        self.hosts = tuple(sorted(h for h in hosts if h))

    def check(self, page: Page) -> str | None:
        for key in ("final_url", "url"):
            host = url_host(page.get(key))
            if host and host_matches(host, self.hosts):
                return f"{key} host {host} is a Wikipedia mirror"
        return None
