"""Publishers' refusals of AI training, read at crawl time; an opted-out page is never kept.

Three kinds, each a `fetch_status` and ledger fate of its own:

- `optout:robots_ai`: robots.txt names an AI-training crawler (`fetch.optout_agents`, e.g.
  GPTBot, CCBot, Google-Extended) in a `User-agent` line and disallows the URL for it. Only
  groups that name the token count: a `User-agent: *` rule is a rule for every crawler,
  which our own `fetch.user_agent` check already applies (`robots_disallowed`).
- `optout:noai`: `noai` in an `X-Robots-Tag` header or a `<meta name="robots">` tag (or
  one named for our token or an opt-out token), the directive DeviantArt proposed in 2022
  and others adopted. `noimageai` reserves images only: we keep text, so it does not stop
  a page.
- `optout:tdmrep`: the W3C TDM Reservation Protocol (TDMRep, final report 2024):
  `tdm-reservation: 1` as an HTTP header, as `<meta name="tdm-reservation" content="1">`,
  or from the origin's `/.well-known/tdmrep.json` (fetched once per host, cached like
  robots.txt). Any one of them reserving the rights is enough.

Header signals stop the page before its body is read; meta signals after it is decoded, and
the body is then dropped from the WARC record too.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

OPTOUT_ROBOTS_AI = "optout:robots_ai"
OPTOUT_TDMREP = "optout:tdmrep"
OPTOUT_NOAI = "optout:noai"
OPTOUT_LIST = "optout:list"
OPTOUT_FORGOTTEN = "optout:forgotten"
FETCH_OPTOUTS = (OPTOUT_ROBOTS_AI, OPTOUT_TDMREP, OPTOUT_NOAI)
OPTOUT_KINDS = (*FETCH_OPTOUTS, OPTOUT_LIST, OPTOUT_FORGOTTEN)

TDMREP_PATH = "/.well-known/tdmrep.json"
TDMREP_MAX_RULES = 10_000

_UA_LINE = re.compile(r"(?im)^[ \t]*user-agent[ \t]*:[ \t]*([^\s#]+)")
_UA_VALUE = re.compile(r"(?im)^([ \t]*user-agent[ \t]*:[ \t]*)([^\s#/]+)/[^\s#]*")


def product_tokens(robots_text: str) -> str:
    """`User-agent: GPTBot/1.1` -> `User-agent: GPTBot`: a line's product token is what
    precedes its `/version` (RFC 9309 names groups by product token; protego compared the
    whole value, so a versioned line named no crawler). `AI2Bot` keeps its digit."""
    return _UA_VALUE.sub(r"\1\2", robots_text)


# ----------------------------------------------------------------------- robots.txt
def named_agents(robots_text: str | None) -> frozenset[str]:
    """Lower-case product tokens that have a group of their own in a robots.txt."""
    if not robots_text:
        return frozenset()
    return frozenset(m.group(1).strip().lower() for m in _UA_LINE.finditer(robots_text))


def robots_ai_optout(parser, named: frozenset[str], url: str, agents: Iterable[str]) -> str | None:
    """The first opt-out token whose own robots.txt group disallows `url`, else None."""
    if parser is None or not named:
        return None
    for agent in agents:
        token = agent.strip().lower()
        if token in named and not parser.can_fetch(url, token):
            return agent
    return None


# ------------------------------------------------------------------- noai / TDMRep
_XRT_DIRECTIVES_WITH_COLON = {
    "unavailable_after",
    "max-snippet",
    "max-image-preview",
    "max-video-preview",
}


def _directives(value: str) -> tuple[str | None, set[str]]:
    """'GPTBot: noai, noimageai' -> ('gptbot', {'noai', 'noimageai'})."""
    agent = None
    head, sep, rest = value.partition(":")
    if sep and head.strip().lower() not in _XRT_DIRECTIVES_WITH_COLON and " " not in head.strip():
        agent, value = head.strip().lower(), rest
    return agent, {d.strip().lower() for d in re.split(r"[,\s]+", value) if d.strip()}


@dataclass
class SignalReader:
    """Reads the page-level signals for our token and the opt-out tokens."""

    agent: str
    optout_agents: Iterable[str] = ()
    _agents: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self._agents = frozenset({self.agent.lower(), *(a.lower() for a in self.optout_agents)})

    def from_headers(self, headers: Iterable[tuple[str, str]]) -> str | None:
        """`optout:noai` / `optout:tdmrep` from response headers, else None."""
        for name, value in headers:
            key = name.strip().lower()
            if key == "x-robots-tag":
                agent, found = _directives(value)
                if "noai" in found and (agent is None or agent in self._agents):
                    return OPTOUT_NOAI
            elif key == "tdm-reservation" and value.strip() == "1":
                return OPTOUT_TDMREP
        return None

    def from_html(self, html: str, limit: int = 256 * 1024) -> str | None:
        """`optout:noai` / `optout:tdmrep` from <meta> tags, else None (cheap pre-check)."""
        head = html[:limit]
        lower = head.lower()
        if "noai" not in lower and "tdm-reservation" not in lower:
            return None
        # anywhere in the first 256 KiB, not only in <head>: broken markup (or a CMS that
        # puts it in <body>) must not turn a refusal into consent
        for tag in _meta_tags(head):
            attrs = {k.lower(): _unquote(v) for k, v in _ATTR.findall(tag)}
            name = attrs.get("name", "").strip().lower()
            content = attrs.get("content", "")
            if name == "tdm-reservation" and content.strip() == "1":
                return OPTOUT_TDMREP
            if (name == "robots" or name in self._agents) and "noai" in _directives(content)[1]:
                return OPTOUT_NOAI
        return None


# linear on hostile markup, as this runs in a crawl thread the deadline cannot stop:
# `<meta\b([^>]*)>` rescanned to the end at every '<meta' not followed by a '>' (80 KB took
# 17 s), and an attribute name could start at every character of a long word (40 KB: 40 s)
_META_START = re.compile(r"(?i)<meta\b")
_ATTR = re.compile(r"""(?<![-\w:.])([A-Za-z_:][-\w:.]*)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")


