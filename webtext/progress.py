"""Progress bars on a terminal, periodic log lines elsewhere (CI logs, Ray job logs).

Progress counts records, not only files: a task calls `count(n, "bytes")` as it goes (dump
bytes read, URLs fetched, documents cleaned, tokens encoded). Inside a Ray task started by
`pipelines._ray.map_shards` the counts are batched and sent to the driver about once a
second, where a second bar shows them against their total; elsewhere `count` costs one
global lookup.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("webtext")


def setup_logging(level: int = logging.INFO) -> None:
    if log.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


class Progress:
    """A tqdm bar when stderr is a terminal, else a log line every `every` seconds."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", every: float | None = None):
        if every is None:  # WEBTEXT_PROGRESS_EVERY: seconds between log lines off a terminal
            every = float(os.environ.get("WEBTEXT_PROGRESS_EVERY", "10"))
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.extra: dict[str, int] = {}
        self.count = 0
        self._bar = None
        self._start = self._last = time.monotonic()
        if sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        self.count += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._log(now)

    def set_extra(self, extra: dict[str, int]) -> None:
        """Other counts shown beside the main one (e.g. submissions beside bytes)."""
        self.extra = extra
        if self._bar is not None:
            self._bar.set_postfix(extra, refresh=False)

    def _log(self, now: float, done: str = "") -> None:
        rate = self.count / max(now - self._start, 1e-9)
        of = f"/{self.total}" if self.total is not None else ""
        extra = "".join(f", {k} {v}" for k, v in self.extra.items())
        log.info(
            "%s: %d%s %s (%.1f %s/s%s)%s",
            self.desc, self.count, of, self.unit, rate, self.unit, extra, done,
        )  # fmt: skip

    def close(self, final: bool = False) -> None:
        """Close the bar; `final` logs the end count off a terminal."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif final:
            self._log(time.monotonic(), " done")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(
    items: Iterable[T], desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc, unit) as bar:
        for item in items:
            yield item
            bar.update()


# ------------------------------------------------------------------ records from tasks
_sink: Callable[[str, int], None] | None = None


def count(n: int, what: str = "records") -> None:
    """Add n records of kind `what` to the progress of the current task (no-op outside)."""
    sink = _sink
    if sink is not None and n:
        sink(what, n)


class _Batcher:
    """Collects counts from any thread; flushes them to `send` at most every `period` s."""

    def __init__(self, send: Callable[[dict[str, int]], None], period: float = 1.0):
        self.send, self.period = send, period
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.last = time.monotonic()

    def add(self, what: str, n: int) -> None:
        with self.lock:
            self.counts[what] += n
            now = time.monotonic()
            if now - self.last < self.period:
                return
            self.last = now
            pending, self.counts = dict(self.counts), Counter()
        self.send(pending)

    def flush(self) -> None:
        with self.lock:
            pending, self.counts = dict(self.counts), Counter()
        if pending:
            self.send(pending)


@contextlib.contextmanager
def counting_to(send: Callable[[dict[str, int]], None], period: float = 1.0) -> Iterator[None]:
    """Within the block, `count()` batches into `send(dict)`; the rest is sent at the end."""
    global _sink
    batcher = _Batcher(send, period)
    previous, _sink = _sink, batcher.add
    try:
        yield
    finally:
        _sink = previous
        batcher.flush()
