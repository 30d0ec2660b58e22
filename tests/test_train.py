"""Train stage on CPU: presets, loader, a tiny model that learns, exact resume, torchrun (gloo),
checkpoints from compiled models, the log.jsonl contract and `webtext sample`."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

torch = pytest.importorskip("torch")

import pipelines.tokenize  # noqa: E402
from webtext.cli import main as cli_main  # noqa: E402
from webtext.config import ConfigError, TrainConfig, build_config  # noqa: E402
from webtext.io import write_parquet_atomic  # noqa: E402
from webtext.paths import RunPaths  # noqa: E402
from webtext.schemas import DOCUMENTS_SCHEMA, document_id  # noqa: E402
from webtext.train.checkpoint import (  # noqa: E402
    latest_checkpoint,
    load_checkpoint,
    load_model,
    model_state_dict,
    save_checkpoint,
    strip_wrapper_prefixes,
)
from webtext.train.data import TokenShards, WindowLoader  # noqa: E402
from webtext.train.loop import lr_at, make_optimizer, peak_flops, train  # noqa: E402
from webtext.train.model import GPT  # noqa: E402
from webtext.train.presets import PARAMETER_ANCHORS, PRESETS  # noqa: E402

BIN = Path(sys.executable).parent

SUBJECTS = ["the cat", "a dog", "my friend", "the old man", "a small bird", "the teacher"]
VERBS = ["sees", "likes", "follows", "paints", "carries", "finds", "builds", "remembers"]
OBJECTS = ["the red house", "a green apple", "the long road", "a quiet song", "the big city"]


def corpus(n_docs: int, seed: int = 0) -> list[str]:
    """Documents of template sentences: a low-entropy language a tiny model learns fast."""
    rng = random.Random(seed)
    return [
        " ".join(
            f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}." for _ in range(20)
        )
        for _ in range(n_docs)
    ]


def make_shards(run_dir: Path, n_docs: int = 240) -> Path:
    """Shards produced by the tokenize pipeline from a documents/ parquet."""
    rows = []
    for i, text in enumerate(corpus(n_docs)):
        url = f"https://example.com/doc{i}"
        rows.append(
            {"id": document_id(url), "url": url, "title": f"doc {i}", "text": text, "score": 3,
             "lang": "en", "subreddits": ["test"], "submission_ids": [f"s{i}"], "urls": [url],
             "cluster_size": 1, "domain": "example.com", "canonical_url": url,
             "first_created_utc": 1_500_000_000}
        )  # fmt: skip
    docs = RunPaths.of(run_dir).documents
    write_parquet_atomic(docs / "part-00000.parquet", pa.Table.from_pylist(rows, DOCUMENTS_SCHEMA))
    cfg = build_config({"run_dir": str(run_dir), "tokenize": {"val_fraction": 0.12}})
    pipelines.tokenize.run(cfg)
    return RunPaths.of(run_dir).shards


def tiny_cfg(run_dir: Path, **train):
    base = dict(
        preset="tiny", max_steps=60, seq_len=32, micro_batch_size=4, learning_rate=1e-2,
        warmup_steps=10, eval_every=30, eval_batches=4, log_every=10, checkpoint_every=1000,
    )  # fmt: skip
    base.update(train)
    return build_config({"run_dir": str(run_dir), "train": base})


def read_log(out_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tiny model's matmuls are too small to gain from threads; on a busy 2-core machine
    two OpenMP threads make a step ~5x slower. Restored afterwards for other tests."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def shards_run(tmp_path_factory, ray_local) -> Path:
    run_dir = tmp_path_factory.mktemp("train_run")
    make_shards(run_dir)
    return run_dir


# ------------------------------------------------------------------------ model
@pytest.mark.parametrize("name", sorted(PARAMETER_ANCHORS))
def test_preset_parameter_counts_match_gpt2(name):
    with torch.device("meta"):
        model = GPT(PRESETS[name])
    assert model.num_parameters() == PARAMETER_ANCHORS[name] == PRESETS[name].num_parameters()
    # GPT-2 names, tied embeddings, padding internal only
    assert model.lm_head.weight is model.transformer.wte.weight
    assert model.transformer.wte.weight.shape[0] % 64 == 0


def test_padding_is_invisible_and_init_follows_gpt2():
    torch.manual_seed(0)
    model = GPT(PRESETS["tiny"])
    cfg = model.config
    assert cfg.padded_vocab_size == 50304
    assert torch.all(model.transformer.wte.weight[cfg.vocab_size :] == 0)
    logits, loss = model(torch.randint(0, 50257, (2, 16)), torch.randint(0, 50257, (2, 16)))
    assert logits.shape == (2, 16, 50257)
    assert abs(loss.item() - np.log(50257)) < 0.5  # near-uniform at init
    resid = model.transformer.h[0].attn.c_proj.weight.std().item()
    assert abs(resid - 0.02 / np.sqrt(2 * cfg.n_layer)) < 0.003
    with pytest.raises(ValueError, match="context"):
        model(torch.zeros((1, cfg.block_size + 1), dtype=torch.long))


def test_weight_decay_only_on_2d_weights_and_schedule():
    model = GPT(PRESETS["tiny"])
    tc = TrainConfig(max_steps=100, warmup_steps=10, learning_rate=1e-3, min_lr_ratio=0.1)
    opt = make_optimizer(model, tc, torch.device("cpu"))
    decay, no_decay = opt.param_groups
    assert all(p.dim() == 2 for p in decay["params"]) and decay["weight_decay"] == 0.1
    assert all(p.dim() == 1 for p in no_decay["params"]) and no_decay["weight_decay"] == 0
    n = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n == sum(p.numel() for p in model.parameters())  # tied weight once
    assert lr_at(1, tc) == pytest.approx(1e-4) and lr_at(10, tc) == pytest.approx(1e-3)
    assert lr_at(100, tc) == pytest.approx(1e-4)
    assert lr_at(40, tc) > lr_at(70, tc) > lr_at(99, tc)


def test_mfu_peak_by_gpu_name():
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_flops("NVIDIA H200") == 989e12
    assert peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_flops("Some Unknown Accelerator") is None


def test_missing_torch_names_the_train_extra(monkeypatch):
    from webtext.train import require_torch

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConfigError, match=r"webtext\[train\]"):
        require_torch()


# ----------------------------------------------------------------------- loader
def test_loader_ranks_disjoint_deterministic_and_resumable(shards_run):
    shards = TokenShards(shards_run / "shards", "train")
    assert all(seg.dtype == np.uint16 and not seg.flags.owndata for seg in shards.segments)

    def loader(rank, world, micro=4):
        return WindowLoader(shards, 32, micro, rank=rank, world_size=world, seed=7)

    r0, r1 = loader(0, 2), loader(1, 2)
    seen0 = np.concatenate([r0.window_ids() for _ in range(10)])
    seen1 = np.concatenate([r1.window_ids() for _ in range(10)])
    assert not set(seen0) & set(seen1)  # no overlap between ranks
    # world 2 x 1 micro step reads exactly what world 1 x 2 micro steps reads
    single = loader(0, 1)
    both = np.concatenate([single.window_ids() for _ in range(20)])
    assert sorted(both) == sorted(np.concatenate([seen0, seen1]))
    # same seed -> same stream; the saved position continues it
    a = loader(0, 1)
    first = [a.next_batch()[0] for _ in range(3)]
    state = a.state_dict()
    rest = [a.next_batch()[0] for _ in range(3)]
    b = loader(0, 1)
    assert np.array_equal(np.stack(first), np.stack([b.next_batch()[0] for _ in range(3)]))
    c = loader(0, 1)
    c.load_state_dict(state)
    assert np.array_equal(np.stack(rest), np.stack([c.next_batch()[0] for _ in range(3)]))
    # targets are inputs shifted by one
    x, y = loader(0, 1).next_batch()
    assert np.array_equal(x[:, 1:], y[:, :-1]) and x.dtype == np.int64
    # an epoch visits every window once
    e = loader(0, 1, micro=1)
    ids = [int(e.window_ids()[0]) for _ in range(e.num_windows)]
    assert sorted(ids) == list(range(e.num_windows)) and e.state.epoch == 0


def test_loader_rejects_too_little_data(shards_run):
    shards = TokenShards(shards_run / "shards", "val")
    with pytest.raises(ValueError, match="smaller seq_len"):
        WindowLoader(shards, 100_000, 8).next_batch()


# ---------------------------------------------------------------------- training
@pytest.mark.slow
def test_tiny_model_learns_below_unigram_entropy(shards_run, capsys):
    """Through `webtext train`: val loss ends clearly below the unigram entropy; log.jsonl
    contract; a second run does no work; the checkpoint samples text."""
    cfg_path = shards_run / "train.yaml"
    cfg_path.write_text(tiny_cfg(shards_run).to_yaml())
    assert cli_main(["train", str(cfg_path)]) == 0
    out_dir = shards_run / "train"
    records = read_log(out_dir)
    for rec in records:
        assert {"step", "loss", "lr", "tokens_per_s", "mfu"} <= rec.keys()
        assert rec["mfu"] is None and rec["tokens_per_s"] > 0  # no MFU on CPU
    steps = [r["step"] for r in records]
    assert steps == sorted(steps) and steps[0] == 1 and steps[-1] == 60
    evals = {r["step"]: r["val_loss"] for r in records if "val_loss" in r}
    assert set(evals) == {1, 30, 60}  # first, every eval_every, last
    entropy = TokenShards(shards_run / "shards", "val").unigram_entropy()
    assert evals[1] > 10  # ~ln(50257) at init
    assert evals[60] < 0.75 * entropy, (evals, entropy)
    stats = json.loads(capsys.readouterr().out)
    assert stats["steps"] == 60 and stats["final_val_loss"] == pytest.approx(evals[60])

    # rerun: nothing trained, nothing written
    before = (out_dir / "log.jsonl").read_text(), sorted(p.name for p in out_dir.iterdir())
    assert cli_main(["train", str(cfg_path)]) == 0
    assert before == (
        (out_dir / "log.jsonl").read_text(),
        sorted(p.name for p in out_dir.iterdir()),
    )

    # load_model(out_dir) for the eval stage, and `webtext sample`
    model = load_model(out_dir)
    assert not model.training and model.config.n_layer == 2
    capsys.readouterr()
    assert cli_main(["sample", str(out_dir), "--prompt", "the cat", "--max-new-tokens", "12",
                     "--temperature", "0.5", "--top-k", "20", "--seed", "3"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert text.startswith("the cat") and len(text.split()) > 4
    words = set(" ".join(SUBJECTS + VERBS + OBJECTS).split())
    generated = text.replace(".", " ").split()[2:]
    assert sum(w in words for w in generated) >= 0.8 * len(generated)  # it learned the language


def test_resume_gives_the_same_losses(shards_run):
    common = dict(max_steps=8, log_every=1, eval_every=4, warmup_steps=3, eval_batches=2)
    straight = tiny_cfg(shards_run, out_dir=str(shards_run / "straight"), **common)
    train(straight)
    resumed = tiny_cfg(shards_run, out_dir=str(shards_run / "resumed"), **common)
    first = train(resumed, stop_after=4)
    assert first["stopped_early"] and latest_checkpoint(shards_run / "resumed").name.endswith(
        "00000004.pt"
    )
    ckpt = load_checkpoint(shards_run / "resumed")
    assert ckpt["data"]["cursor"] == 4 * 4 and ckpt["scheduler"]["step"] == 4
    assert {"torch", "numpy", "python"} <= ckpt["rng"][0].keys()
    index = (shards_run / "shards" / "index.json").read_bytes()
    assert ckpt["shards_digest"] == hashlib.sha256(index).hexdigest()
    train(resumed)
    a, b = read_log(shards_run / "straight"), read_log(shards_run / "resumed")
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, 9))
    assert [r["loss"] for r in a] == [r["loss"] for r in b]  # exactly
    assert [r.get("val_loss") for r in a] == [r.get("val_loss") for r in b]


def test_checkpoint_from_compiled_model_loads_uncompiled(tmp_path):
    """torch.compile wraps the model (`_orig_mod.` keys). backend='eager' builds the same
    wrapper without a C++ toolchain, so this runs anywhere."""
    torch.manual_seed(0)
    raw = GPT(PRESETS["tiny"])
    compiled = torch.compile(raw, backend="eager")
    x = torch.randint(0, 50257, (1, 8))
    ref = compiled(x)[0]
    assert all(k.startswith("_orig_mod.") for k in compiled.state_dict())
    state = model_state_dict(compiled)
    assert not any(k.startswith(("_orig_mod.", "module.")) for k in state)
    save_checkpoint(tmp_path, 1, {"model": state, "model_config": raw.config.to_dict()})
    loaded = load_model(tmp_path)
    assert torch.equal(loaded(x)[0], ref.detach())
    # a state dict saved by someone else straight from the wrapper loads too
    fresh = GPT(PRESETS["tiny"])
    fresh.load_state_dict(strip_wrapper_prefixes(compiled.state_dict()))
    assert torch.equal(fresh(x)[0], ref)


def _torchrun_two_ranks(cfg_path: Path) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node=2 -m webtext.train CONFIG` on CPU, outside any rank env."""
    env = {k: v for k, v in os.environ.items() if k not in {"RANK", "WORLD_SIZE", "LOCAL_RANK"}}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.run(
        [str(BIN / "torchrun"), "--standalone", "--nproc_per_node=2", "-m", "webtext.train",
         str(cfg_path)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_torchrun_two_processes_gloo_matches_grad_accumulation(shards_run):
    """2 ranks x 1 micro step must read the same data as 1 rank x 2 micro steps and give the
    same losses (DDP's gradient average == accumulation)."""
    common = dict(max_steps=4, log_every=1, eval_every=2, warmup_steps=2, eval_batches=2)
    cfg_path = shards_run / "dist.yaml"
    cfg_path.write_text(tiny_cfg(shards_run, out_dir=str(shards_run / "dist"), **common).to_yaml())
    proc = _torchrun_two_ranks(cfg_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    dist_log = read_log(shards_run / "dist")
    assert load_checkpoint(shards_run / "dist")["world_size"] == 2
    single = tiny_cfg(shards_run, out_dir=str(shards_run / "accum"), batch_tokens=2 * 4 * 32,
                      **common)  # fmt: skip
    train(single)
    acc_log = read_log(shards_run / "accum")
    assert [r["step"] for r in dist_log] == list(range(1, 5))
    np.testing.assert_allclose(
        [r["loss"] for r in dist_log], [r["loss"] for r in acc_log], rtol=1e-4
    )
    np.testing.assert_allclose(
        [r["val_loss"] for r in dist_log if "val_loss" in r],
        [r["val_loss"] for r in acc_log if "val_loss" in r],
        rtol=1e-4,
    )


def test_sample_cli_arguments_parse():
    from webtext.train import cli_sample

    parser = argparse.ArgumentParser()
    cli_sample.add_arguments(parser)
    args = parser.parse_args(["ckpt", "--prompt", "hi", "--max-new-tokens", "5", "--top-k", "3"])
    assert (args.prompt, args.max_new_tokens, args.top_k, args.seed) == ("hi", 5, 3, 1337)


# ------------------------------------------------------------- checkpoints know their data
def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def retokenize(run_dir: Path, **tokenize) -> str:
    """Tokenize the same documents again with other settings: new shards, a new index.json."""
    before = sha256_of(RunPaths.of(run_dir).shards_index)
    cfg = build_config({"run_dir": str(run_dir), "tokenize": {"val_fraction": 0.12, **tokenize}})
    pipelines.tokenize.run(cfg)
    after = sha256_of(RunPaths.of(run_dir).shards_index)
    assert after != before
    return after


def test_changed_shards_stop_a_resume_and_a_finished_training(tmp_path, ray_local, capsys):
    """Same train config, other shards: resuming (and calling a finished training done) is an
    error naming both index.json digests and both ways out, through `webtext train` and
    `python -m webtext.train`; `--set train.resume=false` trains afresh, keeping the old files."""
    from webtext.train.__main__ import main as train_main

    make_shards(tmp_path, n_docs=120)
    old = sha256_of(RunPaths.of(tmp_path).shards_index)
    common = dict(max_steps=4, log_every=1, eval_every=2, warmup_steps=1, eval_batches=2)
    cfg = tiny_cfg(tmp_path, **common)
    cfg_path = tmp_path / "train.yaml"
    cfg_path.write_text(cfg.to_yaml())
    out_dir = tmp_path / "train"
    train(cfg, stop_after=2)
    assert load_checkpoint(out_dir)["shards_digest"] == old

    new = retokenize(tmp_path, shard_tokens=1024)
    before = sorted(p.name for p in out_dir.iterdir()), (out_dir / "log.jsonl").read_text()
    capsys.readouterr()
    for entry in (lambda: cli_main(["train", str(cfg_path)]), lambda: train_main([str(cfg_path)])):
        assert entry() == 2
        err = capsys.readouterr().err
        assert err.startswith("error: train.out_dir ") and err.count("error:") == 1
        assert f"index.json digest {old}" in err and f"shards/index.json is now {new}" in err
        assert "set a new train.out_dir or pass --set train.resume=false" in err
        # nothing trained, nothing written
        assert before == (sorted(p.name for p in out_dir.iterdir()),
                          (out_dir / "log.jsonl").read_text())  # fmt: skip

    # the way out: a fresh start in the same out_dir; the old training is moved, not deleted
    assert cli_main(["train", str(cfg_path), "--set", "train.resume=false"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["steps"] == stats["steps_run"] == 4
    (replaced,) = out_dir.glob("replaced-*")
    assert sorted(p.name for p in replaced.iterdir()) == [
        "ckpt-00000002.pt", "latest", "log.jsonl"
    ]  # fmt: skip
    assert load_checkpoint(replaced)["shards_digest"] == old
    assert load_checkpoint(out_dir)["shards_digest"] == new
    assert [r["step"] for r in read_log(out_dir)] == [1, 2, 3, 4]
    # train.resume is not part of what the result depends on: the plain rerun is done
    after = sorted(p.name for p in out_dir.iterdir()), (out_dir / "log.jsonl").read_text()
    assert cli_main(["train", str(cfg_path)]) == 0
    assert json.loads(capsys.readouterr().out) == stats
    assert after == (sorted(p.name for p in out_dir.iterdir()), (out_dir / "log.jsonl").read_text())

    # a finished training is not reported done on shards it was not trained on
    newer = retokenize(tmp_path, shard_tokens=2048)
    assert cli_main(["train", str(cfg_path)]) == 2
    err = capsys.readouterr().err
    assert f"index.json digest {new}" in err and f"shards/index.json is now {newer}" in err
    assert after == (sorted(p.name for p in out_dir.iterdir()), (out_dir / "log.jsonl").read_text())


def test_checkpoint_without_shards_digest_resumes_with_a_warning(shards_run, caplog):
    """Checkpoints written before they recorded their shards (an older webtext) resume, with a
    warning; the next checkpoint records the digest."""
    from webtext.progress import log

    common = dict(max_steps=4, log_every=1, eval_every=2, warmup_steps=1, eval_batches=2)
    out_dir = shards_run / "legacy"
    cfg = tiny_cfg(shards_run, out_dir=str(out_dir), **common)
    train(cfg, stop_after=2)
    path = latest_checkpoint(out_dir)
    old_style = torch.load(path, weights_only=True)
    del old_style["shards_digest"]
    torch.save(old_style, path)
    log.addHandler(caplog.handler)  # the webtext logger may not propagate (setup_logging)
    try:
        with caplog.at_level("INFO", logger="webtext"):
            stats = train(cfg)
    finally:
        log.removeHandler(caplog.handler)
    assert stats["steps"] == 4 and stats["steps_run"] == 2
    assert "records no shards digest" in caplog.text and "resumed from" in caplog.text
    digest = sha256_of(shards_run / "shards" / "index.json")
    assert load_checkpoint(out_dir)["shards_digest"] == digest


@pytest.mark.slow
def test_torchrun_refuses_changed_shards(tmp_path, ray_local):
    """The multi-process entry point takes the same check on every rank, before any
    collective; the first rank to get there exits 2 with the message, torchrun stops the rest."""
    make_shards(tmp_path, n_docs=120)
    cfg = tiny_cfg(tmp_path, max_steps=2, eval_batches=2)
    cfg_path = tmp_path / "train.yaml"
    cfg_path.write_text(cfg.to_yaml())
    train(cfg, stop_after=1)
    old = sha256_of(RunPaths.of(tmp_path).shards_index)
    new = retokenize(tmp_path, shard_tokens=1024)
    proc = _torchrun_two_ranks(cfg_path)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "error: train.out_dir" in line]
    assert errors, proc.stderr[-3000:]
    assert all(f"digest {old}" in e and f"is now {new}" in e for e in errors)
    assert "exitcode  : 2" in proc.stderr
