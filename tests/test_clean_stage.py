"""The clean stage on pages/ files: outputs, reasons, determinism, resumability, bad input."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pipelines.clean as clean_stage
from tests.test_clean_filters import ARTICLE, GERMAN, WALLS
from webtext.clean.stage import (
    CLEANED_SCHEMA,
    DROPPED_SCHEMA,
    CleanInputError,
    clean_shard,
    clean_table,
    get_chain,
)
from webtext.config import CleanConfig, ConfigError, OverlapConfig, build_config
from webtext.io import StageMarker, file_digest, write_parquet_atomic
from webtext.schemas import PAGES_SCHEMA


def row(n: int, text: str | None, status: str = "ok", **extra) -> dict:
    url = f"https://site{n % 3}.example.com/story/{n}"
    return {
        "url": url,
        "canonical_url": url,
        "final_url": url,
        "fetch_status": status,
        "http_status": 200 if status == "ok" else 503,
        "title": f"Story {n}",
        "text": text,
        "domain": f"site{n % 3}.example.com",
        "score": n,
        "num_submissions": 1,
        "submission_ids": [f"s{n}"],
        "subreddits": ["news"],
        "first_created_utc": 1_500_000_000 + n,
        **extra,
    }


def article(n: int) -> str:
    return f"Report number {n}.\n\n" + ARTICLE  # distinct, English, > 128 tokens


def shard_rows(base: int) -> list[dict]:
    return [
        row(base + 9, article(base + 9)),
        row(base + 1, article(base + 1)),
        row(base + 2, GERMAN * 2),
        row(base + 3, "Too short to be an article."),
        row(base + 4, " ".join(WALLS[k] for k in ("consent", "login", "javascript")) * 2),
        row(base + 5, None, status="timeout", error="read timed out"),
        row(base + 6, None, status="http_error"),
        row(base + 7, article(base + 7), final_url="https://en.wikipedia.org/wiki/Library"),
        row(base + 8, None),  # ok but no text: dropped as too short, not lost
    ]


def write_pages(run_dir, index: int, rows: list[dict]) -> None:
    table = pa.Table.from_pylist(rows, schema=PAGES_SCHEMA)
    write_parquet_atomic(run_dir / "pages" / f"part-{index:05d}.parquet", table)


EXPECTED_DROPS = {
    2: "clean:language",
    3: "clean:too_short",
    4: "clean:botwall",
    7: "clean:wikipedia_mirror",
    8: "clean:too_short",
}


def test_clean_table_without_ray():
    table = pa.Table.from_pylist(shard_rows(0), schema=PAGES_SCHEMA)
    kept, dropped = clean_table(table, get_chain(CleanConfig(), OverlapConfig()))
    assert kept.schema == CLEANED_SCHEMA and dropped.schema == DROPPED_SCHEMA
    assert kept["url"].to_pylist() == sorted(
        r["url"] for r in shard_rows(0) if r["score"] in (1, 9)
    )
    assert set(kept["lang"].to_pylist()) == {"en"}
    assert min(kept["lang_prob"].to_pylist()) > 0.9
    reasons = {
        int(u.rsplit("/", 1)[1]): r
        for u, r in zip(dropped["url"].to_pylist(), dropped["reason"].to_pylist(), strict=True)
    }
    assert reasons == EXPECTED_DROPS  # timeout/http_error rows are crawl's, not clean's
    assert all(dropped["detail"].to_pylist())


def test_bad_pages_file_names_the_file(tmp_path):
    bad = tmp_path / "pages" / "part-00000.parquet"
    write_parquet_atomic(bad, pa.table({"url": ["https://a.example/"]}))
    items = (str(bad), str(tmp_path / "k.parquet"), str(tmp_path / "d.parquet"))
    with pytest.raises(CleanInputError, match=r"part-00000.parquet: not a pages/ file"):
        clean_shard(items, clean=CleanConfig(), overlap=OverlapConfig())
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    items = (str(tmp_path / "junk.parquet"), items[1], items[2])
    with pytest.raises(CleanInputError, match="junk.parquet: not a readable parquet"):
        clean_shard(items, clean=CleanConfig(), overlap=OverlapConfig())


def test_missing_pages_dir_is_a_clear_error(tmp_path):
    cfg = build_config({"run_dir": str(tmp_path)})
    with pytest.raises(ConfigError, match="run `webtext crawl` first"):
        clean_stage.run(cfg)


@pytest.mark.ray
@pytest.mark.slow
def test_stage_end_to_end_resumable_and_deterministic(tmp_path, ray_local, caplog):
    run_dir = tmp_path / "run"
    write_pages(run_dir, 0, shard_rows(0))
    write_pages(run_dir, 3, shard_rows(100))
    cfg = build_config({"run_dir": str(run_dir)})

    stats = clean_stage.run(cfg)
    assert stats["shards"] == 2 and stats["shards_skipped"] == 0
    assert stats["pages"] == 18 and stats["candidates"] == 14
    assert stats["kept"] == 4 and stats["dropped"] == 10
    assert stats["dropped_by_reason"] == {
        "clean:botwall": 2,
        "clean:language": 2,
        "clean:too_short": 4,
        "clean:wikipedia_mirror": 2,
    }
    assert stats["docs_per_s"] > 0

    cleaned = run_dir / "cleaned"
    assert sorted(p.name for p in cleaned.iterdir()) == ["part-00000.parquet", "part-00003.parquet"]
    names = sorted(p.name for p in (run_dir / "dropped").iterdir())
    assert names == ["part-00000.parquet", "part-00003.parquet"]
    kept = pq.read_table(cleaned / "part-00003.parquet")
    assert kept.schema.remove_metadata() == CLEANED_SCHEMA
    assert kept["url"].to_pylist() == sorted(kept["url"].to_pylist())
    assert kept.column("subreddits").to_pylist() == [["news"], ["news"]]  # columns carried
    dropped = pq.read_table(run_dir / "dropped" / "part-00003.parquet")
    assert dropped.schema == DROPPED_SCHEMA
    assert all(r.startswith("clean:") for r in dropped["reason"].to_pylist())
    marker = StageMarker(run_dir, "clean").read()
    assert marker["stats"] == stats
    # the in-process executor: the same functions, the same bytes
    local_dir = tmp_path / "local"
    write_pages(local_dir, 0, shard_rows(0))
    write_pages(local_dir, 3, shard_rows(100))
    clean_stage.run(build_config({"run_dir": str(local_dir)}), executor="local")
    for name in ("cleaned", "dropped"):
        for path in (run_dir / name).iterdir():
            assert (local_dir / name / path.name).read_bytes() == path.read_bytes(), path

    # done with the same config: returns the recorded stats without touching Ray
    with caplog.at_level("INFO", logger="webtext"):
        assert clean_stage.run(cfg) == stats
    assert "already done" in caplog.text

    # a lost shard is redone, the finished one is skipped; bytes are identical
    before = {p.name: p.read_bytes() for p in cleaned.iterdir()}
    StageMarker(run_dir, "clean").clear()
    (cleaned / "part-00003.parquet").unlink()
    again = clean_stage.run(cfg)
    assert again["shards_skipped"] == 1
    def same(d):
        return {k: v for k, v in d.items()
                if "per_s" not in k and "seconds" not in k and not k.startswith("tasks_")}

    assert same(again) == same(stats) | {"shards_skipped": 1}
    assert again["tasks_run"] == 1 and again["tasks_skipped"] == 1
    assert {p.name: p.read_bytes() for p in cleaned.iterdir()} == before

    # another config makes finished shards stale: both are redone under the new fingerprint
    strict = build_config({"run_dir": str(run_dir), "clean": {"languages": ["de"]}})
    redone = clean_stage.run(strict)
    assert redone["shards_skipped"] == 0
    assert redone["dropped_by_reason"]["clean:language"] == 4 and redone["kept"] == 2
    record = json.loads((run_dir / "_state/clean/clean/part-00000.json").read_text())
    assert record["inputs"] == {str(run_dir / "pages/part-00000.parquet"): file_digest(
        run_dir / "pages/part-00000.parquet")}
    assert record["result"]["kept"] == 1  # the German page of shard 0

    # pages rewritten upstream (a recrawl, `webtext extract`): only that shard is redone
    write_pages(run_dir, 3, shard_rows(100)[:4])
    after_rewrite = clean_stage.run(strict)
    assert after_rewrite["shards_skipped"] == 1 and after_rewrite["pages"] == 9 + 4


def test_reference_files_and_overlap_settings_decide_clean_only_when_used(tmp_path):
    """A decontamination file changed in place reruns clean (the article it now holds is
    dropped); `overlap.*` settings change nothing done when no reference-text filter uses
    them (clean and dedup stay done: rebuilding the overlap index costs no clean)."""
    from pipelines import dedup
    from pipelines.engine import plan_pipeline

    run_dir = tmp_path / "run"
    write_pages(run_dir, 0, shard_rows(0))
    test_file = tmp_path / "test-set.txt"
    test_file.write_text("A line of a test set that no page of this run contains at all.\n")
    base = {"run_dir": str(run_dir), "clean": {"decontaminate": [str(test_file)]},
            "dedup": {"execution": "local"}}  # fmt: skip
    first = clean_stage.run(build_config(base), executor="local")
    assert "clean:decontaminated" not in first["dropped_by_reason"]
    test_file.write_text(ARTICLE.split("\n\n", 1)[1].replace("\n", " ") + "\n")
    again = clean_stage.run(build_config(base), executor="local")
    assert again["dropped_by_reason"]["clean:decontaminated"] == 2  # both articles
    assert again["shards_skipped"] == 0

    plain = {**base, "clean": {}}
    clean_stage.run(build_config(plain), executor="local")
    dedup.run(build_config(plain), executor="local")
    other = build_config({**plain, "overlap": {"ngram": 13, "cache_dir": str(tmp_path / "c")}})
    plans = plan_pipeline([clean_stage.STAGE, dedup.STAGE], other)
    assert [p.state for p in plans] == ["done", "done"], [p.why for p in plans]
