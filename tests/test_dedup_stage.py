"""`webtext dedup` end to end: survivors, provenance, reasons, rerun, local vs Ray bytes."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from dedup.minhash import text_signatures
from pipelines import dedup as dedup_stage
from tests.synthetic_dedup import article, edit, page, random_corpus, write_cleaned
from webtext.config import ConfigError, build_config
from webtext.io import StageMarker
from webtext.schemas import DOCUMENTS_SCHEMA, document_id


def hand_built(rng: random.Random) -> list[list[dict]]:
    """Two shards: a near-duplicate cluster across hosts and shards, an exact-duplicate
    cluster differing only in case and whitespace, and unrelated documents."""
    story, other = article(rng, 400), article(rng, 400)
    shouty = "  ".join(w.upper() if i % 3 == 0 else w for i, w in enumerate(other.split(" ")))
    return [
        [
            page("https://news.test/story", story, score=10, subreddits=["news"],
                 submission_ids=["s1"], first_created_utc=100),
            page("https://blog.test/copy", edit(rng, story, 4), score=50,
                 subreddits=["worldnews"], submission_ids=["s2"], first_created_utc=300),
            page("https://plain.test/a", other, score=5, subreddits=["b"],
                 submission_ids=["s4"], first_created_utc=50),
            page("https://alone.test/1", article(rng, 300), score=1),
        ],
        [
            page("https://mirror.test/story", edit(rng, story, 3), score=50,
                 subreddits=["news", "politics"], submission_ids=["s3", "s1"],
                 first_created_utc=200),
            page("https://shout.test/a", shouty + "\n\n", score=5, subreddits=["a"],
                 submission_ids=["s5"], first_created_utc=50),
            page("https://alone.test/2", article(rng, 300), score=1),
            page("https://tiny.test/1", "Too short", score=1),
        ],
    ]  # fmt: skip


def config(run_dir: Path, **dedup):
    overrides = [f"dedup.{k}={v}" for k, v in dedup.items()]
    return build_config({"run_dir": str(run_dir)}, overrides)


def documents(run_dir: Path) -> list[dict]:
    rows = []
    for path in sorted((run_dir / "documents").glob("part-*.parquet")):
        table = pq.read_table(path)
        assert table.schema.equals(DOCUMENTS_SCHEMA)
        rows += table.to_pylist()
    return rows


def test_hand_built_duplicates_keep_best_copy_with_merged_provenance(tmp_path):
    write_cleaned(tmp_path, hand_built(random.Random(3)))
    stats = dedup_stage.run(config(tmp_path, execution="local", num_buckets=3))
    docs = {d["url"]: d for d in documents(tmp_path)}
    # near cluster: scores 10, 50, 50 -> 50s tie -> earliest submission (mirror, t=200)
    assert "https://news.test/story" not in docs and "https://blog.test/copy" not in docs
    story = docs["https://mirror.test/story"]
    assert story["cluster_size"] == 3
    assert story["urls"] == [
        "https://mirror.test/story", "https://news.test/story", "https://blog.test/copy"
    ]  # fmt: skip
    assert story["subreddits"] == ["news", "politics", "worldnews"]
    assert story["submission_ids"] == ["s1", "s2", "s3"]
    assert story["id"] == document_id(story["canonical_url"]) and story["score"] == 50
    # exact cluster: same score and time -> smallest document id survives
    pair = ["https://plain.test/a", "https://shout.test/a"]
    ids = {u: document_id(u) for u in pair}
    winner = min(pair, key=ids.get)
    loser = max(pair, key=ids.get)
    assert winner in docs and loser not in docs
    assert docs[winner]["cluster_size"] == 2 and set(docs[winner]["urls"]) == set(pair)
    assert docs[winner]["subreddits"] == ["a", "b"]
    # singletons pass through untouched, the tiny one included
    for url in ("https://alone.test/1", "https://alone.test/2", "https://tiny.test/1"):
        assert docs[url]["cluster_size"] == 1 and docs[url]["urls"] == [url]
    assert len(docs) == 5
    dropped = pq.read_table(tmp_path / "dedup" / "dropped.parquet").to_pylist()
    reasons = {d["url"]: (d["reason"], d["merged_into"]) for d in dropped}
    assert reasons == {
        "https://news.test/story": ("dedup:near_duplicate", story["id"]),
        "https://blog.test/copy": ("dedup:near_duplicate", story["id"]),
        loser: ("dedup:exact_duplicate", docs[winner]["id"]),
    }
    assert stats["docs_in"] == 8 and stats["docs_out"] == 5
    assert (stats["exact_duplicates"], stats["near_duplicates"], stats["clusters"]) == (1, 2, 2)
    assert stats["cluster_size_histogram"] == {"2": 1, "3": 1}
    # the kept signatures are datasketch-compatible MinHash values of the shard's texts
    (sig_file,) = (tmp_path / "dedup").glob("work-*/sig/sig-00001.npy")
    texts = pq.read_table(tmp_path / "cleaned" / "part-00001.parquet").column("text")
    params = dedup_stage.minhash_params(config(tmp_path).dedup)
    assert np.array_equal(np.load(sig_file), text_signatures(texts, params)[0])


def test_rerun_does_no_work_and_changed_config_redoes_it(tmp_path, caplog):
    write_cleaned(tmp_path, [random_corpus(60, seed=1), random_corpus(40, seed=2)])
    cfg = config(tmp_path, execution="local", num_buckets=2)
    first = dedup_stage.run(cfg)
    out = sorted((tmp_path / "documents").glob("part-*.parquet"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out}
    with caplog.at_level("INFO", logger="webtext"):
        again = dedup_stage.run(cfg)
    assert again == first
    assert "already done" in caplog.text
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out} == before
    # a different threshold is a different result: the marker no longer matches
    looser = dedup_stage.run(config(tmp_path, execution="local", num_buckets=2, threshold=0.5))
    assert looser["tasks_skipped"] == 0 and looser["tasks_run"] == first["tasks_run"]
    marker = StageMarker(tmp_path, "dedup").read()
    assert marker["stats"]["params"] != first["params"]  # the looser run's finish
    assert looser["docs_in"] == first["docs_in"]
    assert len(list((tmp_path / "dedup").glob("work-*"))) == 1  # stale work removed


def test_missing_cleaned_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="webtext clean"):
        dedup_stage.run(config(tmp_path, execution="local"))


@pytest.mark.ray
def test_local_and_ray_give_identical_bytes(tmp_path, ray_local):
    shards = [random_corpus(120, seed=s) for s in range(3)]
    shards[2] += hand_built(random.Random(5))[0]  # cross-shard near duplicates too
    results = {}
    for mode in ("local", "ray"):
        run_dir = tmp_path / mode
        write_cleaned(run_dir, shards)
        stats = dedup_stage.run(config(run_dir, execution=mode, num_buckets=4))
        assert stats["execution"] == mode
        files = sorted((run_dir / "documents").glob("*.parquet")) + [
            run_dir / "dedup" / "dropped.parquet"
        ]
        results[mode] = (
            {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in files},
            {k: v for k, v in stats.items() if k not in ("execution", "wall_seconds")},
        )
    assert results["local"] == results["ray"]
    stats = results["ray"][1]
    assert stats["exact_duplicates"] > 0 and stats["near_duplicates"] > 0
    assert (
        stats["docs_out"] == stats["docs_in"] - stats["exact_duplicates"] - stats["near_duplicates"]
    )


def test_num_buckets_changes_how_not_what(tmp_path):
    """`dedup.num_buckets` only partitions the band keys: 2 or 7 buckets give the same
    documents and dropped rows, so changing it (README: 256 at scale) redoes nothing."""
    from pipelines.engine import plan_pipeline

    out = {}
    for buckets in (2, 7):
        run_dir = tmp_path / f"b{buckets}"
        write_cleaned(run_dir, [random_corpus(60, seed=1), random_corpus(40, seed=2)])
        dedup_stage.run(config(run_dir, execution="local", num_buckets=buckets))
        files = [*sorted((run_dir / "documents").glob("*.parquet")), run_dir / "dedup/dropped.parquet"]
        out[buckets] = [p.read_bytes() for p in files]
    assert out[2] == out[7]
    (plan,) = plan_pipeline([dedup_stage.STAGE], config(tmp_path / "b2", execution="local", num_buckets=7))
    assert plan.state == "done", plan.why


def test_a_documents_file_lost_after_the_stage_is_made_again_with_its_duplicates_merged(tmp_path):
    """The band files are removed once dedup is done; a documents file deleted by hand makes
    the stage run again, and the pairs must be found again (not 'no pair': every duplicate
    kept); and a rerun with another `num_buckets` reads no band file of the old layout."""
    shards = [random_corpus(60, seed=1, dup_fraction=0.3), random_corpus(40, seed=2, dup_fraction=0.3)]
    write_cleaned(tmp_path, shards)
    cfg = config(tmp_path, execution="local", num_buckets=3)
    first = dedup_stage.run(cfg)
    assert first["near_duplicates"] + first["exact_duplicates"] > 0
    files = sorted((tmp_path / "documents").glob("part-*.parquet"))
    reference = {p.name: p.read_bytes() for p in files}
    dropped = (tmp_path / "dedup" / "dropped.parquet").read_bytes()
    files[1].unlink()
    again = dedup_stage.run(cfg)
    assert {p.name: p.read_bytes() for p in files} == reference
    assert (tmp_path / "dedup" / "dropped.parquet").read_bytes() == dropped
    assert again["docs_out"] == first["docs_out"]
    files[0].unlink()
    dedup_stage.run(config(tmp_path, execution="local", num_buckets=5))
    assert {p.name: p.read_bytes() for p in files} == reference
