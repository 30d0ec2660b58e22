"""Clean-stage filters that drop documents by 8-gram overlap with reference text.

Placeholder until the overlap work lands: Wikipedia-by-content and decontamination filters
are built here from `clean.wikipedia_text` and `clean.decontaminate`.
"""

from __future__ import annotations

from webtext.clean.base import Filter
from webtext.config import CleanConfig, OverlapConfig


def build_overlap_filters(clean: CleanConfig, overlap: OverlapConfig) -> list[Filter]:
    if clean.wikipedia_text or clean.decontaminate:
        raise NotImplementedError("overlap filters are not built yet")
    return []
