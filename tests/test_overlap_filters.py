"""Clean-stage filters by n-gram overlap: Wikipedia content and test-set decontamination."""

from __future__ import annotations

import json
import pickle
import random

import pytest

from tests.test_overlap_helpers import render, sentence, vocabulary
from webtext.clean.overlap_filters import (
    DecontaminationFilter,
    WikipediaContentFilter,
    build_overlap_filters,
)
from webtext.config import CleanConfig, ConfigError, OverlapConfig


def _wikipedia_like(path, rng, vocab, n_articles=30):
    """Articles as a text dump: a title line, then paragraphs, one per line."""
    articles = []
    lines = []
    for i in range(n_articles):
        paras = [render(sentence(rng, vocab, rng.randint(60, 120)), rng) for _ in range(3)]
        articles.append(paras)
        lines += [f"Article {i}", *paras, ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return articles


def test_wikipedia_content_filter_drops_mirrors_only(tmp_path):
    rng = random.Random(3)
    wiki_vocab = vocabulary(1, 4000)
    web_vocab = vocabulary(2, 4000, suffix="x")
    articles = _wikipedia_like(tmp_path / "wiki.txt", rng, wiki_vocab)
    mirror = "Mirror of the free encyclopedia\n" + "\n".join(articles[4]) + "\nCopyright mirror"
    partial_mirror = "\n".join(articles[7][:2]) + "\n" + render(sentence(rng, web_vocab, 40), rng)
    quoting = (
        render(sentence(rng, web_vocab, 300), rng)
        + " as Wikipedia puts it: "
        + articles[9][0][:200]
        + " "
        + render(sentence(rng, web_vocab, 300), rng)
    )
    pages = {
        "mirror": mirror,
        "partial_mirror": partial_mirror,
        "quoting": quoting,
        "blog": render(sentence(rng, web_vocab, 400), rng),
        "same_words_other_order": " ".join(rng.sample(articles[1][0].split(), 50)),
        "empty": "",
    }
    cfg = CleanConfig(wikipedia_text=str(tmp_path / "wiki.txt"))
    overlap = OverlapConfig(cache_dir=str(tmp_path / "cache"))
    (flt,) = build_overlap_filters(cfg, overlap)
    assert flt.name == "wikipedia"
    flt = pickle.loads(pickle.dumps(flt))  # what a Ray worker receives
    flt.setup()
    dropped = {name for name, text in pages.items() if flt.check({"text": text})}
    assert dropped == {"mirror", "partial_mirror"}
    assert "wiki.txt" in flt.check({"text": mirror})
    # the Bloom filter is cached: a second filter (another worker) reuses the folder
    cached = list((tmp_path / "cache").glob("bloom-*"))
    assert len(cached) == 1 and (cached[0] / "bloom.json").is_file()
    built_at = (cached[0] / "bloom.json").stat().st_mtime_ns
    other = WikipediaContentFilter(str(tmp_path / "wiki.txt"), 0.5, overlap)
    other.setup()
    assert (cached[0] / "bloom.json").stat().st_mtime_ns == built_at
    assert list((tmp_path / "cache").glob("bloom-*")) == cached
    assert other.check({"text": mirror}) is not None


def test_decontamination_drops_exactly_the_planted_documents(tmp_path):
    rng = random.Random(5)
    test_vocab = vocabulary(10, 3000)
    web_vocab = vocabulary(11, 3000, suffix="w")
    tests = [render(sentence(rng, test_vocab, rng.randint(40, 80)), rng) for _ in range(20)]
    (tmp_path / "lambada.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in tests))
    (tmp_path / "cbt.txt").write_text("\n".join(tests[10:]) + "\n")

    def web(n):
        return render(sentence(rng, web_vocab, n), rng)

    planted = {
        "copy": tests[2],
        "quoted_in_long_page": web(800) + " " + tests[5] + " " + web(800),
        "mostly_test_text": tests[12] + " " + web(20),
    }
    clean_pages = {
        "blog": web(500),
        "short_quote": web(300) + " " + " ".join(tests[6].split()[:12]) + " " + web(300),
        "test_words_shuffled": " ".join(rng.sample(tests[7].split(), 30)),
        "empty": "",
    }
    cfg = CleanConfig(
        decontaminate=[str(tmp_path / "lambada.jsonl"), str(tmp_path / "cbt.txt")],
        decontaminate_overlap=0.5,
    )
    (flt,) = build_overlap_filters(cfg, OverlapConfig())
    assert flt.name == "decontaminated"
    flt = pickle.loads(pickle.dumps(flt))
    flt.setup()
    pages = {**planted, **clean_pages}
    dropped = {name for name, text in pages.items() if flt.check({"text": text})}
    assert dropped == set(planted)
    assert "contains 100% of test document" in flt.check({"text": planted["quoted_in_long_page"]})


def test_build_overlap_filters_config(tmp_path):
    assert build_overlap_filters(CleanConfig(), OverlapConfig()) == []
    with pytest.raises(ConfigError, match="wikipedia_text"):
        build_overlap_filters(
            CleanConfig(wikipedia_text=str(tmp_path / "nope.txt")), OverlapConfig()
        )
    with pytest.raises(ConfigError, match="decontaminate"):
        build_overlap_filters(CleanConfig(decontaminate=[str(tmp_path / "x")]), OverlapConfig())
    (tmp_path / "w.txt").write_text("some words\n")
    both = build_overlap_filters(
        CleanConfig(
            wikipedia_text=str(tmp_path / "w.txt"), decontaminate=[str(tmp_path / "w.txt")]
        ),
        OverlapConfig(),
    )
    assert [f.name for f in both] == ["wikipedia", "decontaminated"]
    assert isinstance(both[1], DecontaminationFilter)


@pytest.mark.shared
def test_clean_chain_records_decontaminated_for_planted_articles(shared_dir, tmp_path):
    """Real articles through the whole clean chain: only pages that contain a test passage
    get `clean:decontaminated`; every page the chain kept before is still kept."""
    from webtext.clean.chain import build_chain

    truth = json.loads((shared_dir / "data/aeb-dev/ground-truth.json").read_text("utf-8"))
    pages = [
        {"url": v["url"], "canonical_url": v["url"], "text": v["articleBody"], "title": ""}
        for v in truth.values()
        if v.get("articleBody")
    ]
    before = build_chain(CleanConfig())
    kept = [p for p in pages if before.check(p).kept]
    assert len(kept) >= 10
    planted = {kept[i]["url"] for i in (0, 3, 7)}
    passages = []
    for page in kept:
        if page["url"] in planted:
            words = page["text"].split()
            middle = len(words) // 2
            passages.append(" ".join(words[middle : middle + 60]))  # a passage from the middle
    passages.append("an unrelated test passage that no article contains at all, not one")
    (tmp_path / "test.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in passages))
    after = build_chain(CleanConfig(decontaminate=[str(tmp_path / "test.jsonl")]))
    decisions = {p["url"]: after.check(p) for p in kept}
    assert {u for u, d in decisions.items() if not d.kept} == planted
    assert {d.reason for u, d in decisions.items() if u in planted} == {"clean:decontaminated"}
    assert after.dropped["clean:decontaminated"] == 3
