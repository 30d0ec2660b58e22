"""Quality heuristics: each a small filter with one named reason and its own thresholds.

The thresholds come from `clean.*` (defaults near Gopher's and OpenWebText's); the detail
string of a drop names the measured value and the limit, so the ledger explains itself.
"""

from __future__ import annotations

import re

from webtext.clean import text as T
from webtext.clean.base import Filter, Page


def page_text(page: Page) -> str:
    return page.get("text") or ""


class MaxChars(Filter):
    name = "too_long"

    def __init__(self, max_chars: int):
        self.max_chars = max_chars

    def check(self, page: Page) -> str | None:
        n = len(page_text(page))
        return f"{n} chars > {self.max_chars}" if n > self.max_chars else None


class MinTokens(Filter):
    """Fewer than `min_tokens` GPT-2 tokens (OpenWebText: 128); counting stops at the limit."""

    name = "too_short"

    def __init__(self, min_tokens: int):
        self.min_tokens = min_tokens
        self._encode = None

    def setup(self) -> None:
        from webtext.tokenize.gpt2 import get_encoding

        self._encode = get_encoding().encode_ordinary

    def check(self, page: Page) -> str | None:
        if self.min_tokens <= 0:
            return None
        if self._encode is None:
            self.setup()
        n = T.count_tokens_at_least(page_text(page), self.min_tokens, self._encode)
        return f"{n} GPT-2 tokens < {self.min_tokens}" if n < self.min_tokens else None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_encode": None}


class AlphaRatio(Filter):
    name = "alpha_ratio"

    def __init__(self, min_alpha_ratio: float):
        self.min_alpha_ratio = min_alpha_ratio

    def check(self, page: Page) -> str | None:
        ratio = T.alpha_ratio(page_text(page))
        if ratio < self.min_alpha_ratio:
            return f"letters/non-space {ratio:.3f} < {self.min_alpha_ratio}"
        return None


class WordLength(Filter):
    name = "word_length"

    def __init__(self, min_mean: float, max_mean: float):
        self.min_mean, self.max_mean = min_mean, max_mean

    def check(self, page: Page) -> str | None:
        mean = T.mean_word_length(T.words(page_text(page)))
        if mean < self.min_mean:
            return f"mean word length {mean:.2f} < {self.min_mean}"
        if mean > self.max_mean:
            return f"mean word length {mean:.2f} > {self.max_mean}"
        return None


class RepeatedLines(Filter):
    name = "repeated_lines"

    def __init__(self, max_fraction: float):
        self.max_fraction = max_fraction

    def check(self, page: Page) -> str | None:
        frac = T.repeated_line_fraction(T.lines(page_text(page)))
        if frac > self.max_fraction:
            return f"chars in repeated lines {frac:.3f} > {self.max_fraction}"
        return None


class RepeatedNgrams(Filter):
    name = "repeated_ngrams"

    def __init__(self, max_fraction: float, n: int = 10):
        self.max_fraction, self.n = max_fraction, n

    def check(self, page: Page) -> str | None:
        frac = T.repeated_ngram_fraction(T.words(page_text(page)), self.n)
        if frac > self.max_fraction:
            return f"chars in repeated word {self.n}-grams {frac:.3f} > {self.max_fraction}"
        return None


# Lines that are navigation, sharing, subscription or legal furniture rather than content.
# A line counts only when it is short (<= BOILERPLATE_MAX_WORDS words), so an article
# sentence that mentions "newsletter" or "privacy policy" is never boilerplate.
BOILERPLATE_PATTERNS = [
    r"^(share|tweet|pin|email|print|comment|reply|like)( (this|it|on|via)\b.*)?$",
    r"\bshare (this|on) (article|story|post|facebook|twitter|linkedin|whatsapp)\b",
    r"\b(follow|like) us on\b",
    r"\b(sign up|subscribe|register) (for|to) (our|the|my) (free )?(daily |weekly )?(newsletter|emails?|updates|channel)\b",
    r"^(subscribe|sign up|log ?in|sign in|register|logout|log out|my account|menu|search|home|skip to (main )?content|back to top|next( article| post| page)?|previous( article| post| page)?|load more|show more|read more|continue reading|see more|view all|more stories|related( articles| posts| stories)?|advertisement|sponsored( content)?|loading\W*)$",
    r"\ball rights reserved\b",
    r"^(©|\(c\)|copyright)\s",
    r"^(privacy policy|terms (of (use|service)|and conditions)|cookie (policy|settings)|contact us|about us|sitemap|accessibility|careers|advertise( with us)?)(\s*[|·•/-]\s*.*)?$",
    r"\bclick here\b",
    r"\b(posted|published|updated) (on|at|by)\b",
    r"^(tags?|categories|filed under|topics?)\s*:",
    r"^\d+\s+(comments?|shares?|likes?|views?)$",
]
BOILERPLATE_MAX_WORDS = 12


class Boilerplate(Filter):
    name = "boilerplate"

    def __init__(self, max_fraction: float, min_lines: int = 3):
        self.max_fraction, self.min_lines = max_fraction, min_lines
        self._pattern = re.compile("|".join(f"(?:{p})" for p in BOILERPLATE_PATTERNS), re.I)

    def is_boilerplate(self, line: str) -> bool:
        return len(line.split()) <= BOILERPLATE_MAX_WORDS and bool(self._pattern.search(line))

    def check(self, page: Page) -> str | None:
        text_lines = T.lines(page_text(page))
        if len(text_lines) < self.min_lines:
            return None
        hits = sum(1 for line in text_lines if self.is_boilerplate(line))
        frac = hits / len(text_lines)
        if frac > self.max_fraction:
            return f"boilerplate lines {hits}/{len(text_lines)} = {frac:.3f} > {self.max_fraction}"
        return None
