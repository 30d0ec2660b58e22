"""`webtext forget` and takedown lists at dedup: forget == a fresh run with the list, and
only the shards that held a removed document change."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.synthetic_dedup import random_corpus, write_cleaned
from webtext.cli import main as cli
from webtext.config import build_config
from webtext.io import write_parquet_atomic
from webtext.schemas import DOCUMENTS_SCHEMA, document_id
from webtext.takedown import load_lists
from webtext.tokenize.verify import verify_run

pytestmark = pytest.mark.ray

SHARD_TOKENS = 8192


def _cfg(run_dir: Path, lists: list[str] | None = None):
    return build_config(
        {
            "run_dir": str(run_dir),
            "tokenize": {"shard_tokens": SHARD_TOKENS, "val_fraction": 0.1},
            "dedup": {"execution": "local"},
            "optout": {"lists": lists or []},
        }
    )


def _pipeline(run_dir: Path, pages: list[dict], lists: list[str] | None = None) -> None:
    from pipelines import dedup, tokenize

    write_cleaned(run_dir, [pages[0::3], pages[1::3], pages[2::3]])
    cfg = _cfg(run_dir, lists)
    dedup.run(cfg)
    tokenize.run(cfg)


def _shards(run_dir: Path) -> dict[str, tuple[str, int]]:
    """relpath -> (sha256, mtime_ns) of every shard file."""
    out = {}
    for path in sorted((run_dir / "shards").rglob("*.arrow")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        out[path.relative_to(run_dir / "shards").as_posix()] = (digest, path.stat().st_mtime_ns)
    return out


def _documents(run_dir: Path) -> list[dict]:
    rows = []
    for path in sorted((run_dir / "documents").glob("part-*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


@pytest.fixture(scope="module")
def pages() -> list[dict]:
    return random_corpus(240, dup_fraction=0.15, seed=7)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, ray_local, pages) -> Path:
    run = tmp_path_factory.mktemp("forget") / "run"
    _pipeline(run, pages)
    return run


def _takedown(run_dir: Path, tmp: Path) -> tuple[Path, set[str], set[str]]:
    """A list of whole domains and single URLs whose pages are documents of their own
    (no copies merged in or out): the list file, their URLs and their document ids."""
    docs = _documents(run_dir)
    by_host: dict[str, list[dict]] = {}
    for d in docs:
        by_host.setdefault(d["domain"], []).append(d)
    singles = {d["url"] for d in docs if d["cluster_size"] == 1 and d["urls"] == [d["url"]]}
    domains = [h for h, ds in sorted(by_host.items()) if all(d["url"] in singles for d in ds)]
    domain = domains[0]
    urls = sorted(u for u in singles if domain not in u)[:3]
    listed = {d["url"] for d in by_host[domain]} | set(urls)
    path = tmp / "takedown.txt"
    path.write_text(f"# a publisher's request\n{domain}\n" + "\n".join(urls) + "\n")
    ids = {d["id"] for d in docs if d["url"] in listed}
    return path, listed, ids


def test_forget_equals_fresh_run_and_touches_only_affected_shards(finished, pages, tmp_path):
    run = tmp_path / "run"
    import shutil

    shutil.copytree(finished, run)
    listed_file, listed_urls, ids = _takedown(run, tmp_path)
    before = _shards(run)
    index_before = json.loads((run / "shards" / "index.json").read_text())
    holding = {e["file"] for e in index_before["shards"]}
    # an export made before the takedown
    assert cli(["export", str(run), "--format", "nanogpt", "--out", str(tmp_path / "ng")]) == 0

    assert cli(["forget", str(run), "--list", str(listed_file), "--reason", "request #1"]) == 0

    after = _shards(run)
    index = json.loads((run / "shards" / "index.json").read_text())
    assert index["layout"]["buckets"] == index_before["layout"]["buckets"]
    remaining = {d["id"] for d in _documents(run)}
    assert not remaining & ids and len(remaining) == len(
        {d["id"] for d in _documents(finished)}
    ) - len(ids)
    # which shards held a removed document: read from the shards before the forget
    from webtext.tokenize.reader import ShardReader

    affected = set()
    for rel in holding:
        reader = ShardReader(finished / "shards" / rel)
        if set(reader.ids.to_pylist()) & ids:
            affected.add(rel)
    assert affected and len(affected) < len(before)
    for rel, (digest, mtime) in before.items():
        if rel not in affected:
            assert after[rel] == (digest, mtime), rel  # untouched: same bytes, same mtime
        elif rel in after:
            assert after[rel][0] != digest
    assert verify_run(run, sample=-1).ok, verify_run(run, sample=-1).problems

    log = [json.loads(x) for x in (run / "forget.log").read_text().splitlines()]
    assert len(log) == 1 and "request #1" in log[0]["why"]
    assert {d["id"] for d in log[0]["removed"]} == ids
    assert {d["url"] for d in log[0]["removed"]} == listed_urls
    texts = [d["text"][:80] for d in _documents(finished) if d["id"] in ids]
    assert texts and not any(t in json.dumps(log[0]) for t in texts)  # ids and URLs only

    # a fresh run that never saw the listed pages (harvest keeps them out) and has the list
    fresh = tmp_path / "fresh"
    kept_pages = [p for p in pages if p["url"] not in listed_urls]
    _pipeline(fresh, kept_pages, lists=[str(listed_file)])
    assert (fresh / "shards" / "index.json").read_bytes() == (
        run / "shards" / "index.json"
    ).read_bytes()
    assert {k: v[0] for k, v in _shards(fresh).items()} == {k: v[0] for k, v in after.items()}

    # a run that fetched them but has the list at dedup: never in documents/ either
    late = tmp_path / "late"
    _pipeline(late, pages, lists=[str(listed_file)])
    assert (late / "shards" / "index.json").read_bytes() == (
        run / "shards" / "index.json"
    ).read_bytes()
    dropped = pq.read_table(late / "dedup" / "dropped.parquet").to_pylist()
    out = {r["url"] for r in dropped if r["reason"] == "optout:list"}
    takedown = load_lists([listed_file])
    assert listed_urls <= out and all(takedown.match_url(u) for u in out)  # + merged copies


def test_forget_again_is_a_no_op_and_stale_export_is_reported(finished, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    assert cli(["export", str(run), "--format", "llmc", "--out", str(tmp_path / "llmc")]) == 0
    doc = sorted(_documents(run), key=lambda d: d["id"])[0]
    assert cli(["verify", str(run)]) == 0
    capsys.readouterr()
    assert cli(["forget", str(run), "--url", doc["url"]]) == 0
    before = _shards(run)
    assert cli(["forget", str(run), "--url", doc["url"]]) == 0  # nothing left to remove
    assert _shards(run) == before
    assert len((run / "forget.log").read_text().splitlines()) == 1
    capsys.readouterr()
    assert cli(["verify", str(run)]) == 0  # the shards are right ...
    err = capsys.readouterr().err
    assert "stale export" in err and str(tmp_path / "llmc") in err  # ... the export is not
    assert cli(["export", str(run), "--format", "llmc", "--out", str(tmp_path / "llmc"),
                "--overwrite"]) == 0  # fmt: skip
    capsys.readouterr()
    assert cli(["verify", str(run)]) == 0
    assert "stale export" not in capsys.readouterr().err


def test_run_after_forget_does_no_work(ray_local, pages, tmp_path):
    """`webtext run` on a finished run after `webtext forget` takes the "nothing to do"
    path: forget keeps the run marker's record of the stages (tokenize's new fingerprint
    included) and tokenize's marker lists the shards as they are now."""
    from pipelines import dedup, tokenize
    from pipelines.engine import is_current, run_pipeline
    from pipelines.run import _finish

    run = tmp_path / "run"
    write_cleaned(run, [pages[0::3], pages[1::3], pages[2::3]])
    cfg = build_config({**_cfg(run).model_dump(mode="json"), "report": {"enabled": False}})
    finished: list[dict] = []
    stages = [dedup.STAGE, tokenize.STAGE]

    def finish(cfg, stage_stats):
        finished.append(stage_stats)
        return _finish(cfg, stage_stats)

    run_pipeline(stages, cfg, finish=finish, done=lambda stats: None)
    assert len(finished) == 1
    listed_file, _, ids = _takedown(run, tmp_path)
    assert cli(["forget", str(run), "--list", str(listed_file)]) == 0
    assert all(is_current(stage, cfg) for stage in stages)
    stats = run_pipeline(stages, cfg, finish=finish, done=lambda stats: None)
    assert len(finished) == 1, "the run did its stages and finish again after forget"
    assert stats == json.loads((run / "stats.json").read_text())  # the funnel after forget
    assert not {d["id"] for d in _documents(run)} & ids


