"""Polite, safe fetching: address guard, robots.txt, per-host limits, retries, WARC."""

from webtext.fetch.crawler import Crawler
from webtext.fetch.fetcher import Fetcher, FetchResult
from webtext.fetch.guard import AddressGuard, BlockedAddress
from webtext.fetch.warc import Exchange, WarcChunkWriter

__all__ = [
    "AddressGuard",
    "BlockedAddress",
    "Crawler",
    "Exchange",
    "FetchResult",
    "Fetcher",
    "WarcChunkWriter",
]
