"""Language identification with langdetect: seeded, per-document reproducible, sampled.

langdetect draws random n-grams; each `Detector` re-seeds its generator with its factory's
seed before every detection, so with a fixed seed and a fresh detector per document the
result depends on the document alone, never on which documents came before or on which
worker ran it. We keep a private, seeded `DetectorFactory` (loaded once per process) rather
than setting the class-wide `DetectorFactory.seed` other code may rely on.

Speed: langdetect's cost grows with the text it reads (up to 10,000 characters), so we read
a bounded sample: the whole text when it is short, else a few evenly spaced chunks cut at
whitespace, `sample_chars` in all.

Optional backend `langid` (py3langid, whose model ships inside the PyPI package, so nothing
is downloaded at run time): deterministic by construction and several times faster.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from webtext.clean.base import Filter, Page

_WS = re.compile(r"\s")
_LETTER = re.compile(r"[^\W\d_]")
UNKNOWN = "und"  # ISO 639-2 "undetermined"
BACKENDS = ("langdetect", "langid")


def sample_text(text: str, sample_chars: int, chunks: int = 3) -> str:
    """The text itself if short, else `chunks` pieces from start, middle(s) and end."""
    if len(text) <= sample_chars:
        return text
    size = sample_chars // chunks
    span = len(text) - size
    pieces = []
    for i in range(chunks):
        start = span * i // max(chunks - 1, 1)
        if start:  # begin after a whitespace so no word is cut in half
            m = _WS.search(text, start, start + 100)
            start = m.end() if m else start
        piece = text[start : start + size]
        cut = piece.rfind(" ")
        pieces.append(piece[:cut] if cut > size // 2 else piece)
    return "\n".join(pieces)


@functools.lru_cache(maxsize=4)
def _factory(seed: int):
    from langdetect import detector_factory

    factory = detector_factory.DetectorFactory()
    factory.load_profile(detector_factory.PROFILES_DIRECTORY)
    factory.seed = seed  # instance attribute: the class-wide default stays untouched
    return factory


@functools.lru_cache(maxsize=1)
def _langid():
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier
    except ImportError as exc:
        raise ImportError(
            "clean.language_backend=langid needs the PyPI package py3langid "
            "(its model ships inside the package): pip install py3langid"
        ) from exc
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_langid(text: str) -> list[tuple[str, float]]:
    """py3langid (naive Bayes over byte n-grams; no randomness): [(language, probability)]."""
    if not _LETTER.search(text):  # no features: py3langid would answer a uniform guess
        return []
    lang, prob = _langid().classify(text)
    return [] if lang == "zxx" else [(str(lang), float(prob))]


def detect(text: str, seed: int = 0) -> list[tuple[str, float]]:
    """[(language, probability), ...] best first; [] when the text has no letters to judge."""
    from langdetect.lang_detect_exception import LangDetectException

    detector = _factory(seed).create()
    detector.append(text)
    try:
        return [(p.lang, p.prob) for p in detector.get_probabilities()]
    except LangDetectException:
        return []


class Language(Filter):
    """Keeps pages whose most likely language is in `languages` with probability >= min_prob
    (an empty `languages` keeps every page and only records its language).

    Annotates every page it sees with `lang` and `lang_prob`: the best guess and its
    probability, `und` (ISO 639-2 "undetermined") and 0.0 when the text has nothing to
    judge. Kept pages carry both to cleaned/.
    """

    name = "language"

    def __init__(
        self,
        languages: Sequence[str],
        min_prob: float,
        sample_chars: int,
        seed: int = 0,
        backend: str = "langdetect",
    ):
        if backend not in BACKENDS:
            raise ValueError(f"language backend {backend!r}: expected one of {BACKENDS}")
        self.languages = tuple(languages)
        self.min_prob, self.sample_chars, self.seed = min_prob, sample_chars, seed
        self.backend = backend

    def setup(self) -> None:
        if self.backend == "langid":
            _langid()
        else:
            _factory(self.seed)

    def identify(self, text: str) -> tuple[str, float]:
        sample = sample_text(text, self.sample_chars)
        if self.backend == "langid":
            guesses = detect_langid(sample)
        else:
            guesses = detect(sample, self.seed)
        return guesses[0] if guesses else (UNKNOWN, 0.0)

    def check(self, page: Page) -> str | None:
        lang, prob = self.identify(page.get("text") or "")
        page["lang"], page["lang_prob"] = lang, float(prob)
        if not self.languages:  # no language wanted in particular: record only
            return None
        if lang not in self.languages:
            return f"{lang}:{prob:.3f} not in {','.join(self.languages)}"
        if prob < self.min_prob:
            return f"{lang}:{prob:.3f} < {self.min_prob}"
        return None
