"""Main-text extraction from HTML with a per-page time limit and crash isolation.

    with Extractor(cfg.extract) as extractor:
        result = extractor.extract(html, url)   # ExtractResult(text, title, extractor, error)

`extract` never raises for a bad page: a crash, a timeout or an exception in the extraction
library comes back as empty text with `error` set. With `isolation="process"` (the default)
the work runs in a worker subprocess that is killed and replaced on a timeout or a crash,
so it works the same in a plain process, a thread pool or a Ray task. One Extractor runs
one page at a time (calls from several threads are serialised); use one per thread for
parallelism.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

from webtext.config import ExtractConfig


@dataclass(slots=True)
class ExtractResult:
    text: str
    title: str | None
    extractor: str
    error: str | None = None


class ExtractorUnavailable(RuntimeError):
    """The worker process cannot start at all (a broken environment, not a bad page)."""


class Extractor:
    """`Extractor(cfg).extract(html, url) -> ExtractResult`; `close()` or use `with`.

    `function="package.module:func"` swaps in a custom `(html, url) -> (text, title)`
    extraction (it runs in the worker like the built-in ones); `stats` counts pages,
    errors, timeouts, worker crashes and starts, and network attempts the worker refused.
    """

    def __init__(self, cfg: ExtractConfig | None = None, *, function: str | None = None):
        from webtext.extract.methods import resolve

        self.cfg = cfg or ExtractConfig()
        self.name = self.cfg.extractor if function is None else function
        self._spec = self.name
        self._options: dict[str, Any] = {}
        if self.cfg.extractor == "ensemble" and function is None:
            self._options["voters"] = list(self.cfg.ensemble_voters)
        self._method = resolve(self._spec, **self._options)  # fails fast on a bad spec
        self._lock = threading.Lock()
        self._worker = None
        self._pages_on_worker = 0
        self.stats = {
            "pages": 0,
            "empty": 0,
            "errors": 0,
            "timeouts": 0,
            "crashes": 0,
            "worker_starts": 0,
            "network_blocked": 0,
        }
        if self.cfg.isolation == "process":
            from webtext.extract.worker import WorkerDied

            self._worker = self._new_worker()
            with contextlib.suppress(WorkerDied):  # the first extract() retries and reports
                self._worker.start()  # imports overlap with the caller's first fetches

    def _new_worker(self):
        from webtext.extract.worker import WorkerProcess

        return WorkerProcess(self._spec, self._options, memory_mb=self.cfg.worker_memory_mb)

    # -------------------------------------------------------------------------- api
    def extract(self, html: str, url: str, *, timeout: float | None = None) -> ExtractResult:
        """Main text and title of one page. Text shorter than `min_chars` (after stripping)
        comes back empty; `error` is set only for a failure (timeout, crash, exception).
        `timeout` overrides `cfg.timeout` for this page (e.g. a URL's remaining deadline)."""
        with self._lock:
            if self._worker is None and self.cfg.isolation == "process":
                raise RuntimeError("Extractor is closed")
            if isinstance(html, bytes):
                html = html.decode("utf-8", errors="replace")
            html = html if isinstance(html, str) else ""
            text, title, error = self._run(html, url or "", timeout or self.cfg.timeout)
            text = (text or "").strip()
            if len(text) < self.cfg.min_chars:
                text = ""
            self.stats["pages"] += 1
            self.stats["empty"] += not text
            self.stats["errors"] += error is not None
            return ExtractResult(text, title, self.name, error)

    def close(self) -> None:
        """Stop the worker (EOF, then SIGKILL after 2 s) and reap it. Idempotent."""
        with self._lock:
            worker, self._worker = self._worker, None
            if worker is not None:
                self._collect(worker)
                worker.close()

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        worker = getattr(self, "_worker", None)
        if worker is not None:
            with contextlib.suppress(Exception):  # may run during interpreter shutdown
                worker.kill()

    def __reduce__(self):
        # a live worker cannot travel: a copy sent to a Ray task starts its own
        return (_rebuild, (self.cfg, None if self.name == self.cfg.extractor else self.name))

    # --------------------------------------------------------------------- internals
    def _run(self, html: str, url: str, timeout: float) -> tuple[str, str | None, str | None]:
        if self._worker is None:
            try:
                text, title = self._method(html, url)
                return text, title, None
            except Exception as exc:
                return "", None, f"{type(exc).__name__}: {str(exc)[:500]}"
        from webtext.extract.worker import WorkerDied, WorkerTimeout

        if self._pages_on_worker >= self.cfg.worker_max_pages:
            self._recycle()
        self._pages_on_worker += 1
        try:
            text, title = self._call_worker(html, url, timeout)
            return text, title, None
        except WorkerTimeout:
            self.stats["timeouts"] += 1
            self._pages_on_worker = 0
            return "", None, f"timeout: no result within {timeout:g}s"
        except WorkerDied as exc:
            self.stats["crashes"] += 1
            self._pages_on_worker = 0
            return "", None, f"crash: {exc}"
        except ExtractorUnavailable:
            raise
        except RuntimeError as exc:  # the method raised inside the worker
            return "", None, str(exc)
        finally:
            self._collect(self._worker)

    def _call_worker(self, html: str, url: str, timeout: float) -> tuple[str, str | None]:
        from webtext.extract.worker import WorkerDied

        worker = self._worker
        for attempt in range(2):
            try:
                worker.wait_ready()
                break
            except WorkerDied as exc:
                if attempt == 1:
                    raise ExtractorUnavailable(str(exc)) from None
        return worker.call(html, url, timeout)

    def _recycle(self) -> None:
        from webtext.extract.worker import WorkerDied

        self._collect(self._worker)
        self._worker.close()
        self._pages_on_worker = 0
        with contextlib.suppress(WorkerDied):
            self._worker.start()

    def _collect(self, worker) -> None:
        self.stats["worker_starts"] = worker.starts
        self.stats["network_blocked"] = worker.network_blocked


def _rebuild(cfg: ExtractConfig, function: str | None) -> Extractor:
    return Extractor(cfg, function=function)


__all__ = ["ExtractResult", "Extractor", "ExtractorUnavailable"]