def test_bad_forget_arguments_are_clear_errors(finished, tmp_path, capsys):
    assert cli(["forget", str(finished), "--domain", "https://x.test/"]) == 2
    assert "--domain takes a domain" in capsys.readouterr().err
    bad = tmp_path / "bad.txt"
    bad.write_text("good.test\nnot a domain/or url\n")
    assert cli(["forget", str(finished), "--list", str(bad)]) == 2
    assert f"{bad}:2:" in capsys.readouterr().err
    assert cli(["forget", str(tmp_path / "nothing"), "--domain", "x.test"]) == 2


def _docs_table(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        url = f"https://host{i % 5}.test/{i}"
        text = f"Document {i}. " + "words and more words of plain prose " * (40 + i % 30)
        rows.append({"id": document_id(url), "url": url, "canonical_url": url, "text": text,
                     "urls": [url], "cluster_size": 1, "domain": f"host{i % 5}.test"})  # fmt: skip
    return rows


def _write_docs(run_dir: Path, rows: list[dict]) -> None:
    for k in range(2):
        table = pa.Table.from_pylist(rows[k::2], schema=DOCUMENTS_SCHEMA)
        write_parquet_atomic(run_dir / "documents" / f"part-0000{k}.parquet", table)


def test_forget_that_halves_the_bucket_count_still_equals_a_fresh_tokenize(ray_local, tmp_path):
    """Removing 3/5 of the corpus drops the split under a power-of-two boundary: every shard
    of the split is rewritten, and index.json is still what a fresh tokenize writes."""
    from pipelines import tokenize

    rows = _docs_table(200)
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    _write_docs(run, rows)
    cfg = build_config(
        {"run_dir": str(run), "tokenize": {"shard_tokens": 4096, "val_fraction": 0.1}}
    )
    tokenize.run(cfg)
    before = json.loads((run / "shards" / "index.json").read_text())["layout"]["buckets"]
    args = ["forget", str(run)]
    for d in ("host0.test", "host1.test", "host2.test"):
        args += ["--domain", d]
    assert cli(args) == 0
    after = json.loads((run / "shards" / "index.json").read_text())["layout"]["buckets"]
    assert after["train"] < before["train"]
    _write_docs(
        fresh, [r for r in rows if r["domain"] not in ("host0.test", "host1.test", "host2.test")]
    )
    tokenize.run(
        build_config(
            {"run_dir": str(fresh), "tokenize": {"shard_tokens": 4096, "val_fraction": 0.1}}
        )
    )
    assert (fresh / "shards" / "index.json").read_bytes() == (
        run / "shards" / "index.json"
    ).read_bytes()
    assert verify_run(run, sample=-1).ok
    # the tokenize stage stays done: a rerun does not touch the shards
    mtimes = {p: p.stat().st_mtime_ns for p in (run / "shards").rglob("*.arrow")}
    tokenize.run(cfg)
    assert {p: p.stat().st_mtime_ns for p in (run / "shards").rglob("*.arrow")} == mtimes
    assert os.path.exists(run / "forget.log")


class _Crash(BaseException):
    """Stands for kill -9: raised before the k-th file replace, caught by no handler."""


_CRASH_AT = [0]  # 0: off; k > 0: the k-th os.replace/os.rename from now is not done


def _crash_hook(event: str, args) -> None:
    if _CRASH_AT[0] and event == "os.rename":
        _CRASH_AT[0] -= 1
        if _CRASH_AT[0] == 0:
            raise _Crash(args[1])


def test_forget_killed_at_any_write_finishes_on_the_next_run(finished, tmp_path):
    """A forget stopped before any one of its atomic replaces (documents/ files, the
    pending record, shards, index.json, markers) and run again ends exactly where an
    uninterrupted forget ends: same documents, same index.json, verify passes, and every
    removed id in forget.log. Stopped before the pending record, the next run still knew
    which ids documents/ had lost, or their tokens stayed in the shards."""
    import shutil
    import sys

    sys.addaudithook(_crash_hook)  # a hook cannot be removed: it is off unless armed
    whole = tmp_path / "whole"
    shutil.copytree(finished, whole)
    listed_file, _, ids = _takedown(whole, tmp_path)
    assert cli(["forget", str(whole), "--list", str(listed_file)]) == 0
    want_index = (whole / "shards" / "index.json").read_bytes()
    want_docs = sorted(d["id"] for d in _documents(whole))
    k = 0
    while True:
        k += 1
        run = tmp_path / f"k{k}"
        shutil.copytree(finished, run)
        _CRASH_AT[0] = k
        with contextlib.suppress(_Crash):
            cli(["forget", str(run), "--list", str(listed_file)])
        crashed, _CRASH_AT[0] = _CRASH_AT[0] == 0, 0
        if not crashed:
            break  # k is past the last replace: every point was tried
        assert cli(["forget", str(run), "--list", str(listed_file)]) == 0, k
        assert sorted(d["id"] for d in _documents(run)) == want_docs, k
        assert (run / "shards" / "index.json").read_bytes() == want_index, k
        assert verify_run(run, sample=-1).ok, (k, verify_run(run, sample=-1).problems)
        log = [json.loads(x) for x in (run / "forget.log").read_text().splitlines()]
        assert {d["id"] for e in log for d in e["removed"]} == ids, k
        shutil.rmtree(run)
    assert k > 3
