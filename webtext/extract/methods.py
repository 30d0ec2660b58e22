"""The extraction methods themselves: plain functions `(html, url) -> (text, title)`.

They run in whatever process calls them; `webtext.extract.worker` runs them in a killable
child process. Heavy libraries are imported lazily, so importing this module is cheap.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Method = Callable[[str, str], tuple[str, "str | None"]]

#: voters the ensemble may consult besides its trafilatura recall-mode base text
VOTERS = ("trafilatura_precision", "readability", "newspaper")


def _clean_title(value: str | None) -> str | None:
    value = " ".join((value or "").split())
    return value[:1000] or None


def page_title(tree) -> str | None:
    """og:title / twitter:title, else <title>, else the first <h1> of a parsed page."""
    for xpath in (
        './/meta[@property="og:title"]/@content',
        './/meta[@name="twitter:title"]/@content',
    ):
        for value in tree.xpath(xpath):
            if title := _clean_title(str(value)):
                return title
    for xpath in (".//head//title", ".//title", ".//h1"):
        element = tree.find(xpath)
        if element is not None and (title := _clean_title(element.text_content())):
            return title
    return None


def load_tree(html: str):
    """The lxml tree trafilatura would build (its encoding and repair rules), or None."""
    from trafilatura.utils import load_html

    return load_html(html)


def _trafilatura_text(tree, url: str, **options) -> str:
    import trafilatura

    # trafilatura copies a tree it is given, so one parse serves several calls
    return trafilatura.extract(tree, url=url or None, include_comments=False, **options) or ""


def extract_trafilatura(html: str, url: str) -> tuple[str, str | None]:
    """trafilatura's balanced defaults for main text: comments dropped, tables kept."""
    tree = load_tree(html)
    if tree is None:
        return "", None
    return _trafilatura_text(tree, url), page_title(tree)


def newspaper_text(html: str, url: str) -> tuple[str, str | None]:
    """newspaper3k the way GPT-2's scraper used it: Article(url), set_html, parse.

    Offline by construction: `fetch_images=False` (parse() would otherwise download
    images to size them), no memoisation, no meta-refresh follow, and `nlp()` (the only
    nltk user) is never called.
    """
    from newspaper import Article, Config

    config = Config()
    config.fetch_images = False
    config.memoize_articles = False
    config.follow_meta_refresh = False
    article = Article(url or "http://example.com/", config=config)
    article.set_html(html)
    article.parse()
    return article.text or "", article.title or None


def extract_newspaper(html: str, url: str) -> tuple[str, str | None]:
    text, title = newspaper_text(html, url)
    return text, _clean_title(title)


@functools.lru_cache(maxsize=1)
def _readability_document():
    """readability-lxml's Document with a cheaper parse, same article choice: its cleaner
    also rewrites every link to strip `javascript:` URLs (a third of its time, irrelevant
    to text), and `summary()` re-parses the page for its second, gentler pass; here the
    cleaned tree is parsed once and copied for the second pass."""
    import logging
    from copy import deepcopy

    from lxml_html_clean import Cleaner
    from readability import Document
    from readability.htmls import build_doc
    from readability.readability import REGEXES

    cleaner = Cleaner(
        scripts=True,
        javascript=False,
        comments=True,
        style=True,
        links=True,
        meta=False,
        add_nofollow=False,
        page_structure=False,
        processing_instructions=True,
        embedded=False,
        frames=False,
        forms=False,
        annoying_tags=False,
        remove_tags=None,
        remove_unknown_tags=False,
        safe_attrs_only=False,
    )

    class TextDocument(Document):
        _clean_tree = None

        def _parse(self, input):
            if self._clean_tree is None:
                doc, self.encoding = build_doc(input)
                for elem in doc.xpath("//*[@hidden]"):
                    elem.drop_tree()
                for elem in doc.xpath("//*[@style]"):
                    if REGEXES["displayNoneRe"].search(elem.get("style")):
                        elem.drop_tree()
                self._clean_tree = cleaner.clean_html(doc)
            return deepcopy(self._clean_tree)

    # it logs a traceback for every page it cannot parse, then raises: the caller handles it
    logging.getLogger("readability.readability").setLevel(logging.CRITICAL)
    return TextDocument


def readability_lxml_text(html: str) -> str:
    """readability-lxml (Arc90's Readability in Python, the version Mozilla's tests pin):
    the best-scoring article node, turned into text with one line per block element."""
    summary = _readability_document()(html).summary(html_partial=True)
    return plain_text(summary, main_content=False)


def plain_text(html_or_tree, *, main_content: bool) -> str:
    """Resiliparse's html2text: visible text, one line per block element; with
    `main_content` its heuristics drop navigation, footers, sidebars and the like."""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html_or_tree, main_content=main_content, alt_texts=False)


def resiliparse_tree(html: str):
    from resiliparse.parse.html import HTMLTree

    return HTMLTree.parse(html)


def extract_readability(html: str, url: str) -> tuple[str, str | None]:
    tree = load_tree(html)
    return readability_lxml_text(html), page_title(tree) if tree is not None else None


