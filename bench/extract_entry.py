"""`extract(html, url) -> str` callables for `../shared/tools/eval_extract.py --extractor`.

    python ../shared/tools/eval_extract.py --extractor bench/extract_entry.py:extract_default

`extract_<mode>` go through the full `Extractor` (worker subprocess, time limit), so the
figures include the isolation overhead; `inline_<mode>` call the method in-process.
"""

from __future__ import annotations

import atexit

from webtext.config import ExtractConfig
from webtext.extract import Extractor
from webtext.extract.methods import METHODS

_extractors: dict[str, Extractor] = {}


def _through_extractor(mode: str | None, html: str, url: str) -> str:
    key = mode or "default"
    if key not in _extractors:
        cfg = ExtractConfig() if mode is None else ExtractConfig(extractor=mode)
        _extractors[key] = Extractor(cfg)
    return _extractors[key].extract(html, url).text


def _close_all() -> None:
    for extractor in _extractors.values():
        extractor.close()


atexit.register(_close_all)


def extract_default(html: str, url: str) -> str:
    return _through_extractor(None, html, url)


def extract_trafilatura(html: str, url: str) -> str:
    return _through_extractor("trafilatura", html, url)


def extract_newspaper(html: str, url: str) -> str:
    return _through_extractor("newspaper", html, url)


def extract_ensemble(html: str, url: str) -> str:
    return _through_extractor("ensemble", html, url)


def extract_readability(html: str, url: str) -> str:
    return _through_extractor("readability", html, url)


def extract_resiliparse(html: str, url: str) -> str:
    return _through_extractor("resiliparse", html, url)


def extract_combined(html: str, url: str) -> str:
    return _through_extractor("combined", html, url)


def inline_trafilatura(html: str, url: str) -> str:
    return METHODS["trafilatura"](html, url)[0]


def inline_newspaper(html: str, url: str) -> str:
    return METHODS["newspaper"](html, url)[0]


def inline_ensemble(html: str, url: str) -> str:
    return METHODS["ensemble"](html, url)[0]


def inline_readability(html: str, url: str) -> str:
    return METHODS["readability"](html, url)[0]


def inline_resiliparse(html: str, url: str) -> str:
    return METHODS["resiliparse"](html, url)[0]


def inline_combined(html: str, url: str) -> str:
    return METHODS["combined"](html, url)[0]