def _meta_tags(html: str):
    """The attribute text of each `<meta ...>` tag."""
    pos = 0
    while (match := _META_START.search(html, pos)) is not None:
        end = html.find(">", match.end())
        if end < 0:
            return  # no '>' after this tag: none after the later ones either
        yield html[match.end() : end]
        pos = end + 1


def _unquote(value: str) -> str:
    if value[:1] in "\"'" and value[-1:] == value[:1]:
        return value[1:-1]
    return value


# -------------------------------------------------------------- /.well-known/tdmrep.json
class _Location:
    """A TDMRep `location` (robots.txt path syntax: `*` any run, `$` at the end), matched
    by finding its literal parts in order: linear in the path. As a regex of `.*` runs it
    backtracked (`/*a*a*a*a*b` against a 400-character path: over a minute of CPU in the
    crawl thread, from a host's own tdmrep.json)."""

    def __init__(self, location: str):
        # compared with the URL's decoded path: a location written percent-encoded, as URL
        # paths are (`/caf%C3%A9/`), matched no page of a non-ASCII path
        location = unquote(location)
        location = location if location.startswith("/") else "/" + location
        self.anchored = location.endswith("$")
        self.parts = (location[:-1] if self.anchored else location).split("*")

    def match(self, path: str) -> bool:
        first, *rest = self.parts
        if not path.startswith(first):
            return False
        if not rest:
            return path == first if self.anchored else True
        pos = len(first)
        for part in rest[:-1]:  # the leftmost place is right: `*` takes any run, so no
            found = path.find(part, pos)  # later place can leave more for the rest
            if found < 0:
                return False
            pos = found + len(part)
        last = rest[-1]
        if self.anchored:
            return len(path) - len(last) >= pos and path.endswith(last)
        return path.find(last, pos) >= 0


@dataclass
class TdmRules:
    """The rules of one origin's tdmrep.json; the first rule whose location matches wins."""

    rules: list[tuple[_Location, bool]] = field(default_factory=list)
    note: str = ""  # why there are no rules (missing file, bad JSON), for the logs

    @classmethod
    def parse(cls, text: str) -> TdmRules:
        try:
            data = json.loads(text)
        except ValueError as exc:
            return cls(note=f"tdmrep.json is not JSON: {exc}")
        if not isinstance(data, list):
            return cls(note="tdmrep.json is not a JSON array of rules")
        rules = []
        for item in data[:TDMREP_MAX_RULES]:
            if not isinstance(item, dict) or not isinstance(item.get("location"), str):
                continue
            reserved = item.get("tdm-reservation")
            rules.append((_Location(item["location"]), reserved in (1, "1", True)))
        return cls(rules=rules)

    def reserved(self, url: str) -> bool:
        parts = urlsplit(url)
        path = unquote(parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for pattern, reserved in self.rules:
            if pattern.match(path):
                return reserved
        return False


class TdmRepCache:
    """One tdmrep.json per scheme+host, fetched by the first thread that asks (like robots)."""

    def __init__(self, fetch_file):
        self._fetch_file = fetch_file  # url -> (TdmRules, exchanges)
        self._rules: dict[str, TdmRules] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def cached(self, origin: str) -> TdmRules | None:
        """The origin's rules if they were fetched already (never fetches)."""
        with self._lock:
            return self._rules.get(origin)

    def rules(self, origin: str) -> tuple[TdmRules, list]:
        """(rules, exchanges made now: empty unless this call fetched the file)."""
        with self._lock:
            if origin in self._rules:
                return self._rules[origin], []
            lock = self._locks.setdefault(origin, threading.Lock())
        with lock:
            with self._lock:
                if origin in self._rules:
                    return self._rules[origin], []
            rules, exchanges = self._fetch_file(origin + TDMREP_PATH)
            with self._lock:
                self._rules[origin] = rules
            return rules, exchanges

    def forget(self, origin: str) -> None:
        """Drop a host's rules once the crawl is done with it (bounded memory)."""
        with self._lock:
            self._rules.pop(origin, None)
            self._locks.pop(origin, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._rules)
