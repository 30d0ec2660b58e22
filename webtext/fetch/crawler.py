"""Many URLs in flight per task, polite per host: the scheduler of a crawl task.

Worker threads (`fetch.concurrency`) take work from two heaps of hosts:
- *waiting*: hosts that must not be contacted yet, keyed by the time they may be (their
  last request's end + `fetch.per_host_delay`, or robots.txt's Crawl-delay when longer,
  capped by `fetch.max_crawl_delay`, or a retry's backoff);
- *ready*: hosts that may be contacted now, largest remaining backlog (URLs left x delay)
  first, so the host that bounds the task's wall time is never kept waiting by small ones
  and starts at once.
A host is in at most one heap, and only while it has URLs left and fewer than
`fetch.per_host_concurrency` requests in flight, so a waiting host never blocks a thread.

robots.txt and tdmrep.json are requests like any other: a host's first jobs fetch them
(once per host and task; tdmrep.json only when robots.txt lets the first URL through), each
followed by the host's delay, and the seconds they took count against the deadline of the
host's first URL, as when the fetcher fetched them inline. Retries (connection errors,
5xx, 429) go back to the front of their host's queue with exponential backoff and jitter,
or Retry-After (capped by `fetch.max_retry_after`), which delays the whole host: backoff
is per host.

Bounded state: a host's entry and its cached robots.txt and tdmrep.json are dropped as soon
as its last URL is done; fetched results wait for the consumer in a bounded queue, so fetching
never runs further ahead of extraction than `2 x fetch.concurrency` pages.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from webtext.config import FetchConfig
from webtext.fetch.fetcher import Fetcher, FetchResult
from webtext.fetch.robots import host_key
from webtext.uri import BadUrl

_SETUP = -1  # the job index of a host's setup request (robots.txt, tdmrep.json)


@dataclass(eq=False)
class _Host:
    key: str
    delay: float
    pending: deque = field(default_factory=deque)  # (index, url, attempt)
    active: int = 0
    ready_at: float = 0.0
    queued: bool = False  # in the waiting or the ready heap
    setup: list = field(default_factory=list)  # per-host files still to fetch, in order
    carry: list = field(default_factory=list)  # their WARC captures, for the next result
    setup_s: float = 0.0  # seconds they took: counted in the host's first URL's deadline


def backoff_delay(cfg: FetchConfig, attempt: int, retry_after: float | None, rng) -> float:
    """Seconds before retry number `attempt` (1-based)."""
    if retry_after is not None:
        return min(retry_after, cfg.max_retry_after)
    base = min(cfg.backoff_max, cfg.backoff_base * (2 ** (attempt - 1)))
    return base * (0.5 + 0.5 * rng.random())  # "equal jitter": half fixed, half random


def _fetchable(url: str) -> bool:
    """URLs the fetcher would send a request for (it vets the rest before any request)."""
    try:
        key = host_key(url)
    except BadUrl:
        return False
    return key.startswith(("http://", "https://"))


class Crawler:
    """Fetch `urls` with a `Fetcher`; yields (index, FetchResult) as they finish."""

    def __init__(self, fetcher: Fetcher, cfg: FetchConfig, seed: int = 0):
        self.fetcher = fetcher
        self.cfg = cfg
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._waiting: list[tuple[float, int, _Host]] = []
        self._ready: list[tuple[float, int, int, _Host]] = []
        self._seq = itertools.count()
        self._hosts: dict[str, _Host] = {}
        self._left = 0
        self._stop = False
        self._carry: dict[int, list] = {}  # WARC captures of failed attempts, by URL index

    @property
    def hosts_tracked(self) -> int:
        """Hosts with URLs left (finished hosts are forgotten)."""
        with self._cond:
            return len(self._hosts)

    def run(self, urls: Sequence[str]) -> Iterator[tuple[int, FetchResult]]:
        if not urls:
            return
        self._left = len(urls)
        self._stop = False
        for index, url in enumerate(urls):
            self._host(url).pending.append((index, url, 1))
        with self._cond:
            for host in self._hosts.values():
                self._push(host, 0.0)
        results: queue.Queue = queue.Queue(maxsize=self.cfg.concurrency)
        n_threads = min(self.cfg.concurrency, len(urls))
        threads = [
            threading.Thread(target=self._work, args=(results,), name=f"fetch-{i}", daemon=True)
            for i in range(n_threads)
        ]
        for t in threads:
            t.start()
        try:
            for _ in range(len(urls)):
                item = results.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            with self._cond:
                self._stop = True
                self._cond.notify_all()
            for t in threads:
                t.join(timeout=self.cfg.deadline + 5)

    def _host(self, url: str) -> _Host:
        try:
            key = host_key(url)  # the origin the fetcher connects to (webtext.uri)
        except BadUrl:
            key = url  # fails fast in the fetcher, with its reason
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host(key, self.cfg.per_host_delay)
            if _fetchable(url):
                host.setup = ["robots.txt", "tdmrep.json"]
                if not self.cfg.respect_robots:
                    host.setup.remove("robots.txt")
        return host

    # ------------------------------------------------------------ the two heaps
    def _push(self, host: _Host, now: float) -> None:
        """Queue a host that may take another request (caller holds the lock)."""
        limit = 1 if host.setup else self.cfg.per_host_concurrency
        if host.queued or not host.pending or host.active >= limit:
            return
        host.queued = True
        if host.ready_at > now:
            heapq.heappush(self._waiting, (host.ready_at, next(self._seq), host))
        else:
            backlog = len(host.pending)
            heapq.heappush(self._ready, (-backlog * host.delay, -backlog, next(self._seq), host))

    def _take(self) -> tuple[_Host, int, str, int] | None:
        with self._cond:
            while not self._stop and self._left > 0:
                now = time.monotonic()
                while self._waiting and self._waiting[0][0] <= now:
                    host = heapq.heappop(self._waiting)[2]
                    host.queued = False
                    self._push(host, now)
                if self._ready:
                    host = heapq.heappop(self._ready)[3]
                    host.queued = False
                    if host.ready_at > now:  # delayed (a retry) since it was queued
                        self._push(host, now)
                        continue
                    host.active += 1
                    if host.setup:
                        return host, _SETUP, host.pending[0][1], 0
                    index, url, attempt = host.pending.popleft()
                    self._push(host, now)
                    return host, index, url, attempt
                timeout = self._waiting[0][0] - now if self._waiting else None
                self._cond.wait(timeout)
            return None

    # ------------------------------------------------------------ worker threads
    def _delay(self, url: str) -> float:
        delay = self.cfg.per_host_delay
        if self.cfg.respect_robots:
            policy = self.fetcher.robots.cached(url)
            if policy is not None and policy.crawl_delay:
                delay = max(delay, min(policy.crawl_delay, self.cfg.max_crawl_delay))
        return delay

    def _setup(self, host: _Host, url: str) -> None:
        """A host's next per-host file, as a request of its own: robots.txt first, then
        tdmrep.json (only when robots.txt lets the host's first URL through, as the fetcher
        would ask for it only then); each is followed by the host's delay."""
        step = host.setup[0]
        exchanges: list = []
        start = time.monotonic()
        skip_rest = False
        try:
            if step == "robots.txt":
                policy, fetched_now = self.fetcher.robots.policy(url)
                if fetched_now:
                    exchanges = list(policy.exchanges)
                    policy.exchanges = []  # kept once, in the WARC of the host's first result
                skip_rest = self.fetcher.robots_refusal(policy, url) is not None
            else:
                _, exchanges = self.fetcher.tdmrep.rules(host.key)
        except Exception:  # noqa: BLE001 - the page fetch asks again and says why
            skip_rest = True
        delay = self._delay(url)
        with self._cond:
            host.active -= 1
            host.setup = [] if skip_rest else host.setup[1:]
            host.delay = delay
            host.carry = host.carry + exchanges
            if exchanges:  # a request went out: the host's next one waits its turn
                host.setup_s += time.monotonic() - start
                host.ready_at = max(host.ready_at, time.monotonic() + delay)
            self._push(host, time.monotonic())
            self._cond.notify_all()

    def _work(self, results: queue.Queue) -> None:
        try:
            while True:
                taken = self._take()
                if taken is None:
                    return
                host, index, url, attempt = taken
                if index == _SETUP:
                    self._setup(host, url)
                    continue
                with self._cond:
                    spent, host.setup_s = host.setup_s, 0.0
                result = self.fetcher.fetch(url, spent)
                result.attempts = attempt
                retry = result.retryable and attempt <= self.cfg.max_retries
                with self._cond:
                    host.active -= 1
                    now = time.monotonic()
                    if result.exchanges:  # only a request sent makes the host wait
                        host.ready_at = max(host.ready_at, now + host.delay)
                    if retry:
                        wait = backoff_delay(self.cfg, attempt, result.retry_after, self._rng)
                        host.ready_at = max(host.ready_at, now + wait)
                        host.pending.appendleft((index, url, attempt + 1))
                        self._carry.setdefault(index, []).extend(result.exchanges)
                    else:
                        self._left -= 1
                        carried = host.carry + self._carry.pop(index, [])
                        host.carry = []
                        result.exchanges = carried + result.exchanges
                    if not host.pending and host.active == 0:
                        self._forget(host)
                    else:
                        self._push(host, now)
                    self._cond.notify_all()
                if not retry:
                    self._deliver(results, (index, result))
        except BaseException as exc:  # surface a bug in the driver instead of hanging it
            self._deliver(results, exc)

    def _forget(self, host: _Host) -> None:
        """A finished host: drop its entry and its robots.txt policy (caller holds the lock)."""
        self._hosts.pop(host.key, None)
        if "://" in host.key:
            self.fetcher.robots.forget(host.key)
            self.fetcher.tdmrep.forget(host.key)

    def _deliver(self, results: queue.Queue, item: object) -> None:
        """Hand a result to the consumer; waits while it is behind, gives up on stop."""
        while True:
            try:
                results.put(item, timeout=0.2)
                return
            except queue.Full:
                if self._stop:
                    return
