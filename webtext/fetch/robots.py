"""robots.txt: fetched once per host through the guarded fetcher, cached, honoured.

Parser: protego rather than urllib.robotparser. protego follows RFC 9309 / Google's
semantics: the most specific (longest) matching rule wins, Allow beats Disallow on a tie,
`*` and `$` wildcards work, and percent-encoding is normalised. urllib.robotparser applies
the first matching line in file order and knows no wildcards, so a common
`Disallow: /` + `Allow: /public/` or `Disallow: /*?session=` file is read wrongly.

Every outcome, unavailable and unreachable included, is cached per scheme+host+port (the
origin as `webtext.uri` reads it: the host the fetcher connects to, without userinfo), so a
host's robots.txt is requested once per crawl task.

Status handling (RFC 9309 section 2.3.1):
- 2xx: parse the first 500 KiB; unparsable text allows everything.
- 3xx: followed (at most 5 hops) by the fetcher; beyond that (a loop too): unavailable.
- 4xx other than 429: "unavailable", everything is allowed. So is a 2xx whose body cannot
  be read to its end: cut by the deadline or short of its length, or an unsupported or
  corrupt Content-Encoding (the fetcher decides those).
- 429, 5xx, timeouts, connection errors: "unreachable", everything is disallowed for
  this crawl task: the conservative reading, since the site may be excluding crawlers
  while it is down. After a 429/5xx the URLs get `robots_disallowed`; when the host gave
  no HTTP answer at all they get that failure (`timeout`, `connection_error`,
  `blocked_address` for a robots.txt redirected into a refused network), with
  "robots.txt" in `error`. The page itself is not requested either way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from protego import Protego

from webtext.fetch.optout import named_agents, product_tokens
from webtext.uri import BadUrl, origin

ROBOTS_MAX_BYTES = 500 * 1024


@dataclass
class RobotsPolicy:
    allow_all: bool = False
    disallow_all: bool = False
    parser: Protego | None = None
    crawl_delay: float | None = None
    reason: str | None = None  # why allow_all / disallow_all
    failure_status: str | None = None  # the host itself failed: its pages get this status
    exchanges: list = field(default_factory=list)  # WARC captures of the robots fetch
    named: frozenset[str] = frozenset()  # tokens with a group of their own (AI opt-outs)

    def allowed(self, url: str, agent: str) -> bool:
        if self.disallow_all:
            return False
        if self.allow_all or self.parser is None:
            return True
        return self.parser.can_fetch(url, agent)


def product_token(user_agent: str) -> str:
    """'webtext/0.1 (+https://...)' -> 'webtext': the token robots.txt groups match."""
    words = user_agent.split("/")[0].split()
    return words[0].lower() if words else user_agent


def host_key(url: str) -> str:
    """scheme://host[:port] as the fetcher connects to it (raises BadUrl)."""
    return origin(url)


def policy_from_response(
    http_status: int | None,
    body: str | None,
    agent: str,
    error: str | None,
    failure_status: str | None = None,
) -> RobotsPolicy:
    if http_status is None:
        return RobotsPolicy(
            disallow_all=True,
            reason=f"robots.txt unreachable: {error}",
            failure_status=failure_status,
        )
    if 200 <= http_status < 300:
        body = product_tokens(body or "")
        try:
            parser = Protego.parse(body)
        except Exception as exc:  # protego is lenient; guard anyway, a bad file allows all
            return RobotsPolicy(allow_all=True, reason=f"robots.txt unparsable: {exc}")
        delay = parser.crawl_delay(agent)
        rate = parser.request_rate(agent)
        if rate is not None and rate.requests:
            delay = max(delay or 0.0, rate.seconds / rate.requests)
        return RobotsPolicy(parser=parser, crawl_delay=delay, named=named_agents(body))
    if http_status == 429 or http_status >= 500:
        return RobotsPolicy(disallow_all=True, reason=f"robots.txt unreachable: HTTP {http_status}")
    if 300 <= http_status < 400:
        return RobotsPolicy(allow_all=True, reason="robots.txt redirects too often")
    return RobotsPolicy(allow_all=True, reason=f"robots.txt HTTP {http_status}")


class RobotsCache:
    """One policy per scheme+host, fetched by the first thread that needs it."""

    def __init__(self, fetch_robots, agent: str):
        self._fetch_robots = fetch_robots  # url -> RobotsPolicy
        self.agent = agent
        self._policies: dict[str, RobotsPolicy] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def policy(self, url: str) -> tuple[RobotsPolicy, bool]:
        """(policy, fetched_now): fetched_now is True for the one call that fetched it."""
        key = host_key(url)
        with self._lock:
            if key in self._policies:
                return self._policies[key], False
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._policies:
                    return self._policies[key], False
            policy = self._fetch_robots(f"{key}/robots.txt")
            with self._lock:
                self._policies[key] = policy
            return policy, True

    def cached(self, url: str) -> RobotsPolicy | None:
        try:
            key = host_key(url)
        except BadUrl:
            return None
        with self._lock:
            return self._policies.get(key)

    def forget(self, url: str) -> None:
        """Drop a host's policy once the crawl is done with it: memory stays bounded by the
        hosts in progress, not every host a task ever saw (a later URL refetches it)."""
        try:
            key = host_key(url)
        except BadUrl:
            return
        with self._lock:
            self._policies.pop(key, None)
            self._locks.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._policies)
