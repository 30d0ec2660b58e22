"""Clean-stage filters that drop documents by n-gram overlap with reference text.

- `wikipedia` (`clean.wikipedia_text`): drops a page when more than `clean.wikipedia_overlap`
  of its 8-grams occur in the given Wikipedia text: mirrors and copies that the host
  blocklist misses. The reference can be large, so it is a Bloom filter, built once and
  cached (`overlap.cache_dir`) by file path, size, mtime and filter parameters.
- `decontaminated` (`clean.decontaminate`): drops a page when its overlap with the test files
  exceeds `clean.decontaminate_overlap`. Overlap is the larger of (a) the share of the page's
  8-grams found in the test files and (b) for the test document it covers most, the share of
  that test document's 8-grams found in the page, so a long page quoting a whole test
  passage is caught as well as a page that is the passage. Test files are small: the index is
  exact (sorted arrays of hashes), no false positives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from webtext.clean.base import Filter, Page
from webtext.config import CleanConfig, ConfigError, OverlapConfig
from webtext.overlap.ngrams import ngram_hashes
from webtext.overlap.sources import iter_batches


class WikipediaContentFilter(Filter):
    name = "wikipedia"

    def __init__(self, path: str, threshold: float, overlap: OverlapConfig):
        self.path, self.threshold, self.overlap = path, threshold, overlap
        self._index = None

    def setup(self) -> None:
        from webtext.overlap.index import build_file_index

        if self._index is None:
            self._index = build_file_index([self.path], self.overlap)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_index": None}  # workers rebuild or reopen the cached filter

    def check(self, page: Page) -> str | None:
        if self._index is None:
            self.setup()
        hashes = ngram_hashes([page.get("text") or ""], self.overlap.ngram).hashes
        if not len(hashes):
            return None
        share = float(self._index.contains(hashes).mean())
        if share > self.threshold:
            return (
                f"{share:.0%} of {len(hashes)} {self.overlap.ngram}-grams found in "
                f"{Path(self.path).name}"
            )
        return None


class TestSetIndex:
    """Exact n-gram index of test documents: which documents hold which n-gram hash."""

    def __init__(self, files: list[str], n: int):
        hashes, items, sizes, names = [], [], [], []
        for f in files:
            for batch in iter_batches(f):
                ng = ngram_hashes(batch, n)
                for i in range(len(batch)):
                    h = np.unique(ng.of(i))
                    if len(h):
                        hashes.append(h)
                        items.append(np.full(len(h), len(sizes), np.int64))
                        sizes.append(len(h))
                        names.append(f"{Path(f).name}#{len(names)}")
        all_h = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
        all_i = np.concatenate(items) if items else np.zeros(0, np.int64)
        order = np.argsort(all_h, kind="stable")
        self.pair_hash, self.pair_item = all_h[order], all_i[order]
        self.sizes = np.asarray(sizes, np.float64)
        self.names, self.n = names, n

    def overlap(self, hashes: np.ndarray) -> tuple[float, float, int]:
        """(share of `hashes` found, best coverage of one test document, that document)."""
        if not len(hashes) or not len(self.pair_hash):
            return 0.0, 0.0, -1
        lo = np.searchsorted(self.pair_hash, hashes, side="left")
        hi = np.searchsorted(self.pair_hash, hashes, side="right")
        doc_share = float((hi > lo).mean())
        uniq = np.unique(hashes)
        lo = np.searchsorted(self.pair_hash, uniq, side="left")
        hi = np.searchsorted(self.pair_hash, uniq, side="right")
        hit = hi > lo
        if not hit.any():
            return doc_share, 0.0, -1
        lo, hi = lo[hit], hi[hit]
        idx = np.repeat(lo - np.cumsum(np.r_[0, (hi - lo)[:-1]]), hi - lo) + np.arange(
            int((hi - lo).sum())
        )
        counts = np.bincount(self.pair_item[idx], minlength=len(self.sizes))
        coverage = counts / self.sizes
        best = int(np.argmax(coverage))
        return doc_share, float(coverage[best]), best


class DecontaminationFilter(Filter):
    name = "decontaminated"

    def __init__(self, files: list[str], threshold: float, ngram: int):
        self.files, self.threshold, self.ngram = list(files), threshold, ngram
        self._index: TestSetIndex | None = None

    def setup(self) -> None:
        if self._index is None:
            for f in self.files:
                if not Path(f).is_file():
                    raise ConfigError(f"clean.decontaminate: test file not found: {f}")
            self._index = TestSetIndex(self.files, self.ngram)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_index": None}

    def check(self, page: Page) -> str | None:
        if self._index is None:
            self.setup()
        hashes = ngram_hashes([page.get("text") or ""], self.ngram).hashes
        doc_share, coverage, best = self._index.overlap(hashes)
        if max(doc_share, coverage) <= self.threshold:
            return None
        if coverage >= doc_share:
            return f"contains {coverage:.0%} of test document {self._index.names[best]}"
        return f"{doc_share:.0%} of {len(hashes)} {self.ngram}-grams are in the test files"


def build_overlap_filters(clean: CleanConfig, overlap: OverlapConfig) -> list[Filter]:
    """The Wikipedia-content and decontamination filters the config asks for (maybe none)."""
    filters: list[Filter] = []
    if clean.wikipedia_text:
        if not Path(clean.wikipedia_text).is_file():
            raise ConfigError(f"clean.wikipedia_text: file not found: {clean.wikipedia_text}")
        filters.append(
            WikipediaContentFilter(clean.wikipedia_text, clean.wikipedia_overlap, overlap)
        )
    if clean.decontaminate:
        for f in clean.decontaminate:
            if not Path(f).is_file():
                raise ConfigError(f"clean.decontaminate: test file not found: {f}")
        filters.append(
            DecontaminationFilter(clean.decontaminate, clean.decontaminate_overlap, overlap.ngram)
        )
    return filters
