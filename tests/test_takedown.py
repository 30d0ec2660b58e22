"""Takedown lists (`optout.lists`): parsing, matching, and harvest keeping URLs from the crawl."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from tests.test_harvest import sub, write_dump
from webtext.config import ConfigError, build_config
from webtext.paths import RunPaths
from webtext.reddit.canonical import canonicalize
from webtext.reddit.spill import iter_link_rows
from webtext.takedown import Takedown, TakedownError, load_lists


def test_entries_are_canonicalised_like_harvest_urls(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text(
        "# publisher requests\n"
        "WWW.Example.com\n"
        "https://news.test/news/*   # a prefix\n"
        "http://www.shop.test/item?utm_source=x&id=2#frag\n"
        "\n"
    )
    t = load_lists([path])
    for url, out in [
        ("https://sub.example.com/x", True),  # subdomain of a listed domain
        ("http://example.com/", True),
        ("https://notexample.com/", False),
        ("http://news.test/news/a?b=1", True),  # prefix, either scheme
        ("https://news.test/newsletter", False),
        ("https://shop.test/item?id=2", True),  # tracking parameter and www. dropped
        ("https://shop.test/item?id=3", False),
    ]:
        assert t.match(canonicalize(url)) is out, url
    assert t.match_url("https://www.example.com/a#x") and not t.match_url("not a url")


def test_bad_lines_name_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("ok.test\nhttp://\nfine.test\n")
    with pytest.raises(TakedownError, match=rf"{path}:2: "):
        load_lists([path])
    with pytest.raises(TakedownError, match="neither a domain nor a URL"):
        Takedown().add("some/path")
    with pytest.raises(TakedownError, match="missing.txt"):
        load_lists([tmp_path / "missing.txt"])


@pytest.mark.ray
def test_harvest_keeps_listed_urls_from_the_crawl_and_ledger_says_why(tmp_path, ray_local):
    from pipelines import harvest
    from webtext.report.ledger import build_ledger

    dump = write_dump(
        tmp_path / "RS_2019-01.gz",
        [
            sub("a1", "https://www.nytimes.test/2019/story.html", score=10),
            sub("a2", "https://blog.nytimes.test/post", score=10),
            sub("a3", "https://news.test/news/1?utm_source=r", score=10),
            sub("a4", "https://news.test/blog/1", score=10),
            sub("a5", "https://other.test/page", score=10),
        ],
    )
    listed = tmp_path / "takedown.txt"
    listed.write_text("nytimes.test\nhttps://news.test/news/*\n")
    data = {
        "run_dir": str(tmp_path / "run"),
        "source": {"pushshift": [str(dump)]},
        "harvest": {"num_partitions": 2, "spill_partitions": 4},
        "optout": {"lists": [str(listed)]},
    }
    cfg = build_config(data)
    stats = harvest.run(cfg)
    paths = RunPaths.of(cfg.run_dir)
    kept = sorted(r["canonical_url"] for r in iter_link_rows(paths.links))
    assert kept == ["https://news.test/blog/1", "https://other.test/page"]
    assert stats["dropped"]["optout:list"] == 3 and stats["urls_kept"] == 2
    out = []
    for f in sorted(paths.optout.glob("part-*.parquet")):
        out += pq.read_table(f)["canonical_url"].to_pylist()
    assert len(out) == 3
    from tests.parquet_readers import rows_in_every_reader

    assert rows_in_every_reader(paths.optout, tmp_path / "hf") == 3  # its own data folder
    assert rows_in_every_reader(paths.links, tmp_path / "hf") == 2  # no stats.json beside
    fates = build_ledger(cfg.run_dir)
    assert fates["optout:list"] == 3 and fates["pending"] == 2  # never crawled
    # a changed list reruns harvest; a missing list is a clear config error
    listed.write_text("other.test\n")
    assert harvest.run(cfg)["urls_kept"] == 4
    out = []
    for f in sorted(paths.optout.glob("part-*.parquet")):
        out += pq.read_table(f)["canonical_url"].to_pylist()
    assert out == ["https://other.test/page"]  # stale optout files of the old list are gone
    data["optout"]["lists"] = []
    assert harvest.run(build_config(data))["urls_kept"] == 5
    assert not paths.optout.exists()  # no empty folder left: it would not load as a dataset
    data["optout"]["lists"] = [str(tmp_path / "nope.txt")]
    with pytest.raises(ConfigError, match="nope.txt"):
        harvest.run(build_config(data))


def test_idn_domains_and_bom_lists_match_harvest_urls(tmp_path):
    """Harvest's canonical URLs carry punycode hosts: a domain written in Unicode (or as
    punycode) is the same entry; a list saved with a UTF-8 BOM keeps its first line."""
    path = tmp_path / "list.txt"
    path.write_text("\ufeffexample.net\nBÜCHER.de\nxn--mnchen-3ya.test\n", encoding="utf-8")
    t = load_lists([path])
    for url, out in [
        ("https://example.net/a", True),
        ("http://bücher.de/x", True),
        ("http://shop.bücher.de/x", True),
        ("http://xn--bcher-kva.de/y", True),
        ("http://münchen.test/", True),
        ("http://bucher.de/x", False),
    ]:
        assert t.match_url(url) is out, url
