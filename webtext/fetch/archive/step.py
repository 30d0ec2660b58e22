"""The archive pass of a crawl chunk: many URLs at once, each archive at its own pace.

Threads only wait here (every request holds a slot of its archive and a token of its
bucket), so the pool is as wide as the sources' concurrency together.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from webtext.fetch.archive.client import ArchiveFetcher
from webtext.fetch.fetcher import FetchResult

MAX_THREADS = 32


def archive_pass(archive: ArchiveFetcher, items: Sequence[tuple[int, str, int]]
                 ) -> Iterator[tuple[int, FetchResult]]:  # fmt: skip
    """(position, result) for each (position, url, target time), as they finish."""
    if not items:
        return
    width = min(MAX_THREADS, len(items), sum(s.concurrency for s in archive.cfg.sources) or 1)
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="archive") as pool:
        futures = {
            pool.submit(archive.fetch, url, target): (pos, url) for pos, url, target in items
        }
        for future in as_completed(futures):
            pos, url = futures[future]
            result = future.result()
            result.url = url
            yield pos, result
