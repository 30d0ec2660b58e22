"""`webtext export-hf`: our random-weight model and transformers' GPT2LMHeadModel loaded from
the export give the same logits (fp32, 1e-4)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from webtext.cli import main as cli_main  # noqa: E402
from webtext.train.checkpoint import load_model, save_checkpoint  # noqa: E402
from webtext.train.hf import export_hf  # noqa: E402
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
