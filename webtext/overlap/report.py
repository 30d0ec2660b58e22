"""Overlap figures per test file (and the run's val split): table, overlap.json, HTML."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from webtext.overlap.ngrams import NgramBatch, ngram_hashes
from webtext.paths import RunPaths

OVER_HALF = 0.5


def document_overlap(found: np.ndarray, batch: NgramBatch) -> np.ndarray:
    """Per document: the share of its n-grams found (NaN for documents without n-grams)."""
    counts = batch.counts
    doc_of = np.repeat(np.arange(len(counts)), counts)
    hits = np.bincount(doc_of, weights=found, minlength=len(counts))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)


class OverlapCounter:
    """Accumulates the overlap figures of one test set, batch by batch."""

    def __init__(self, name: str):
        self.name = name
        self.documents = self.scored = self.ngrams = self.found = 0
        self.any = self.over_half = 0

    def add(self, index, texts: list[str], n: int) -> None:
        batch = ngram_hashes(texts, n)
        found = index.contains(batch.hashes) if len(batch.hashes) else np.zeros(0, bool)
        share = document_overlap(found, batch)
        scored = ~np.isnan(share)
        self.documents += len(texts)
        self.scored += int(scored.sum())
        self.ngrams += int(len(found))
        self.found += int(found.sum())
        self.any += int((share[scored] > 0).sum())
        self.over_half += int((share[scored] > OVER_HALF).sum())

    def result(self, **extra) -> dict:
        def ratio(a: int, b: int) -> float | None:
            return a / b if b else None

        return {
            "name": self.name,
            **extra,
            "documents": self.documents,
            "documents_scored": self.scored,
            "ngrams": self.ngrams,
            "ngrams_found": self.found,
            "ngram_overlap": ratio(self.found, self.ngrams),
            "documents_any_overlap": ratio(self.any, self.scored),
            "documents_over_half": ratio(self.over_half, self.scored),
        }


def score_texts(index, batches: Iterable[list[str]], n: int, name: str, **extra) -> dict:
    counter = OverlapCounter(name)
    for texts in batches:
        counter.add(index, texts, n)
    return counter.result(**extra)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


COLUMNS = [
    ("test set", lambda r: r["name"]),
    ("docs", lambda r: f"{r['documents']:,}"),
    ("n-grams", lambda r: f"{r['ngrams']:,}"),
    ("in train", lambda r: _pct(r["ngram_overlap"])),
    ("docs with any", lambda r: _pct(r["documents_any_overlap"])),
    ("docs > 50%", lambda r: _pct(r["documents_over_half"])),
]


def _header(n: int) -> list[str]:
    return [c.replace("n-grams", f"{n}-grams") for c, _ in COLUMNS]


def format_table(report: dict) -> str:
    rows = report["results"]
    header = _header(report["bloom"]["ngram"])
    cells = [[fn(r) for _, fn in COLUMNS] for r in rows]
    widths = [
        max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)
    ]

    def line(vals: list[str]) -> str:
        pairs = enumerate(zip(vals, widths, strict=True))
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in pairs)

    bloom = report["bloom"]
    out = [line(header), line(["-" * w for w in widths]), *(line(c) for c in cells)]
    out.append(
        f"train: {bloom['train_documents']:,} documents ({bloom['source']}), "
        f"{bloom['distinct_ngrams']:,} distinct {bloom['ngram']}-grams; Bloom filter "
        f"{bloom['bytes'] / 1e6:.1f} MB, expected false-positive rate {bloom['expected_fpr']:.1g}"
    )
    return "\n".join(out)


def overlap_json_path(run_dir: str | Path) -> Path:
    return RunPaths.of(run_dir).overlap / "overlap.json"


def report_section(run_dir: str | Path) -> str:
    """A self-contained HTML fragment (heading, table, note) for report.html; '' if absent."""
    path = overlap_json_path(run_dir)
    if not path.is_file():
        return ""
    report = json.loads(path.read_text(encoding="utf-8"))
    bloom = report["bloom"]
    esc = html.escape
    head = "".join(f"<th>{esc(c)}</th>" for c in _header(bloom["ngram"]))
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(str(fn(r)))}</td>" for _, fn in COLUMNS) + "</tr>"
        for r in report["results"]
    )
    note = (
        f"Share of each test set's {bloom['ngram']}-grams (lower-case alphanumeric words) found "
        f"in the {bloom['train_documents']:,} training documents ({esc(str(bloom['source']))}), "
        f"and of its documents with any / more than half of their {bloom['ngram']}-grams "
        f"found. Bloom filter: {bloom['distinct_ngrams']:,} distinct {bloom['ngram']}-grams, "
        f"{bloom['bytes'] / 1e6:.1f} MB, expected false-positive rate "
        f"{bloom['expected_fpr']:.1g}."
    )
    return (
        '<section class="overlap"><h2>Train/test n-gram overlap</h2>'
        '<table style="border-collapse:collapse" border="1" cellpadding="4">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p>{note}</p></section>"
    )
