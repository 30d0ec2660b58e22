"""Dead links come back: captures from web archives (Wayback CDX API, Common Crawl index).

`ArchiveFetcher.fetch(url, target)` looks the URL up in each configured archive in order,
picks the usable capture closest to `target` and retrieves its original bytes, through the
same address guard, size, time and decompression limits as a live fetch (the live
`Fetcher`'s session and watchdog). Modules: `capture` (CDX answers and capture choice),
`cache` (CDX answers kept on disk in the run), `ratelimit` (per-archive token bucket shared
by the run's processes), `request` (one guarded GET), `client` (the lookups and replays).
"""

from webtext.fetch.archive.client import ArchiveFetcher, target_time
from webtext.fetch.archive.dead import dead_reason

__all__ = ["ArchiveFetcher", "dead_reason", "target_time"]
