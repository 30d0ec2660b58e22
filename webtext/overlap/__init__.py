"""Train/test n-gram overlap (GPT-2 paper, section 4): normalisation, 8-gram hashes, Bloom
filters (their tasks here; the Ray build of a run's filter is `pipelines/overlap.py`, reached
through the stage table), and the overlap report."""

from __future__ import annotations

from webtext.overlap.ngrams import ngram_hashes, normalize
from webtext.overlap.report import report_section

__all__ = ["analyze", "ngram_hashes", "normalize", "report_section"]


def analyze(*args, **kwargs):
    from webtext.overlap.analysis import analyze as _analyze

    return _analyze(*args, **kwargs)
