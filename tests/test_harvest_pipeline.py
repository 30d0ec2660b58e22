"""`pipelines.harvest.run` end to end on Ray: generated dumps, the real dumps, reruns."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines import harvest
from tests.test_harvest import T0, sub, write_dump
from webtext.config import ConfigError, build_config
from webtext.io import StageMarker, shard_name
from webtext.paths import RunPaths
from webtext.reddit.canonical import domain_partition
from webtext.reddit.dumps import MalformedInputError
from webtext.reddit.spill import iter_link_rows
from webtext.schemas import LINKS_SCHEMA

pytestmark = pytest.mark.ray


def config(tmp_path: Path, sources: list[str], **harvest: object):
    data = {
        "run_dir": str(tmp_path / "run"),
        "ray": {"num_cpus": 2},
        "source": {"pushshift": sources},
        "harvest": {"num_partitions": 4, "spill_partitions": 8, **harvest},
    }
    return build_config(data)


def links_by_key(cfg) -> dict[str, dict]:
    return {r["canonical_url"]: r for r in iter_link_rows(RunPaths.of(cfg.run_dir).links)}


def every_case_dumps(tmp_path: Path) -> list[str]:
    """Two dumps (zst, gz) with every filter case, reposts across files and bad lines."""
    a = [
        sub("k1", "https://www.news.co.uk/story?utm_source=reddit#top", score=5, subreddit="uk"),
        sub("k2", "https://news.co.uk/story", score=9, created=T0 + 100, subreddit="worldnews"),
        sub("k3", "http://127.0.0.2:8080/page", score=3),
        sub("k4", "http://news-site.test:9000/a", score=4, created=str(T0)),
        sub("s1", "https://www.reddit.com/r/x/comments/s1/", is_self=True),
        sub("n1", "https://ex.com/nsfw", over_18=True),
        sub("d1", "https://ex.com/old", created=T0 - 10**8),
        sub("l1", "https://ex.com/low", score=1),
        b"{broken json",
        sub("w1", "https://en.m.wikipedia.org/wiki/X"),
    ]
    b = [
        sub("k1", "https://www.news.co.uk/story?utm_source=reddit#top", score=6, subreddit="uk"),
        sub("k5", "https://blog.example.org/post/1", score=3.0, created=float(T0) + 0.5),
        sub("u1", "ftp://ex.com/file"),
        sub("u2", "http://bad host/"),
        sub("e1", "https://ex.com/img.png"),
        b'{"id": "m1", "url": "https://ex.com/m"}',
        b"[]",
    ]
    return [
        str(write_dump(tmp_path / "RS_2017-07.zst", a, long_window=True)),
        str(write_dump(tmp_path / "RS_2017-08.gz", b)),
    ]


def test_generated_dumps_every_case(tmp_path, ray_local):
    cfg = config(tmp_path, every_case_dumps(tmp_path), after="2017-01-01")
    stats = harvest.run(cfg)
    links = links_by_key(cfg)
    assert sorted(links) == [
        "http://127.0.0.2:8080/page",
        "http://news-site.test:9000/a",
        "https://blog.example.org/post/1",
        "https://news.co.uk/story",
    ]
    story = links["https://news.co.uk/story"]
    assert story["url"] == "https://www.news.co.uk/story?utm_source=reddit"
    assert story["domain"] == "news.co.uk"
    assert story["score"] == 9  # per_submission: the best submission
    assert story["num_submissions"] == 2  # k1 twice (two dumps) counted once
    assert story["submission_ids"] == ["k1", "k2"]
    assert story["subreddits"] == ["uk", "worldnews"]
    assert story["first_created_utc"] == T0
    assert links["http://127.0.0.2:8080/page"]["domain"] == "127.0.0.2"
    assert links["http://news-site.test:9000/a"]["domain"] == "news-site.test"
    assert links["https://blog.example.org/post/1"]["first_created_utc"] == T0

    assert stats["records_read"] == 17
    assert stats["malformed"] == 3
    assert stats["malformed_reasons"] == {"missing_field": 1, "not_json": 1, "not_object": 1}
    assert any("RS_2017-07.zst:9: not JSON" in s for s in stats["malformed_sample"])
    assert any(
        "RS_2017-08.gz:6: missing field 'created_utc'" in s for s in stats["malformed_sample"]
    )
    assert stats["dropped"] == {
        "date_window": 1,
        "domain_blocklist": 1,
        "duplicate_submission": 1,
        "extension_blocklist": 1,
        "low_score": 1,
        "malformed_url": 1,
        "not_http": 1,
        "nsfw": 1,
        "self_post": 1,
    }
    assert stats["submissions_kept"] == 6  # k1 twice
    assert stats["urls_kept"] == 4 == sum(stats["urls_per_partition"])
    assert json.loads(RunPaths.of(cfg.run_dir).links_stats.read_text())["urls_kept"] == 4

    # every partition file exists, with the schema; a domain lives in exactly one file
    links_dir = RunPaths.of(cfg.run_dir).links
    for i in range(4):
        table = pq.read_table(links_dir / shard_name(i))
        assert table.schema.equals(LINKS_SCHEMA)
        for row in table.to_pylist():
            assert domain_partition(row["domain"], 4) == i
        keys = table["canonical_url"].to_pylist()
        assert keys == sorted(keys)


@pytest.mark.parametrize(
    "karma, expected",
    [
        ("per_submission", {"https://b.com/2": (5, 1)}),
        ("max", {"https://b.com/2": (5, 2)}),
        ("sum", {"https://a.com/1": (4, 2), "https://b.com/2": (6, 2)}),
    ],
)
def test_karma_semantics_end_to_end(tmp_path, ray_local, karma, expected):
    dump = write_dump(
        tmp_path / "RS.jsonl",
        [
            sub("a1", "https://a.com/1", score=2),
            sub("a2", "https://www.a.com/1", score=2),
            sub("b1", "https://b.com/2", score=5),
            sub("b2", "https://b.com/2#c", score=1),
        ],
    )
    cfg = config(tmp_path, [str(dump)], karma=karma, min_score=3)
    stats = harvest.run(cfg)
    got = {k: (r["score"], r["num_submissions"]) for k, r in links_by_key(cfg).items()}
    assert got == expected
    if karma == "per_submission":
        assert stats["dropped"] == {"low_score": 3}
    else:
        assert stats["dropped"].get("low_karma", 0) == 2 - len(expected)  # of 2 URLs
        assert set(stats["dropped"]) <= {"low_karma"}


def test_rerun_does_no_work_and_resumes(tmp_path, ray_local, caplog):
    cfg = config(tmp_path, every_case_dumps(tmp_path))
    first = harvest.run(cfg)
    links_dir = RunPaths.of(cfg.run_dir).links
    before = {p.name: p.read_bytes() for p in links_dir.glob("part-*.parquet")}
    mtimes = {p.name: p.stat().st_mtime_ns for p in links_dir.glob("part-*.parquet")}
    assert len(before) == 4

    caplog.set_level("INFO", logger="webtext")
    assert harvest.run(cfg) == first  # the marker: nothing is read again
    assert "already done" in caplog.text
    assert {p.name: p.stat().st_mtime_ns for p in links_dir.glob("part-*.parquet")} == mtimes

    # the marker lost: the spills went when the stage finished, so the dumps are read
    # again, but every links file is reused (the same spills: the same task fingerprints)
    StageMarker(cfg.run_dir, "harvest").clear()
    again = harvest.run(cfg)
    assert again["work_skipped"] == {"sources": 0, "partitions": 4}
    assert again["urls_kept"] == first["urls_kept"]
    assert {p.name: p.stat().st_mtime_ns for p in links_dir.glob("part-*.parquet")} == mtimes

    # redone from scratch, the bytes are the same (deterministic output)
    for path in links_dir.glob("part-*.parquet"):
        path.unlink()
    StageMarker(cfg.run_dir, "harvest").clear()
    harvest.run(cfg)
    assert {p.name: p.read_bytes() for p in links_dir.glob("part-*.parquet")} == before

    # another config is another fingerprint: the work is redone, not reused
    other = config(tmp_path, cfg.source.pushshift, min_score=6)
    assert harvest.run(other)["urls_kept"] == 2  # news.co.uk/story, ex.com/old


def test_strict_mode_fails_with_file_and_line(tmp_path, ray_local):
    cfg = config(tmp_path, every_case_dumps(tmp_path)[:1])
    cfg.source.strict = True
    with pytest.raises(MalformedInputError, match=r"RS_2017-07\.zst:9: not JSON"):
        harvest.run(cfg)
    assert not StageMarker(cfg.run_dir, "harvest").read()


def test_truncated_dump_is_reported(tmp_path, ray_local):
    rows = [
        sub(str(i), f"https://s{i}.com/{i * 7919}", title=f"{i * 104729:x}" * 20)
        for i in range(5000)
    ]
    whole = write_dump(tmp_path / "whole.xz", rows)
    cut = tmp_path / "RS_cut.xz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    stats = harvest.run(config(tmp_path, [str(cut)]))
    assert stats["truncated_files"] == [str(cut)]
    assert stats["malformed_reasons"] == {"truncated": 1}
    assert 0 < stats["records_read"] < 5000
    assert stats["urls_kept"] == stats["records_read"]


def test_bad_sources_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="needs a source"):
        harvest.run(config(tmp_path, []))
    with pytest.raises(ConfigError, match="no dump file matches"):
        harvest.run(config(tmp_path, [str(tmp_path / "missing-*.zst")]))


@pytest.mark.shared
def test_real_dumps_xz_and_long_window_zst_agree(tmp_path, ray_local, shared_dir):
    folder = shared_dir / "data" / "reddit"
    results = {}
    for name in ("RS_v2_2005-07.xz", "RS_v2_2005-07.long31.zst"):
        cfg = config(tmp_path / name, [str(folder / name)])
        stats = harvest.run(cfg)
        results[name] = (stats, links_by_key(cfg))
    (sx, lx), (sz, lz) = results.values()
    assert lx == lz
    assert sx["records_read"] == sz["records_read"] == 1079
    assert sx["malformed"] == 0
    # 757 of 1,079 July 2005 submissions have score >= 3 (GPT-2's rule); a few are blocked
    assert sx["dropped"]["low_score"] == 1079 - 757
    assert 700 <= sx["urls_kept"] <= 757
    assert sx["dropped"] == sz["dropped"]
    assert all(not k.startswith("https://en.wikipedia.org") for k in lx)
    top = max(lx.values(), key=lambda r: r["score"])
    assert top["subreddits"] == ["reddit.com"] and top["first_created_utc"] >= 1120176000