def extract_resiliparse(html: str, url: str) -> tuple[str, str | None]:
    """Resiliparse main-content extraction (a C++ core: a few ms per page)."""
    tree = resiliparse_tree(html)
    title = _clean_title(tree.title) if tree.title else None
    return plain_text(tree, main_content=True), title


def readability_text(tree) -> str:
    """trafilatura's bundled readability port; mutates `tree`."""
    from trafilatura.external import try_readability

    body = try_readability(tree)
    blocks = []
    for element in body.iter("p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "td"):
        if element.getparent() is not None and any(
            a.tag in ("p", "li", "pre", "td") for a in element.iterancestors()
        ):
            continue  # nested block: its text is already in the enclosing one
        text = " ".join(element.text_content().split())
        if text:
            blocks.append(text)
    if not blocks:
        blocks = [" ".join(body.text_content().split())]
    return "\n".join(b for b in blocks if b)


def extract_ensemble(
    html: str, url: str, voters: Sequence[str] = ("readability", "trafilatura_precision")
) -> tuple[str, str | None]:
    """trafilatura's recall-mode text, each paragraph kept only when another extractor agrees.

    Voters run lazily in the given order (see `webtext.extract.ensemble.vote`).
    """
    from copy import deepcopy

    from webtext.extract.ensemble import vote

    tree = load_tree(html)
    if tree is None:
        return "", None
    title = page_title(tree)
    base = _trafilatura_text(tree, url, favor_recall=True, fast=True)

    def run(voter: str) -> Callable[[], str]:
        if voter == "trafilatura_precision":
            return lambda: _trafilatura_text(tree, url, favor_precision=True, fast=True)
        if voter == "readability":
            return lambda: readability_text(deepcopy(tree))  # readability mutates its input
        if voter == "newspaper":
            return lambda: newspaper_text(html, url)[0]
        raise ValueError(f"unknown ensemble voter {voter!r}; choose from {VOTERS}")

    return vote(base, [run(v) for v in voters]), title


#: the `combined` method's parameters, fitted by tools/fit_extract.py (leave-one-set-out)
COMBINED_PARAMS = Path(__file__).with_name("combined.json")


@functools.lru_cache(maxsize=4)
def combined_params(path: str | None = None) -> dict[str, Any]:
    return json.loads(Path(path or COMBINED_PARAMS).read_text(encoding="utf-8"))


def extract_combined(html: str, url: str, params: str | None = None) -> tuple[str, str | None]:
    """readability-lxml's article text, each line kept if Resiliparse's main content (or,
    for what that leaves open, trafilatura in recall mode) also returned it; when
    Resiliparse has much text outside the result, trafilatura's lines that Resiliparse and
    trafilatura's precision mode both confirm are added (`ensemble.readability_vote`).

    readability-lxml picks the article node best across the benchmark kinds at hand but
    keeps boilerplate inside that node and misses article parts outside it; extractors
    built on other rules rarely return the same boilerplate, and what three of them agree
    on outside readability's node is mostly article text. trafilatura runs only when
    needed (on a minority of pages), which keeps the cost near bare trafilatura's.
    `params`: another parameter file than the shipped `combined.json`.
    """
    from webtext.extract.ensemble import readability_vote

    settings = combined_params(params)
    tree = load_tree(html)
    title = page_title(tree) if tree is not None else None
    try:
        base = readability_lxml_text(html)
    except Exception:  # readability gives up on some markup: trafilatura's text stands
        base = ""
    main = plain_text(resiliparse_tree(html), main_content=True)

    @functools.cache
    def recall() -> str:
        return "" if tree is None else _trafilatura_text(tree, url, favor_recall=True, fast=True)

    def precision() -> str:
        return "" if tree is None else _trafilatura_text(tree, url, favor_precision=True, fast=True)

    text = readability_vote(
        base,
        main,
        recall,
        precision,
        support=settings["support"],
        settled=settings["settled"],
        gate=settings["gate"],
        hedge=settings.get("hedge", False),
        fill=settings.get("fill", False),
        tables=settings.get("tables", True),
        probe=settings.get("probe", 0.0),
    )
    return text, title


METHODS: dict[str, Method] = {
    "combined": extract_combined,
    "trafilatura": extract_trafilatura,
    "newspaper": extract_newspaper,
    "ensemble": extract_ensemble,
    "readability": extract_readability,
    "resiliparse": extract_resiliparse,
}


def resolve(spec: str, **options: Any) -> Method:
    """A built-in method name, or `package.module:function` for a custom extractor.

    `options` are bound as keyword arguments (e.g. `voters=` for the ensemble).
    """
    if spec in METHODS:
        method = METHODS[spec]
        return functools.partial(method, **options) if options else method
    module, sep, func = spec.partition(":")
    if not sep or not module or not func:
        raise ValueError(
            f"unknown extractor {spec!r}; choose one of {sorted(METHODS)} or module:function"
        )
    method = getattr(importlib.import_module(module), func)
    return functools.partial(method, **options) if options else method
