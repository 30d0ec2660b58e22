"""Normalisation, n-gram hashes, the Bloom filter, and the overlap report of a mini-run."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.test_overlap_helpers import make_run, planted_test_set
from webtext.config import OverlapConfig
from webtext.overlap import normalize, report_section
from webtext.overlap.bloom import (
    BloomFilter,
    PartitionedBloom,
    build_partition,
    expected_fpr,
    optimal_bits,
)
from webtext.overlap.ngrams import ngram_hashes
from webtext.overlap.sources import file_format, read_documents


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello, World!", "hello world"),
        ("  many   spaces\tand\nnewlines  ", "many spaces and newlines"),
        ("It's the U.S.A.'s 2nd-best", "it s the u s a s 2nd best"),
        ("snake_case and e-mail@example.com", "snake case and e mail example com"),
        ("ÇA VA? Größe naïve", "ça va größe naïve"),
        ("Ünïcödé — “quotes” … ellipsis", "ünïcödé quotes ellipsis"),
        ("数字 123 and ١٢٣", "数字 123 and ١٢٣"),
        ("", ""),
        ("!!! ... ???", ""),
    ],
)
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_ngram_hashes_are_per_document_and_normalised():
    texts = ["one two three four", "One, two; THREE four!", "one two three", "", "a b c d e"]
    batch = ngram_hashes(texts, 4)
    assert list(batch.counts) == [1, 1, 0, 0, 2]
    assert batch.of(0)[0] == batch.of(1)[0]  # same words after normalisation
    # no n-gram spans a document boundary: "three four a b" would if it did
    joined = ngram_hashes(["three four a b"], 4).hashes[0]
    assert joined not in set(batch.hashes.tolist())
    # order matters, and the hash is stable across calls (fixed scheme, no process salt)
    assert ngram_hashes(["two one three four"], 4).hashes[0] != batch.of(0)[0]
    assert ngram_hashes(["one two three four"], 4).hashes[0] == batch.of(0)[0]


def test_bloom_false_positive_rate_within_bound(tmp_path):
    rng = np.random.default_rng(0)
    items = rng.integers(0, 2**63, 20_000, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    others = items + np.uint64(1)
    bloom = BloomFilter.for_items(len(items), 1e-3)
    bloom.add(items)
    assert bloom.contains(items).all()  # never a false negative
    bound = expected_fpr(len(items), bloom.m, bloom.k)
    assert bound < 1.2e-3
    fp = int(bloom.contains(others).sum())
    assert fp <= 3 * bound * len(others) + 5
    # saved, memory-mapped back, same answers; union of halves equals the whole
    bloom.save(tmp_path / "b.bin")
    again = BloomFilter.load(tmp_path / "b.bin", bloom.m, bloom.k)
    assert (again.contains(others) == bloom.contains(others)).all()
    a, b = BloomFilter(bloom.m, bloom.k), BloomFilter(bloom.m, bloom.k)
    a.add(items[:10_000])
    b.add(items[10_000:])
    a.union_inplace(b)
    assert np.array_equal(a.bits, bloom.bits)
    # the paper's rate: ~4.8 bytes per n-gram, 27 probes
    assert optimal_bits(10**6, 1e-8) / 8 / 10**6 == pytest.approx(4.79, abs=0.01)
    assert BloomFilter.for_items(10, 1e-8).k == 27


def test_partitioned_build_agrees_with_single(tmp_path):
    rng = np.random.default_rng(1)
    items = np.unique(rng.integers(0, 2**63, 5000, dtype=np.int64).astype(np.uint64) * np.uint64(2))
    files = []
    for i, part in enumerate(np.array_split(items, 3)):
        path = tmp_path / f"h{i}.npy"
        np.save(path, np.sort(part))
        files.append(str(path))
    meta = {"k": BloomFilter.for_items(1, 1e-6).k}
    for bits in (0, 2):
        parts = [
            build_partition(files, p, bits, 1e-6, str(tmp_path / f"{bits}-{p}.bin"))
            for p in range(1 << bits)
        ]
        assert sum(p["n"] for p in parts) == len(items)
        filters = [BloomFilter.load(tmp_path / p["file"], p["m"], meta["k"]) for p in parts]
        pb = PartitionedBloom(filters, {**meta, "partition_bits": bits})
        assert pb.contains(items).all()
        assert pb.contains(items + np.uint64(1)).sum() <= 2


def test_file_formats_read_the_same_documents(tmp_path):
    docs = ["first document here", 'second one, with "quotes"', "third"]
    (tmp_path / "a.txt").write_text("\n".join(docs) + "\n\n")
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"text": d}) for d in docs) + "\n")
    pq.write_table(pa.table({"text": docs, "other": [1, 2, 3]}), tmp_path / "a.parquet")
    (tmp_path / "p.txt").write_text("para one\nline two\n\npara two\n\n\n")
    for name in ("a.txt", "a.jsonl", "a.parquet"):
        assert read_documents(tmp_path / name) == docs
    assert [file_format(tmp_path / n) for n in ("a.txt", "a.jsonl", "a.parquet")] == [
        "text", "jsonl", "parquet"
    ]  # fmt: skip
    assert read_documents(tmp_path / "p.txt", "paragraph") == ["para one\nline two", "para two"]
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"txt": 1}\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        read_documents(tmp_path / "bad.jsonl")


@pytest.fixture(scope="module")
def mini_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    run = make_run(root)
    return root, run


@pytest.mark.ray
def test_planted_overlap_measured_exactly(mini_run, ray_local, tmp_path):
    from webtext.overlap.analysis import analyze

    root, run = mini_run
    docs, expected = planted_test_set(run)
    txt = tmp_path / "test.txt"
    txt.write_text("\n".join(docs) + "\n")
    jsonl = tmp_path / "test.jsonl"
    jsonl.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    parquet = tmp_path / "test.parquet"
    pq.write_table(pa.table({"text": docs}), parquet)

    report = analyze(root, [txt, jsonl, parquet], OverlapConfig())
    bloom = report["bloom"]
    assert bloom["train_documents"] == 60 and bloom["documents"] == 71
    assert bloom["distinct_ngrams"] <= 60 * 193
    assert bloom["expected_fpr"] <= 1.1e-8
    fp_allowance = max(1, int(np.ceil(expected["ngrams"] * bloom["expected_fpr"] * 10)))
    for result in report["results"][:3]:
        assert result["documents"] == expected["documents"]
        assert result["ngrams"] == expected["ngrams"]
        assert expected["ngrams_found"] <= result["ngrams_found"]
        assert result["ngrams_found"] <= expected["ngrams_found"] + fp_allowance
        assert result["documents_any_overlap"] == expected["documents_any_overlap"]
        assert result["documents_over_half"] == expected["documents_over_half"]
    # the run's own val split: 2 of its 6 documents are copies of train documents
    val = report["results"][3]
    assert val["name"].startswith("val split")
    assert val["documents"] == 6
    assert val["ngram_overlap"] == pytest.approx(2 / 6)
    assert val["documents_any_overlap"] == pytest.approx(2 / 6)
    assert val["documents_over_half"] == pytest.approx(2 / 6)

    saved = json.loads((root / "overlap" / "overlap.json").read_text())
    assert saved["results"][0]["ngrams_found"] == report["results"][0]["ngrams_found"]
    html = report_section(root)
    assert html.startswith("<section") and "test.jsonl" in html and "<table" in html
    assert "http" not in html  # self-contained: no external assets


@pytest.mark.ray
def test_untrained_documents_are_not_in_the_filter(mini_run, ray_local, tmp_path):
    from webtext.overlap.analysis import analyze

    root, run = mini_run
    words = run["unsplit"][0]  # in documents/ but in no token split
    (tmp_path / "u.txt").write_text(" ".join(words) + "\n")
    report = analyze(root, [tmp_path / "u.txt"], OverlapConfig())
    assert report["results"][0]["ngrams_found"] == 0
    folder = root / "overlap" / "bloom-n8-fpr1e-08"
    assert PartitionedBloom.is_complete(folder)
    assert not any((root / "overlap" / "_work").glob("*/*.npy"))


@pytest.mark.ray
def test_overlap_cli_reuses_the_filter(mini_run, ray_local, tmp_path, capsys):
    from webtext.cli import main

    root, run = mini_run
    (tmp_path / "t.txt").write_text(" ".join(run["train"][5][:50]) + "\n")
    manifest = root / "overlap" / "bloom-n8-fpr1e-08" / "bloom.json"
    main(["overlap", str(root), "--against", str(tmp_path / "t.txt")])
    before = manifest.stat().st_mtime_ns
    assert main(["overlap", str(root), "--against", str(tmp_path / "t.txt")]) == 0
    assert manifest.stat().st_mtime_ns == before  # reused, not rebuilt
    out = capsys.readouterr().out
    assert "t.txt" in out and "100.00%" in out and "in train" in out
    assert main(["overlap", str(root), "--against", str(tmp_path / "missing.txt")]) == 2


def test_shard_hashing_keeps_train_only_and_resumes(tmp_path):
    from webtext.overlap.index import hash_document_shard

    make_run(tmp_path)
    doc = tmp_path / "documents" / "part-00000.parquet"
    stem = str(tmp_path / "work" / "hashes-00000")
    (tmp_path / "work").mkdir()
    stats = hash_document_shard((str(doc), stem), ngram=8, shards_dir=str(tmp_path / "shards"))
    assert stats["documents"] == 25
    assert stats["train_documents"] + stats["val_documents"] <= 25
    hashes = np.load(stem + ".npy")
    assert len(hashes) == stats["distinct"] and np.all(np.diff(hashes) > 0)  # sorted, distinct
    assert stats["ngrams"] == stats["train_documents"] * 193
    val = pq.read_table(stem.replace("hashes-", "val-") + ".parquet")
    assert val.num_rows == stats["val_documents"]
    mtime = (tmp_path / "work" / "hashes-00000.npy").stat().st_mtime_ns
    again = hash_document_shard((str(doc), stem), ngram=8, shards_dir=str(tmp_path / "shards"))
    assert again == stats
    assert (tmp_path / "work" / "hashes-00000.npy").stat().st_mtime_ns == mtime
