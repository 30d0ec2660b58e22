"""Many URLs in flight per task, polite per host: the scheduler of a crawl task.

Worker threads (`fetch.concurrency`) take the next URL of a host that is free: fewer than
`fetch.per_host_concurrency` requests in flight there and its delay since the last request
(`fetch.per_host_delay`, or robots.txt's Crawl-delay when longer, capped by
`fetch.max_crawl_delay`) has passed. A host that is waiting never blocks a thread, so other
hosts keep being fetched. Retries (connection errors, 5xx, 429) go back to the front of
their host's queue with exponential backoff and jitter, or Retry-After (capped by
`fetch.max_retry_after`), which delays the whole host: backoff is per host.
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


@dataclass
class _Host:
    key: str
    pending: deque = field(default_factory=deque)  # (index, url, attempt)
    active: int = 0
    ready_at: float = 0.0
    in_heap: bool = False


def backoff_delay(cfg: FetchConfig, attempt: int, retry_after: float | None, rng) -> float:
    """Seconds before retry number `attempt` (1-based)."""
    if retry_after is not None:
        return min(retry_after, cfg.max_retry_after)
    base = min(cfg.backoff_max, cfg.backoff_base * (2 ** (attempt - 1)))
    return base * (0.5 + 0.5 * rng.random())  # "equal jitter": half fixed, half random


class Crawler:
    """Fetch `urls` with a `Fetcher`; yields (index, FetchResult) as they finish."""

    def __init__(self, fetcher: Fetcher, cfg: FetchConfig, seed: int = 0):
        self.fetcher = fetcher
        self.cfg = cfg
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Host]] = []
        self._seq = itertools.count()
        self._hosts: dict[str, _Host] = {}
        self._left = 0
        self._stop = False
        self._carry: dict[int, list] = {}  # WARC captures of failed attempts, by URL index

    def run(self, urls: Sequence[str]) -> Iterator[tuple[int, FetchResult]]:
        if not urls:
            return
        self._left = len(urls)
        self._stop = False
        for index, url in enumerate(urls):
            host = self._host(url)
            host.pending.append((index, url, 1))
        with self._cond:
            for host in self._hosts.values():
                self._push(host)
        results: queue.Queue = queue.Queue()
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
            host = self._hosts[key] = _Host(key)
        return host

    def _push(self, host: _Host) -> None:
        if host.pending and host.active < self.cfg.per_host_concurrency and not host.in_heap:
            host.in_heap = True
            heapq.heappush(self._heap, (host.ready_at, next(self._seq), host))

    def _take(self) -> tuple[_Host, int, str, int] | None:
        with self._cond:
            while not self._stop and self._left > 0:
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    _, _, host = heapq.heappop(self._heap)
                    host.in_heap = False
                    if host.ready_at > now:  # delayed since it was queued
                        self._push(host)
                        continue
                    index, url, attempt = host.pending.popleft()
                    host.active += 1
                    self._push(host)
                    return host, index, url, attempt
                timeout = self._heap[0][0] - now if self._heap else None
                self._cond.wait(timeout)
            return None

    def _delay(self, url: str) -> float:
        delay = self.cfg.per_host_delay
        if self.cfg.respect_robots:
            policy = self.fetcher.robots.cached(url)
            if policy is not None and policy.crawl_delay:
                delay = max(delay, min(policy.crawl_delay, self.cfg.max_crawl_delay))
        return delay

    def _work(self, results: queue.Queue) -> None:
        try:
            while True:
                taken = self._take()
                if taken is None:
                    return
                host, index, url, attempt = taken
                result = self.fetcher.fetch(url)
                result.attempts = attempt
                delay = self._delay(url)
                retry = result.retryable and attempt <= self.cfg.max_retries
                with self._cond:
                    host.active -= 1
                    now = time.monotonic()
                    host.ready_at = max(host.ready_at, now + delay)
                    if retry:
                        wait = backoff_delay(self.cfg, attempt, result.retry_after, self._rng)
                        host.ready_at = max(host.ready_at, now + wait)
                        host.pending.appendleft((index, url, attempt + 1))
                        self._carry.setdefault(index, []).extend(result.exchanges)
                    else:
                        self._left -= 1
                        result.exchanges = self._carry.pop(index, []) + result.exchanges
                    self._push(host)
                    self._cond.notify_all()
                if not retry:
                    results.put((index, result))
        except BaseException as exc:  # surface a bug in the driver instead of hanging it
            results.put(exc)
