"""Per-archive politeness: a token bucket shared by every process of the run, and a cap
on requests in flight per task.

The bucket holds one token (requests spaced at least 1/`rate_per_s` apart, never a burst)
and lives in a small file under the run's work folder, taken under an exclusive `flock`: all
crawl tasks on the node (and on every node mounting the run folder with working locks)
draw from the same bucket, so N tasks do not make N times the rate. A 429 or 503 with
Retry-After empties the bucket for that long for everybody. Requests are spaced a quarter
wider than 1/rate (`SAFETY`): N + 1 requests span at least 1.25 s, so up to 0.25 s of delay
between taking the token and arriving (a loaded machine, the network) cannot make the
server see more than the limit in any one-second window.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import threading
import time
from pathlib import Path

SAFETY = 1.25


class RateLimiter:
    def __init__(self, rate_per_s: float, concurrency: int, path: str | Path | None = None):
        self.interval = SAFETY / rate_per_s
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._next = 0.0  # used when there is no shared file
        self._slots = threading.BoundedSemaphore(concurrency)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _shared(self):
        """(read, write) of the next free time, under the thread and the file lock."""
        with self._lock:
            if self.path is None:
                box = [self._next]
                yield box
                self._next = box[0]
                return
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                data = os.pread(fd, 8, 0)
                box = [struct.unpack("<d", data)[0] if len(data) == 8 else 0.0]
                yield box
                os.pwrite(fd, struct.pack("<d", box[0]), 0)
            finally:
                os.close(fd)  # releases the lock

    def _claim(self) -> float:
        """Take the token if it is there (0.0), else how long until it is."""
        with self._shared() as box:
            now = time.time()
            if now >= box[0]:
                box[0] = now + self.interval  # spaced from when the request really goes
                return 0.0
            return box[0] - now

    @contextlib.contextmanager
    def slot(self):
        """Hold one of the task's slots, then wait for the bucket's token. The token is
        taken at the moment the request goes, not booked ahead: a thread that wakes late
        (a loaded machine) pushes the next request back instead of bunching it up."""
        with self._slots:
            while (wait := self._claim()) > 0:
                time.sleep(wait)
            yield

    def pause(self, seconds: float) -> None:
        """The archive asked us to wait (429/503 Retry-After): nobody asks before then."""
        with self._shared() as box:
            box[0] = max(box[0], time.time() + seconds)
