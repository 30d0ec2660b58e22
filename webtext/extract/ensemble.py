"""Paragraph voting between extractors.

The base text is trafilatura in recall mode: it rarely misses article text, but it also
keeps boilerplate it is unsure of (related-article lists, captions, share prompts, bylines).
Each base paragraph is kept only if at least one other extractor (trafilatura in precision
mode, readability, optionally newspaper) also returned it. Extractors built on different
principles rarely agree on the same boilerplate, while they do agree on the article body,
so the vote removes most of recall mode's noise and keeps its recall.

General rules only, no per-site tuning:
- "returned it" = at least half of the paragraph's word 4-grams occur in the voter's text
  (a paragraph shorter than 4 words must occur in it as a whole word sequence);
- voters that returned nothing abstain; with no voter left the base text stands;
- voters are asked in turn, cheapest first, until at most 5% of the base words remain
  unconfirmed (a stray caption is not worth another full extraction);
- an empty base falls back to the first voter with text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

_WORD = re.compile(r"\w+")
SHINGLE = 4
SUPPORT = 0.5
SETTLED = 0.05  # unconfirmed share of the base words at which no further voter is asked


def _shingles(tokens: Sequence[str]) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1)}


class _Voter:
    __slots__ = ("shingles", "joined")

    def __init__(self, tokens: list[str]):
        self.shingles = _shingles(tokens)
        self.joined = " " + " ".join(tokens) + " "

    def supports(self, tokens: list[str], support: float = SUPPORT) -> bool:
        if len(tokens) < SHINGLE:
            return (" " + " ".join(tokens) + " ") in self.joined
        grams = _shingles(tokens)
        return len(grams & self.shingles) >= support * len(grams)


def vote(
    base: str,
    others: Sequence[str | Callable[[], str]],
    *,
    support: float = SUPPORT,
    settled: float = SETTLED,
) -> str:
    """Base paragraphs (lines) that at least one of `others` supports, in base order.

    `others` are texts or zero-argument callables returning one; the next voter runs only
    while more than `SETTLED` of the base words are still unconfirmed (put the cheapest
    first): a clean page, or one with a stray caption, costs the base plus one voter.
    `support` and `settled` default to the module's SUPPORT and SETTLED.
    """
    if not _WORD.search(base or ""):
        for other in others:
            text = other() if callable(other) else other
            if text and _WORD.search(text):
                return text.strip()
        return ""
    pending = [(line.strip(), _WORD.findall(line)) for line in base.splitlines()]
    pending = [(line, tokens) for line, tokens in pending if tokens]
    supported = [False] * len(pending)
    open_idx = list(range(len(pending)))
    total_words = sum(len(tokens) for _, tokens in pending)
    voted = False
    for other in others:
        if voted and sum(len(pending[i][1]) for i in open_idx) <= settled * total_words:
            break
        tokens = _WORD.findall((other() if callable(other) else other) or "")
        if not tokens:
            continue  # an empty voter abstains
        voted = True
        voter = _Voter(tokens)
        for i in open_idx:
            supported[i] = voter.supports(pending[i][1], support)
        open_idx = [i for i in open_idx if not supported[i]]
    if not voted:
        return "\n".join(line for line, _ in pending)
    return "\n".join(line for (line, _), ok in zip(pending, supported, strict=True) if ok)


def add_confirmed(base: str, extra: str, confirmers: Sequence[str | Callable[[], str]]) -> str:
    """`base`, then the lines of `extra` it lacks that every one of `confirmers` also
    returned (in `extra`'s order). Confirmers are texts or zero-argument callables, asked
    only while some line is still in question."""
    have = _Voter(_WORD.findall(base or ""))
    pending = []
    for line in (extra or "").splitlines():
        tokens = _WORD.findall(line)
        if tokens and not have.supports(tokens):
            pending.append((line.strip(), tokens))
    for other in confirmers:
        if not pending:
            break
        voter = _Voter(_WORD.findall((other() if callable(other) else other) or ""))
        pending = [(line, tokens) for line, tokens in pending if voter.supports(tokens)]
    if not pending:
        return base
    return "\n".join([base.strip(), *(line for line, _ in pending)]).strip()


def outside_share(text: str, other: str, support: float = SUPPORT) -> float:
    """Words of `other`'s lines that `text` does not contain, as a share of `text`'s words."""
    have = _Voter(_WORD.findall(text or ""))
    words = len(have.joined.split()) or 1
    outside = 0
    for line in (other or "").splitlines():
        tokens = _WORD.findall(line)
        if tokens and not have.supports(tokens, support):
            outside += len(tokens)
    return outside / words


def _lines(text: str) -> list[tuple[str, list[str]]]:
    out = []
    for line in (text or "").splitlines():
        tokens = _WORD.findall(line)
        if tokens:
            out.append((line.strip(), tokens))
    return out


def supported_share(text: str, other: str, support: float = SUPPORT) -> float:
    """Share of `text`'s words in lines that `other` returned too (0 for an empty text)."""
    have = _Voter(_WORD.findall(other or ""))
    total = kept = 0
    for _, tokens in _lines(text):
        total += len(tokens)
        if have.supports(tokens, support):
            kept += len(tokens)
    return kept / total if total else 0.0


def interior_fill(text: str, donor: str) -> str:
    """`text` plus the `donor` lines it lacks that lie, in the donor's order, between two
    donor lines it has: each gap is inserted after the result line that holds the line
    before it. What another extractor returns *inside* the stretch both agree is the
    article (an embedded quote or tweet, a list, a sub-heading) is rarely boilerplate;
    what it returns before or after that stretch often is (bylines, related links)."""
    result = _lines(text)
    donor_lines = _lines(donor)
    if not result or not donor_lines:
        return text
    have = _Voter([t for _, tokens in result for t in tokens])
    where: dict[tuple[str, ...], int] = {}  # shingle -> first result line holding it
    for j, (_, tokens) in enumerate(result):
        for gram in _shingles(tokens) if len(tokens) >= SHINGLE else {tuple(tokens)}:
            where.setdefault(gram, j)

    def locate(tokens: list[str]) -> int | None:
        grams = _shingles(tokens) if len(tokens) >= SHINGLE else {tuple(tokens)}
        hits = [where[g] for g in grams if g in where]
        return max(set(hits), key=hits.count) if hits else None

    inserts: dict[int, list[str]] = {}
    anchor: int | None = None  # result line of the last donor line present
    gap: list[str] = []
    for line, tokens in donor_lines:
        if have.supports(tokens):
            if anchor is not None and gap:
                inserts.setdefault(anchor, []).extend(gap)
            anchor, gap = locate(tokens), []
        elif anchor is not None:
            gap.append(line)
    if not inserts:
        return text
    out = []
    for j, (line, _) in enumerate(result):
        out.append(line)
        out.extend(inserts.get(j, ()))
    return "\n".join(out)


DISJOINT = 0.1  # two texts sharing less than this of their words each: different nodes
DISJOINT_WORDS = 20  # ... judged only when the other text has at least this many words


def _table_rows_dropped(text: str) -> str:
    """trafilatura writes table cells as `| a | b |` rows: layout tables, mostly."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("|"))


def readability_vote(
    base: str,
    main: str,
    recall: Callable[[], str],
    precision: Callable[[], str],
    *,
    support: float,
    settled: float,
    gate: float,
    hedge: bool = False,
    fill: bool = False,
    tables: bool = True,
    probe: float = 0.0,
) -> str:
    """The `combined` method on extractor outputs (`main`: Resiliparse; `recall` and
    `precision`: trafilatura's modes, each called at most once and only when needed):

    1. `base` (readability-lxml) lines confirmed by `main`, then, while more than `settled`
       of the words are unconfirmed, by `recall`; an empty base gives `recall`'s text;
    2. when `main` has more than `gate` (relative to the result's words) outside the
       result, or when the result and `recall` are disjoint (each shares under `DISJOINT`
       of its words with the other, checked with `hedge`: readability and trafilatura chose
       different parts of the page, and both are kept), the `recall` lines missing from
       it that `main` and `precision` both confirm are added (`tables`: table rows too);
    3. `fill`: `recall` lines inside the stretch the result shares with it are inserted
       (`interior_fill`).

    Steps 2 (`hedge`) and 3 consult `recall` only when step 1 did, or when `main` has more
    than `probe` (relative to the result's words) outside the result: where Resiliparse
    finds (almost) nothing beyond readability's text, there is little for trafilatura to
    dispute or fill in, and it is not run (its cost is most of the method's).
    """
    asked = []
    cached = functools.cache(recall)

    def recall() -> str:
        asked.append(True)
        return cached()

    if not _WORD.search(base or ""):
        return (recall() or "").strip()
    text = vote(base, [main, recall], support=support, settled=settled)
    outside = outside_share(text, main, support)
    consult = bool(asked) or outside > probe
    disjoint = False
    if hedge and consult:
        other = recall() or ""
        disjoint = (
            len(_WORD.findall(other)) >= DISJOINT_WORDS
            and supported_share(text, other) < DISJOINT
            and supported_share(other, text) < DISJOINT
        )
    if disjoint or outside > gate:
        extra = recall() or ""
        extra = extra if tables else _table_rows_dropped(extra)
        text = add_confirmed(text, extra, [main, precision])
    if fill and consult:
        text = interior_fill(text, recall() or "")
    return text
