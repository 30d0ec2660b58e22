"""The default filter chain of the clean stage, built from `clean.*` (cheapest first)."""

from __future__ import annotations

from webtext.clean.base import Filter, FilterChain
from webtext.clean.botwall import Botwall
from webtext.clean.language import Language
from webtext.clean.overlap_filters import build_overlap_filters
from webtext.clean.pii import PiiFilter
from webtext.clean.quality import (
    AlphaRatio,
    Boilerplate,
    MaxChars,
    MinTokens,
    RepeatedLines,
    RepeatedNgrams,
    WordLength,
)
from webtext.clean.wikipedia import WikipediaMirror
from webtext.config import CleanConfig, OverlapConfig


def build_filters(clean: CleanConfig, overlap: OverlapConfig | None = None) -> list[Filter]:
    """Host check, then length, then per-character and per-line statistics, then the
    reference-text overlap filters, language identification (the costliest), then the
    personal-data filter, which rewrites the text of the pages kept.
    The first filter that drops a page names its reason, so a page is judged by cheap
    rules before langdetect spends milliseconds on it."""
    filters: list[Filter] = [
        WikipediaMirror(clean.wikipedia_mirrors),
        MaxChars(clean.max_chars),
        MinTokens(clean.min_tokens),
        AlphaRatio(clean.min_alpha_ratio),
        WordLength(clean.min_mean_word_length, clean.max_mean_word_length),
        RepeatedLines(clean.max_repeated_line_fraction),
        Boilerplate(clean.max_boilerplate_line_fraction),
    ]
    if clean.botwall:
        filters.append(Botwall(clean.botwall_max_fraction, clean.botwall_title_max_words))
    filters.append(RepeatedNgrams(clean.max_repeated_ngram_fraction, clean.repeated_ngram_size))
    filters.extend(build_overlap_filters(clean, overlap or OverlapConfig()))
    filters.append(
        Language(
            clean.languages,
            clean.min_language_prob,
            clean.language_sample_chars,
            clean.language_seed,
            clean.language_backend,
        )
    )
    if clean.pii != "off":  # last: only pages every other filter kept pay for it
        filters.append(PiiFilter(clean.pii, clean.pii_max_density))
    return filters


def build_chain(clean: CleanConfig, overlap: OverlapConfig | None = None) -> FilterChain:
    return FilterChain(build_filters(clean, overlap))
