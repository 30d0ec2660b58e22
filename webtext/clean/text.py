"""Cheap text statistics the quality filters share (pure functions, no state)."""

from __future__ import annotations

import re

_SPACE = re.compile(r"\s+")
# a non-space character followed by whitespace: a cut there never splits a GPT-2 pre-token
_CUT = re.compile(r"\S(?=\s)")


def words(text: str) -> list[str]:
    return text.split()


def lines(text: str) -> list[str]:
    """Non-empty lines, stripped."""
    return [s for s in (line.strip() for line in text.splitlines()) if s]


def normalise_line(line: str) -> str:
    return _SPACE.sub(" ", line).strip().lower()


def alpha_ratio(text: str) -> float:
    """Letters (any script) over non-whitespace characters; 0 for blank text."""
    nonspace = len(text) - sum(map(str.isspace, text))
    if nonspace <= 0:
        return 0.0
    return sum(map(str.isalpha, text)) / nonspace


def mean_word_length(tokens: list[str]) -> float:
    return sum(map(len, tokens)) / len(tokens) if tokens else 0.0


def repeated_line_fraction(text_lines: list[str]) -> float:
    """Share of the characters in lines that repeat an earlier line (case, spacing ignored).

    Only the copies count, not the first occurrence: a paragraph printed twice scores 0.5,
    four times 0.75.
    """
    seen: set[str] = set()
    repeated = total = 0
    for line in text_lines:
        total += len(line)
        key = normalise_line(line)
        if key in seen:
            repeated += len(line)
        else:
            seen.add(key)
    return repeated / total if total else 0.0


def repeated_ngram_fraction(tokens: list[str], n: int) -> float:
    """Share of word characters covered by word n-grams that repeat an earlier n-gram.

    Like `repeated_line_fraction` but blind to line breaks, so it also sees repetition in
    text extracted as one long line. First occurrences do not count.
    """
    if len(tokens) <= n:
        return 0.0
    lowered = [t.lower() for t in tokens]
    grams = list(zip(*(lowered[k:] for k in range(n)), strict=False))  # n shifted views
    if len(set(grams)) == len(grams):  # the common case, decided in C
        return 0.0
    seen: set[tuple[str, ...]] = set()
    covered_until = 0  # words before this index are already counted
    repeated = 0
    for i, gram in enumerate(grams):
        if gram in seen:
            start = max(i, covered_until)
            repeated += sum(map(len, tokens[start : i + n]))
            covered_until = i + n
        else:
            seen.add(gram)
    total = sum(map(len, tokens))
    return repeated / total if total else 0.0


def count_tokens_at_least(text: str, threshold: int, encode, chunk_chars: int = 0) -> int:
    """GPT-2 token count of `text`, exact below `threshold`; at or above it, a lower bound.

    Encodes growing prefixes cut right after a non-space character that is followed by
    whitespace. GPT-2's pre-tokeniser never joins a piece across such a cut, so the tokens of
    the prefix are a prefix of the tokens of the text: once a prefix reaches `threshold` the
    whole text does too, and most documents are settled from their first few hundred bytes.
    """
    if threshold <= 0:
        return 0
    if len(text.encode("utf-8")) < threshold:  # every token covers at least one byte
        return len(encode(text))
    size = chunk_chars or max(threshold * 6, 256)
    while True:
        if size >= len(text):
            return len(encode(text))
        match = _CUT.search(text, size)
        if match is None:
            return len(encode(text))
        count = len(encode(text[: match.end()]))
        if count >= threshold:
            return count
        size *= 2
