"""`webtext export-hf`: our random-weight model and transformers' GPT2LMHeadModel loaded from
the export give the same logits (fp32, 1e-4); a trained tiny model's export loads offline
with AutoTokenizer + pipeline("text-generation"), its tokenizer equals tiktoken, and
`webtext sample` reads the folder back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tests.test_tokenize_encode import TRICKY  # noqa: E402
from webtext.cli import main as cli_main  # noqa: E402
from webtext.io import file_mode  # noqa: E402
from webtext.tokenize.gpt2 import get_encoding  # noqa: E402
from webtext.train.checkpoint import load_model, save_checkpoint  # noqa: E402
from webtext.train.hf import export_hf, load_hf_model  # noqa: E402
from webtext.train.hf_tokenizer import TOKENIZER_FILES  # noqa: E402
from webtext.train.model import GPT  # noqa: E402
from webtext.train.presets import PRESETS  # noqa: E402


def random_model(seed: int = 0) -> GPT:
    """Tiny GPT with every weight random and large enough that a layout mistake shows."""
    torch.manual_seed(seed)
    model = GPT(PRESETS["tiny"].with_(n_layer=3, block_size=64))
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(0.0, 0.3 if "wte" in name or "wpe" in name else 0.1)
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight"):
                p.add_(1.0)
        model.transformer.wte.weight[model.config.vocab_size :].zero_()
    return model.eval()


def test_export_hf_logits_match_transformers(tmp_path):
    model = random_model()
    ckpt_dir = tmp_path / "train"
    save_checkpoint(
        ckpt_dir, 7, {"model": model.state_dict(), "model_config": model.config.to_dict()}
    )
    out = tmp_path / "hf"
    assert cli_main(["export-hf", str(ckpt_dir), str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["GPT2LMHeadModel"] and config["vocab_size"] == 50257
    hf = transformers.GPT2LMHeadModel.from_pretrained(out, attn_implementation="eager").eval()
    assert hf.transformer.wte.weight.shape == (50257, 64)  # no padding rows
    ids = torch.randint(0, 50257, (3, 64), generator=torch.Generator().manual_seed(1))
    ids[0, :4] = torch.tensor([50256, 0, 50256, 50255])  # edges of the vocabulary
    with torch.no_grad():
        ours = load_model(ckpt_dir)(ids)[0]
        theirs = hf(ids).logits
    assert ours.shape == theirs.shape == (3, 64, 50257)
    assert ours.abs().max() > 1.0  # the comparison is not between near-zero numbers
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)
    # HF ties lm_head to wte, as we do
    assert hf.lm_head.weight.data_ptr() == hf.transformer.wte.weight.data_ptr()


def test_export_hf_from_file_path_and_bad_input(tmp_path):
    model = random_model(1)
    path = save_checkpoint(
        tmp_path, 1, {"model": model.state_dict(), "model_config": model.config.to_dict()}
    )
    assert export_hf(path, tmp_path / "hf") == tmp_path / "hf"
    assert (tmp_path / "hf" / "model.safetensors").stat().st_size > 0
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        export_hf(tmp_path / "hf", tmp_path / "again")


EXPORTED = {"config.json", "generation_config.json", "model.safetensors", *TOKENIZER_FILES}


def trained_tiny(tmp_path, steps: int = 40):
    """A tiny GPT trained for a few AdamW steps on template sentences (seconds on CPU)."""
    enc = get_encoding()
    words = ["the cat sees the red house.", "a dog likes a green apple.", "my friend paints."]
    text = " ".join(words[(i * 7) % 3] for i in range(400))
    data = torch.tensor(enc.encode_ordinary(text), dtype=torch.long)
    torch.manual_seed(0)
    model = GPT(PRESETS["tiny"].with_(block_size=64))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        starts = torch.randint(0, len(data) - 65, (8,), generator=gen)
        batch = torch.stack([data[s : s + 65] for s in starts.tolist()])
        _, loss = model(batch[:, :-1], batch[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 2.0  # it did learn
    ckpt = tmp_path / "train"
    save_checkpoint(
        ckpt, steps, {"model": model.state_dict(), "model_config": model.config.to_dict()}
    )
    return ckpt


OFFLINE_CHECK = textwrap.dedent(
    """
    import json, sys
    from transformers import AutoTokenizer, GPT2LMHeadModel, pipeline

    out, texts = sys.argv[1], json.loads(sys.argv[2])
    tok = AutoTokenizer.from_pretrained(out)
    split = AutoTokenizer.from_pretrained(out, split_special_tokens=True)
    model = GPT2LMHeadModel.from_pretrained(out)
    pipe = pipeline("text-generation", model=model, tokenizer=tok, device="cpu")
    gen = pipe("the cat", max_new_tokens=12, do_sample=False)[0]["generated_text"]
    by_path = pipeline("text-generation", model=out, device="cpu")
    gen2 = by_path("a dog", max_new_tokens=8, do_sample=True)[0]["generated_text"]
    print(json.dumps({
        "len": len(tok), "eos": tok.eos_token, "bos": tok.bos_token,
        "eos_id": tok.eos_token_id, "class": type(tok).__name__,
        "ids": [tok(t)["input_ids"] for t in texts],
        "split_ids": [split(t)["input_ids"] for t in texts],
        "decoded": [tok.decode(tok(t)["input_ids"]) for t in texts],
        "generated": gen, "generated_by_path": gen2,
    }))
    """
)


def test_export_hf_offline_pipeline_and_tokenizer_equal_tiktoken(tmp_path, capsys):
    ckpt = trained_tiny(tmp_path)
    out = tmp_path / "hf"
    assert cli_main(["export-hf", str(ckpt), str(out)]) == 0
    assert "wrote GPT2LMHeadModel" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == EXPORTED
    for path in out.iterdir():  # the user's umask, not mkstemp's 0600
        assert path.stat().st_mode & 0o777 == file_mode(), path.name

    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "empty-hf-home"),  # no cached GPT-2 to fall back on
    }
    proc = subprocess.run(
        [sys.executable, "-c", OFFLINE_CHECK, str(out), json.dumps(TRICKY)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["len"] == 50257 and got["eos"] == got["bos"] == "<|endoftext|>"
    assert got["eos_id"] == 50256
    enc = get_encoding()
    for text, ids, split_ids, decoded in zip(
        TRICKY, got["ids"], got["split_ids"], got["decoded"], strict=True
    ):
        # by default the literal special token is 50256, as tiktoken with allowed_special
        assert ids == enc.encode(text, allowed_special="all"), text
        # split_special_tokens: ordinary text, as the tokenize stage encodes documents
        assert split_ids == enc.encode_ordinary(text), text
        assert decoded == text
    assert got["generated"].startswith("the cat") and got["generated"][7:].strip()
    assert got["generated_by_path"].startswith("a dog") and got["generated_by_path"][5:].strip()

    # `webtext sample` reads the HF folder back: greedy text equals the checkpoint's
    argv = ["--prompt", "the cat", "--max-new-tokens", "12", "--temperature", "0"]
    assert cli_main(["sample", str(ckpt), *argv]) == 0
    from_ckpt = capsys.readouterr().out
    assert cli_main(["sample", str(out), *argv]) == 0
    assert capsys.readouterr().out == from_ckpt
    assert from_ckpt.strip() == got["generated"].strip()  # and equals transformers' greedy
    with torch.no_grad():
        ids = torch.tensor([enc.encode_ordinary(TRICKY[8])])
        torch.testing.assert_close(
            load_hf_model(out)(ids)[0], load_model(ckpt)(ids)[0], atol=1e-5, rtol=0
        )


def test_export_hf_refuses_non_empty_folder_and_overwrite_leaves_only_new_files(tmp_path, capsys):
    model = random_model(2)
    ckpt = save_checkpoint(
        tmp_path / "train", 1, {"model": model.state_dict(), "model_config": model.config.to_dict()}
    )
    out = tmp_path / "hf"
    out.mkdir()
    (out / "stale.bin").write_bytes(b"old")
    assert cli_main(["export-hf", str(ckpt), str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert {p.name for p in out.iterdir()} == {"stale.bin"}  # untouched
    assert cli_main(["export-hf", str(ckpt), str(out), "--overwrite"]) == 0
    assert {p.name for p in out.iterdir()} == EXPORTED
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left
    # OUT = the training folder (or one holding it) would delete the checkpoint: refused
    for bad in (tmp_path / "train", tmp_path):
        assert cli_main(["export-hf", str(tmp_path / "train"), str(bad), "--overwrite"]) == 1
        assert "input" in capsys.readouterr().err
    assert os.path.isfile(ckpt)


def test_sample_on_a_folder_without_a_model_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("nothing here")
    assert cli_main(["sample", str(tmp_path), "--max-new-tokens", "1"]) == 1
    err = capsys.readouterr().err
    assert "no checkpoint" in err and "Traceback" not in err


def test_sample_on_a_damaged_hf_folder_is_a_clear_error(tmp_path, capsys):
    """A cut-short model.safetensors or weights of another shape: one error line naming the
    folder, no traceback."""
    from webtext.train.hf import export_hf

    model = random_model(3)
    ckpt = save_checkpoint(
        tmp_path / "train", 1, {"model": model.state_dict(), "model_config": model.config.to_dict()}
    )
    out = export_hf(ckpt, tmp_path / "hf")
    weights = (out / "model.safetensors").read_bytes()
    (out / "model.safetensors").write_bytes(weights[:100])
    assert cli_main(["sample", str(out), "--max-new-tokens", "1"]) == 1
    err = capsys.readouterr().err
    assert "model.safetensors" in err and "Traceback" not in err
    (out / "model.safetensors").write_bytes(weights)
    cfg = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**cfg, "n_embd": cfg["n_embd"] * 2}))
    assert cli_main(["sample", str(out), "--max-new-tokens", "1"]) == 1
    err = capsys.readouterr().err
    assert str(out) in err and "Traceback" not in err


def test_sample_on_an_unusable_device_is_a_clear_error(tmp_path, capsys):
    model = random_model(4)
    ckpt = save_checkpoint(
        tmp_path / "train", 1, {"model": model.state_dict(), "model_config": model.config.to_dict()}
    )
    bad = ["bogus"] + ([] if torch.cuda.is_available() else ["cuda"])
    for device in bad:
        argv = ["sample", str(ckpt), "--max-new-tokens", "1", "--device", device]
        assert cli_main(argv) == 1
        err = capsys.readouterr().err
        assert "--device" in err and "Traceback" not in err
