"""`webtext export`: packed blocks for HF Trainer, dolma jsonl, the streaming torch dataset
over ranks and workers, and exports that never leave stale files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from webtext.cli import main as cli_main
from webtext.config import build_config
from webtext.io import StageMarker, shard_name, write_parquet_atomic
from webtext.schemas import DOCUMENTS_SCHEMA, document_id
from webtext.tokenize.packed import TokenStream, read_packed

pytestmark = pytest.mark.ray

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
]


def make_documents(n: int = 90) -> list[dict]:
    rows = []
    for i in range(n):
        url = f"https://example.org/post/{i}"
        text = f"Post {i}: " + " ".join(WORDS[(i * k) % len(WORDS)] for k in range(5 + i % 40))
        rows.append(
            {
                "id": document_id(url),
                "url": url,
                "title": f"Post {i}",
                "text": text + (" <|endoftext|> literal" if i == 3 else ""),
                "score": 3 + i,
                "lang": "en",
                "subreddits": ["news", f"sub{i % 4}"],
                "submission_ids": [f"s{i}"],
                "urls": [url],
                "cluster_size": 1,
                "domain": "example.org",
                "canonical_url": url,
                "first_created_utc": 1_480_000_000 + 3600 * i if i % 10 else None,
            }
        )
    return rows


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, ray_local) -> Path:
    from pipelines import tokenize

    run = tmp_path_factory.mktemp("export") / "run"
    rows = make_documents()
    for k in range(3):
        table = pa.Table.from_pylist(rows[k::3], schema=DOCUMENTS_SCHEMA)
        write_parquet_atomic(run / "documents" / shard_name(k), table)
    write_parquet_atomic(run / "documents" / shard_name(3), DOCUMENTS_SCHEMA.empty_table())
    StageMarker(run, "dedup").mark_done("test")
    settings = {"shard_tokens": 1024, "val_fraction": 0.2, "num_threads": 1}
    tokenize.run(build_config({"run_dir": str(run), "tokenize": settings}))
    return run


def export(run_dir: Path, fmt: str, out: Path, *extra: str) -> int:
    return cli_main(["export", str(run_dir), "--format", fmt, "--out", str(out), *extra])


def split_stream(run_dir: Path, split: str) -> np.ndarray:
    stream = TokenStream(run_dir / "shards", split)
    return stream.slice(0, stream.num_tokens)


def test_packed_blocks_are_the_joined_documents_in_order(run_dir, tmp_path):
    out = tmp_path / "packed"
    assert export(run_dir, "packed", out, "--seq-len", "64") == 0
    manifest = json.loads((out / "webtext-packed.json").read_text())
    assert manifest["seq_len"] == 64
    for split in ("train", "val"):
        stream = split_stream(run_dir, split)
        assert (stream == 50256).sum() > 5  # several documents, each followed by EOT
        files = sorted((out / split).glob("data-*.arrow"))
        blocks = np.concatenate([read_packed(f) for f in files])
        n = len(stream) // 64
        assert blocks.shape == (n, 64) == (manifest["splits"][split]["blocks"], 64)
        assert np.array_equal(blocks.reshape(-1), stream[: n * 64])
        assert manifest["splits"][split]["tokens_dropped"] == len(stream) - n * 64 < 64


def test_split_without_a_whole_block_has_no_file_and_still_loads(run_dir, tmp_path):
    datasets = pytest.importorskip("datasets")
    val_tokens = len(split_stream(run_dir, "val"))
    seq_len = val_tokens + 1  # val: no whole block; train (bigger) has some
    out = tmp_path / "packed"
    assert export(run_dir, "packed", out, "--seq-len", str(seq_len)) == 0
    manifest = json.loads((out / "webtext-packed.json").read_text())
    assert manifest["splits"]["val"] == {"blocks": 0, "tokens_dropped": val_tokens, "files": []}
    assert manifest["splits"]["train"]["blocks"] >= 1 and not (out / "val").exists()
    datasets.disable_progress_bars()
    ds = datasets.load_dataset("arrow", data_dir=str(out), cache_dir=str(tmp_path / "cache"))
    assert set(ds) == {"train"} and ds["train"].num_rows == manifest["splits"]["train"]["blocks"]


def test_seq_len_longer_than_every_split_is_an_error(run_dir, tmp_path, capsys):
    """Not a silent success with an export of no blocks at all (an old folder stays)."""
    tokens = len(split_stream(run_dir, "train")) + len(split_stream(run_dir, "val"))
    out = tmp_path / "packed"
    out.mkdir()
    (out / "old.arrow").write_bytes(b"old")
    assert export(run_dir, "packed", out, "--seq-len", str(tokens + 1), "--overwrite") == 1
    err = capsys.readouterr().err
    assert "--seq-len" in err and "no block" in err
    assert [p.name for p in out.iterdir()] == ["old.arrow"]
    assert export(run_dir, "packed", tmp_path / "p1", "--seq-len", "1") == 0  # every token
    manifest = json.loads((tmp_path / "p1" / "webtext-packed.json").read_text())
    assert sum(s["blocks"] for s in manifest["splits"].values()) == tokens


def test_hf_trainer_runs_two_steps_on_packed_output(run_dir, tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("WANDB_DISABLED", "true")
    out = tmp_path / "packed"
    assert export(run_dir, "packed", out, "--seq-len", "32") == 0
    datasets.disable_progress_bars()
    ds = datasets.load_dataset("arrow", data_dir=str(out), cache_dir=str(tmp_path / "cache"))
    assert set(ds) == {"train", "validation"} and ds["train"].num_rows >= 8
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=32, n_positions=32)
    model = transformers.GPT2LMHeadModel(config)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "trainer"),
        max_steps=2,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        dataloader_num_workers=0,
    )
    trainer = transformers.Trainer(
        model=model, args=args, train_dataset=ds["train"], eval_dataset=ds["validation"]
    )
    result = trainer.train()
    assert trainer.state.global_step == 2
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(np.isfinite(losses)) and losses[0] > 5  # ~ln(50257)
    assert np.isfinite(result.training_loss)
    assert np.isfinite(trainer.evaluate()["eval_loss"])


def test_iterable_dataset_single_reader_is_the_split_stream(run_dir):
    pytest.importorskip("torch")
    from webtext.tokenize.torch_dataset import PackedTokenDataset

    single = list(PackedTokenDataset(run_dir / "shards", "train", seq_len=16, as_numpy=True))
    stream = split_stream(run_dir, "train")
    assert len(single) == len(stream) // 16 >= 40
    assert np.array_equal(np.concatenate(single), stream[: len(single) * 16])
    ds = PackedTokenDataset(run_dir / "shards", "train", seq_len=16, start=13)
    assert ds.state_dict(blocks_consumed=7) == {"start": 20, "seq_len": 16}


def test_jsonl_is_dolma_documents(run_dir, tmp_path):
    out = tmp_path / "jsonl"
    assert export(run_dir, "jsonl", out) == 0
    docs = {}
    for src in sorted((run_dir / "documents").glob("part-*.parquet")):
        lines = gzip.decompress((out / src.name.replace(".parquet", ".jsonl.gz")).read_bytes())
        records = [json.loads(line) for line in lines.splitlines()]
        assert [r["id"] for r in records] == pq.read_table(src).column("id").to_pylist()
        docs.update({r["id"]: r for r in records})
    assert len(docs) == 90
    rows = {r["id"]: r for r in make_documents()}
    for doc_id, rec in docs.items():
        row = rows[doc_id]
        assert set(rec) == {"id", "text", "source", "added", "created", "metadata"}
        assert rec["text"] == row["text"] and rec["source"] == "webtext"
        assert rec["metadata"] == {
            "score": row["score"],
            "subreddits": row["subreddits"],
            "url": row["url"],
        }
        assert rec["added"].endswith("Z") and rec["added"][:2] == "20"
        if row["first_created_utc"] is None:
            assert rec["created"] is None
        else:
            assert rec["created"].startswith("2016-11-")
    # the same run exports the same bytes (no timestamp in the gzip header)
    again = tmp_path / "again"
    assert export(run_dir, "jsonl", again) == 0
    for f in out.iterdir():
        assert f.read_bytes() == (again / f.name).read_bytes()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()}  # fmt: skip


@pytest.mark.parametrize(
    ("fmt", "first", "second"),
    [
        ("llmc", ["--shard-tokens", "300"], ["--shard-tokens", "4096"]),
        ("packed", ["--seq-len", "16"], ["--seq-len", "128"]),
        ("nanogpt", [], []),
    ],
)
def test_reexport_leaves_exactly_the_new_files(run_dir, tmp_path, capsys, fmt, first, second):
    out = tmp_path / "out"
    assert export(run_dir, fmt, out, *first) == 0
    before = _files(out)
    if fmt == "llmc":
        assert len(before) > 4  # many small files, that a bigger --shard-tokens must not keep
    capsys.readouterr()
    # a non-empty --out is refused and left as it was
    assert export(run_dir, fmt, out, *second) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert _files(out) == before
    # --overwrite: exactly what an export into a fresh folder writes
    assert export(run_dir, fmt, out, *second, "--overwrite") == 0
    fresh = tmp_path / "fresh"
    assert export(run_dir, fmt, fresh, *second) == 0
    assert _files(out) == _files(fresh)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh", "out"]  # no temp folders


def test_export_argument_errors(run_dir, tmp_path, capsys):
    assert export(run_dir, "packed", tmp_path / "p") == 2
    assert "--seq-len" in capsys.readouterr().err
    assert export(run_dir, "packed", tmp_path / "p", "--seq-len", "0") == 1
    assert export(tmp_path / "nothing", "jsonl", tmp_path / "j") == 1
    assert "run dedup first" in capsys.readouterr().err
    assert not (tmp_path / "p").exists() and not (tmp_path / "j").exists()


def _rank_batches(run_dir: Path, rank: int, start: int, batch: int) -> list:
    """One rank's batches as the README's loop sees them: DataLoader(batch_size, 2 workers)."""
    from torch.utils.data import DataLoader

    from webtext.tokenize.torch_dataset import PackedTokenDataset

    ds = PackedTokenDataset(run_dir / "shards", "train", seq_len=16, start=start, rank=rank,
                            world_size=2, batch_size=batch)  # fmt: skip
    loader = DataLoader(ds, batch_size=batch, num_workers=2)
    return [b["input_ids"].numpy() for b in loader]


@pytest.mark.parametrize("batch", [1, 3])
def test_ddp_loop_steps_are_the_single_stream_and_resume_exactly(run_dir, batch):
    """2 ranks x 2 workers, batch B: step s's global batch is blocks [2Bs, 2B(s+1)) of the
    single reader, both ranks take the same number of steps (DDP would hang otherwise), and
    restarting with start = steps x global batch continues with the next blocks."""
    pytest.importorskip("torch")
    from webtext.tokenize.torch_dataset import PackedTokenDataset

    single = list(PackedTokenDataset(run_dir / "shards", "train", seq_len=16, as_numpy=True))
    for start in (0, 3 * 2 * batch):  # a fresh run, then a resume after 3 steps
        ranks = [_rank_batches(run_dir, r, start, batch) for r in (0, 1)]
        assert len(ranks[0]) == len(ranks[1]) == (len(single) - start) // (2 * batch)
        for s, (a, b) in enumerate(zip(*ranks, strict=True)):
            lo = start + s * 2 * batch
            assert np.array_equal(np.concatenate([a, b]), np.stack(single[lo : lo + 2 * batch]))


def test_overwrite_never_replaces_the_run_or_its_inputs(run_dir, tmp_path, capsys):
    """`--overwrite` replaces an earlier export, never the run (or the folder holding it) nor
    one of its stage folders: those exports would delete the corpus they were made from."""
    import shutil

    run = tmp_path / "runs" / "run"
    shutil.copytree(run_dir, run)
    before = _files(run)
    for fmt, out, extra in [
        ("jsonl", run, ()),
        ("jsonl", run.parent, ()),
        ("packed", run / "shards", ("--seq-len", "16")),
        ("jsonl", run / "documents", ()),
        ("nanogpt", run / "ledger", ()),
    ]:
        assert export(run, fmt, out, *extra, "--overwrite") != 0
        assert "run" in capsys.readouterr().err
        assert _files(run) == before
    assert export(run, "jsonl", run / "exports" / "jsonl", "--overwrite") == 0  # inside: fine
