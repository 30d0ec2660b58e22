"""The tokenize stage end to end on Ray: shards, index, readers, determinism, exports, verify."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from webtext.cli import main as cli_main
from webtext.config import build_config
from webtext.io import shard_name, write_parquet_atomic
from webtext.schemas import DOCUMENTS_SCHEMA, document_id
from webtext.tokenize.encode import is_val, split_keys
from webtext.tokenize.export import LLMC_MAGIC, read_llmc
from webtext.tokenize.gpt2 import EOT_ID, get_encoding, vocab_hashes
from webtext.tokenize.reader import ShardReader, open_split
from webtext.tokenize.shards import file_sha256
from webtext.tokenize.stage import DuplicateIdError, plan_shards, tokenize_file

pytestmark = pytest.mark.ray

SNIPPETS = [
    "Plain English prose about the weather, which was fine.",
    " leading space, trailing spaces   ",
    "CRLF\r\nlines\r\n",
    "unicode café 中文 Привет, emoji 👍🏽👨‍👩‍👧",
    "a literal <|endoftext|> inside the text",
    "tabs\t\tand\n\n\nnewlines",
]


def make_documents(n: int = 150) -> list[dict]:
    rows = []
    for i in range(n):
        url = f"https://example.org/article/{i}"
        body = " ".join(SNIPPETS[(i + k) % len(SNIPPETS)] for k in range(1 + i % 9))
        rows.append({"id": document_id(url), "url": url, "text": f"Document {i}. {body}"})
    return rows


def write_documents(run_dir: Path, rows: list[dict], parts: int) -> None:
    for k in range(parts):
        table = pa.Table.from_pylist(rows[k::parts], schema=DOCUMENTS_SCHEMA)
        write_parquet_atomic(run_dir / "documents" / shard_name(k), table)


def tokenize(run_dir: Path, num_threads: int = 2, **extra) -> dict:
    from pipelines import tokenize as stage

    settings = {"shard_tokens": 1024, "val_fraction": 0.2, "num_threads": num_threads, **extra}
    return stage.run(build_config({"run_dir": str(run_dir), "tokenize": settings}))


def shard_bytes(run_dir: Path) -> dict[str, bytes]:
    shards = run_dir / "shards"
    return {p.relative_to(shards).as_posix(): p.read_bytes() for p in shards.rglob("*.*")}


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return make_documents()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, ray_local, docs) -> Path:
    run = tmp_path_factory.mktemp("tok") / "run"
    write_documents(run, docs, parts=3)
    tokenize(run)
    return run


def test_index_lists_every_shard_with_hashes(run_dir, docs):
    index = json.loads((run_dir / "shards" / "index.json").read_text())
    assert index["format_version"] == 2
    assert index["tokenizer"]["name"] == "gpt2"
    assert index["tokenizer"]["vocab_hashes"] == vocab_hashes()
    files = sorted(p.relative_to(run_dir / "shards").as_posix() for p in run_dir.rglob("*.arrow"))
    assert sorted(s["file"] for s in index["shards"]) == files
    assert index["totals"]["train"]["shards"] > 3 and index["totals"]["val"]["shards"] >= 1
    for entry in index["shards"]:
        path = run_dir / "shards" / entry["file"]
        assert file_sha256(path) == entry["sha256"]
        reader = ShardReader(path)
        assert (len(reader), reader.num_tokens) == (entry["rows"], entry["tokens"])
        buckets = index["layout"]["buckets"][entry["split"]]
        assert entry["file"].endswith(f"-{entry['bucket']:05d}.arrow")
        keys = split_keys(reader.ids.to_pylist())
        assert set((keys % np.uint64(buckets)).tolist()) == {entry["bucket"]}
    for split, total in index["totals"].items():
        buckets = index["layout"]["buckets"][split]
        assert buckets & (buckets - 1) == 0  # a power of two
        assert total["tokens"] <= buckets * 1024 and (buckets == 1 or total["tokens"] > buckets * 512)
    assert sum(t["rows"] for t in index["totals"].values()) == len(docs)


def test_shards_decode_to_the_documents(run_dir, docs):
    enc = get_encoding()
    text_of = {d["id"]: d["text"] for d in docs}
    seen = []
    for split in ("train", "val"):
        ids = []
        for shard in open_split(run_dir / "shards", split):
            shard_ids = shard.ids.to_pylist()
            assert shard_ids == sorted(shard_ids)  # ascending id inside a shard
        for doc_id, tokens in open_split(run_dir / "shards", split).documents():
            assert tokens.dtype == np.uint16 and tokens[-1] == EOT_ID
            assert np.count_nonzero(tokens == EOT_ID) == 1  # literal special token stays text
            assert enc.decode_bytes(tokens[:-1].tolist()).decode() == text_of[doc_id]
            ids.append(doc_id)
        assert set(is_val(split_keys(ids), 0.2)) <= {split == "val"}
        seen += ids
    assert sorted(seen) == sorted(text_of)


def test_reader_is_zero_copy_over_the_memory_map(run_dir):
    reader = ShardReader(next((run_dir / "shards" / "train").glob("*.arrow")))
    reader._source.seek(0)
    mapped = reader._source.read_buffer()  # the whole mapping, no copy
    file_view = np.frombuffer(mapped, dtype=np.uint8)
    assert np.shares_memory(reader.tokens, file_view)
    assert np.shares_memory(reader.offsets, file_view)
    assert not reader.tokens.flags.writeable
    assert reader.offsets[0] == 0 and reader.offsets[-1] == reader.num_tokens
    assert reader.document(0)[-1] == EOT_ID and isinstance(reader.doc_id(0), str)


def test_deterministic_across_partitioning_and_threads(run_dir, docs, tmp_path):
    other = tmp_path / "one-file"
    write_documents(other, list(reversed(docs)), parts=1)
    tokenize(other, num_threads=1)
    assert shard_bytes(other) == shard_bytes(run_dir)
    five = tmp_path / "five-files"
    write_documents(five, docs[::-1][::2] + docs[::-1][1::2], parts=5)
    tokenize(five, num_threads=3)
    assert shard_bytes(five) == shard_bytes(run_dir)


def test_rerun_is_done_and_resume_rebuilds_identically(run_dir, tmp_path, caplog):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    before = shard_bytes(copy)
    stats = tokenize(copy)
    assert stats["documents"] == 150 and not (copy / "_work" / "tokenize").exists()
    next((copy / "shards" / "train").glob("*.arrow")).unlink()
    (copy / "_state" / "tokenize.json").unlink()
    again = tokenize(copy, keep_intermediate=True)
    assert shard_bytes(copy) == before
    assert again["train_tokens"] == stats["train_tokens"]
    # a changed shard size invalidates the plan: old shards go, the new set is consistent
    tokenize(copy, shard_tokens=4096)
    index = json.loads((copy / "shards" / "index.json").read_text())
    assert {s["file"] for s in index["shards"]} == set(shard_bytes(copy)) - {"index.json"}
    assert index["shard_tokens"] == 4096


def test_hugging_face_datasets_loads_the_shards(run_dir, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    shards = run_dir / "shards"
    files = {s: sorted(str(p) for p in (shards / s).glob("*.arrow")) for s in ("train", "val")}
    ds = datasets.load_dataset("arrow", data_files=files, cache_dir=str(tmp_path / "hf"))
    train = open_split(shards, "train")
    assert ds["train"].num_rows == train.num_rows
    first = train.shards[0]
    assert ds["train"][0]["id"] == first.doc_id(0)
    assert ds["train"][0]["tokens"] == first.document(0).tolist()


def test_exports_nanogpt_and_llmc(run_dir, tmp_path):
    shards = run_dir / "shards"
    streams = {
        s: np.concatenate([r.tokens for r in open_split(shards, s)]) for s in ("train", "val")
    }
    assert cli_main(["export", str(run_dir), "--format", "nanogpt", "--out", str(tmp_path)]) == 0
    for split, stream in streams.items():
        assert np.array_equal(np.memmap(tmp_path / f"{split}.bin", np.uint16, mode="r"), stream)

    out = tmp_path / "llmc"
    args = ["export", str(run_dir), "--format", "llmc", "--out", str(out), "--shard-tokens", "3000"]
    assert cli_main(args) == 0
    for split, stream in streams.items():
        files = sorted(out.glob(f"webtext_{split}_*.bin"))
        assert files[0].name == f"webtext_{split}_000000.bin"
        header = np.fromfile(files[0], dtype="<i4", count=256)
        assert header[0] == LLMC_MAGIC and header[1] == 1 and header[3:].sum() == 0
        parts = [read_llmc(f) for f in files]
        assert all(len(p) == 3000 for p in parts[:-1]) and 0 < len(parts[-1]) <= 3000
        assert np.array_equal(np.concatenate(parts), stream)


def test_verify_passes_then_catches_damage(run_dir, tmp_path, capsys):
    assert cli_main(["verify", str(run_dir), "--sample", "-1"]) == 0
    assert "ok:" in capsys.readouterr().out

    def damaged(name: str) -> Path:
        copy = tmp_path / name
        shutil.copytree(run_dir, copy)
        return copy

    flipped = damaged("flipped")
    shard = flipped / "shards" / "train" / "train-00002.arrow"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    assert cli_main(["verify", str(flipped)]) == 1
    assert "train/train-00002.arrow: sha256" in capsys.readouterr().err

    missing = damaged("missing")
    (missing / "shards" / "val" / "val-00000.arrow").unlink()
    (missing / "shards" / "train" / "stray.arrow").write_bytes(b"x")
    assert cli_main(["verify", str(missing), "--sample", "0"]) == 1
    err = capsys.readouterr().err
    assert "val/val-00000.arrow: listed in index.json but missing" in err
    assert "train/stray.arrow: not listed in index.json" in err

    edited = damaged("edited")
    docs_file = edited / "documents" / shard_name(0)
    table = pa.parquet.read_table(docs_file)
    texts = [t + "!" for t in table.column("text").to_pylist()]
    table = table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts))
    extra = pa.Table.from_pylist(make_documents(151)[150:], schema=DOCUMENTS_SCHEMA)
    write_parquet_atomic(docs_file, pa.concat_tables([table, extra]))
    assert cli_main(["verify", str(edited), "--sample", "-1"]) == 1
    err = capsys.readouterr().err
    assert "decoded text differs from the document at char" in err
    assert f"document {extra['id'][0]} (part-00000.parquet) is in no shard" in err
    assert cli_main(["verify", str(edited), "--sample", "5", "--seed", "3"]) == 1


def test_bad_input_fails_with_context(tmp_path):
    rows = make_documents(4)
    rows[2]["text"] = None
    src = tmp_path / "documents" / shard_name(0)
    write_parquet_atomic(src, pa.Table.from_pylist(rows, schema=DOCUMENTS_SCHEMA))
    with pytest.raises(ValueError, match="row 2 has a null text"):
        tokenize_file((str(src), str(tmp_path / "out.arrow")))

    rows = make_documents(3) + make_documents(2)
    write_parquet_atomic(src, pa.Table.from_pylist(rows, schema=DOCUMENTS_SCHEMA))
    tokenize_file((str(src), str(tmp_path / "dup.arrow")))
    with pytest.raises(DuplicateIdError, match="more than once"):
        plan_shards([tmp_path / "dup.arrow"], shard_tokens=1024, val_fraction=0.1)
