"""Zero-shot eval on a tiny checkpoint: our numbers equal a direct transformers computation on
the exported model, and our checkpoint and its HF export give the same results."""

from __future__ import annotations

import json
import math
import random

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from webtext.evaluate import tasks  # noqa: E402
from webtext.evaluate.models import load_lm  # noqa: E402
from webtext.tokenize.gpt2 import EOT_ID, get_encoding  # noqa: E402

WORDS = [
    "the",
    "a",
    "river",
    "house",
    "quiet",
    "morning",
    "bread",
    "window",
    "garden",
    "stone",
    "letter",
    "music",
    "old",
    "young",
    "bright",
    "cold",
    "walked",
    "found",
    "said",
    "looked",
    "under",
    "over",
    "after",
    "before",
    "slowly",
    "suddenly",
]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from webtext.train.checkpoint import save_checkpoint
    from webtext.train.hf import export_hf
    from webtext.train.model import GPT
    from webtext.train.presets import GPTConfig

    root = tmp_path_factory.mktemp("eval")
    torch.manual_seed(0)
    config = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=64)
    model = GPT(config)
    with torch.no_grad():  # sharper distributions, so argmax has clear margins
        model.transformer.ln_f.weight.fill_(30.0)
    ckpt = save_checkpoint(
        root / "train", 1, {"model": model.state_dict(), "model_config": config.to_dict()}
    )
    hf_dir = export_hf(ckpt, root / "hf")
    hf = transformers.GPT2LMHeadModel.from_pretrained(str(hf_dir)).eval()
    return {"ckpt": ckpt, "hf_dir": hf_dir, "hf": hf, "root": root}


def _hf_logprobs(hf, ids: list[int]) -> torch.Tensor:
    """log p(ids[t] | ids[:t]) for t >= 1, straight from transformers."""
    with torch.no_grad():
        logits = hf(torch.tensor([ids[:-1]])).logits[0]
    return torch.log_softmax(logits, -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def test_perplexity_matches_transformers(models, tmp_path):
    enc = get_encoding()
    text = _text(random.Random(1), 30) + ".\n"
    (tmp_path / "short.txt").write_text(text)
    ids = [EOT_ID, *enc.encode_ordinary(text)]
    assert len(ids) <= 64
    direct_nll = -_hf_logprobs(models["hf"], ids).sum().item()
    for path in (models["ckpt"], models["hf_dir"], models["ckpt"].parent):
        got = tasks.perplexity(load_lm(path, "cpu"), tmp_path / "short.txt")
        assert got["tokens"] == len(ids) - 1
        assert got["nll"] == pytest.approx(direct_nll, rel=1e-4)
        assert got["token_perplexity"] == pytest.approx(math.exp(direct_nll / (len(ids) - 1)))
        assert got["word_perplexity"] == pytest.approx(math.exp(direct_nll / 30), rel=1e-4)


def test_sliding_window_scores_every_token_once_with_context(models, tmp_path):
    enc = get_encoding()
    text = _text(random.Random(2), 110)
    (tmp_path / "long.txt").write_text(text)
    n = len(enc.encode_ordinary(text))
    assert n > 64 + 24
    lm = load_lm(models["ckpt"], "cpu")
    full = tasks.perplexity(lm, tmp_path / "long.txt", stride=64)
    half = tasks.perplexity(lm, tmp_path / "long.txt", stride=24)
    assert full["tokens"] == half["tokens"] == n
    # direct: each token after stride-24 windows of 64, computed by hand with transformers
    ids = [EOT_ID, *enc.encode_ordinary(text)]
    nll, done = 0.0, 1
    while done < len(ids):
        end = min(done + 24, len(ids))
        begin = max(0, end - 65)
        lp = _hf_logprobs(models["hf"], ids[begin:end])
        nll -= lp[done - begin - 1 :].sum().item()
        done = end
    assert half["nll"] == pytest.approx(nll, rel=1e-4)
    hf_half = tasks.perplexity(load_lm(models["hf_dir"], "cpu"), tmp_path / "long.txt", 24)
    assert hf_half["nll"] == pytest.approx(half["nll"], rel=1e-4)


def _greedy_word_examples(hf, rng: random.Random, want: int) -> list[str]:
    """Texts whose last word is exactly the model's confident greedy continuation."""
    enc = get_encoding()
    out = []
    while len(out) < want:
        context = _text(rng, rng.randint(5, 20))
        ids = [EOT_ID, *enc.encode_ordinary(context)]
        with torch.no_grad():
            logits = hf(torch.tensor([ids])).logits[0, -1]
        top = torch.topk(logits, 2)
        token = enc.decode([int(top.indices[0])])
        word = token[1:]
        if (
            token.startswith(" ")
            and word.isalpha()
            and enc.encode_ordinary(" " + word) == [int(top.indices[0])]
            and (top.values[0] - top.values[1]).item() > 1e-2
        ):
            out.append(f"{context} {word}")
    return out


def test_lambada_matches_transformers(models, tmp_path):
    enc = get_encoding()
    rng = random.Random(3)
    right = _greedy_word_examples(models["hf"], rng, 3)
    wrong = [f"{_text(rng, 12)} xylophonic" for _ in range(3)]
    path = tmp_path / "lambada.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in right + wrong))
    # direct: argmax over every target token, and the target's log-probability
    correct, nll = 0, 0.0
    for text in right + wrong:
        context, _, word = text.rpartition(" ")
        ctx = [EOT_ID, *enc.encode_ordinary(context)]
        tgt = enc.encode_ordinary(" " + word)
        with torch.no_grad():
            logits = models["hf"](torch.tensor([ctx + tgt[:-1]])).logits[0, len(ctx) - 1 :]
        correct += bool((logits.argmax(-1) == torch.tensor(tgt)).all())
        nll -= torch.log_softmax(logits, -1)[torch.arange(len(tgt)), torch.tensor(tgt)].sum().item()
    assert correct >= 3  # the planted right answers
    for path_ in (models["ckpt"], models["hf_dir"]):
        got = tasks.lambada(load_lm(path_, "cpu"), path)
        assert got["examples"] == 6
        assert got["correct"] == correct
        assert got["target_perplexity"] == pytest.approx(math.exp(nll / 6), rel=1e-4)


def test_cloze_matches_transformers(models, tmp_path):
    enc = get_encoding()
    rng = random.Random(4)
    rows, expected_correct = [], 0
    for i in range(4):
        context = _text(rng, 25) + "."
        question = f"then the XXXXX {_text(rng, 4)}."
        candidates = rng.sample(WORDS, 3)
        scores = []
        for cand in candidates:
            q = enc.encode_ordinary(" " + question.replace("XXXXX", cand))
            ids = [EOT_ID, *enc.encode_ordinary(context), *q]
            scores.append(_hf_logprobs(models["hf"], ids)[-len(q) :].sum().item())
        order = sorted(range(3), key=lambda j: -scores[j])
        assert scores[order[0]] - scores[order[1]] > 1e-3
        answer = candidates[order[0]] if i % 2 == 0 else candidates[order[1]]
        expected_correct += i % 2 == 0
        rows.append(
            {"context": context, "question": question, "candidates": candidates, "answer": answer}
        )
        if i == 0:
            lm = load_lm(models["ckpt"], "cpu")
            got = tasks.cloze_scores(lm, context, question, candidates, "XXXXX")
            assert got == pytest.approx(scores, rel=1e-4, abs=1e-3)
    path = tmp_path / "cbt.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    for path_ in (models["ckpt"], models["hf_dir"]):
        got = tasks.cloze(load_lm(path_, "cpu"), path)
        assert got == {"examples": 4, "correct": expected_correct, "accuracy": expected_correct / 4}


def test_eval_cli_writes_json(models, tmp_path, capsys):
    from webtext.cli import main

    (tmp_path / "t.jsonl").write_text(json.dumps({"text": _text(random.Random(5), 20)}) + "\n")
    out = tmp_path / "res.json"
    code = main(
        ["eval", str(models["ckpt"]), "--task", "perplexity", "--data", str(tmp_path / "t.jsonl"),
         "--out", str(out), "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    result = json.loads(out.read_text())
    assert result["task"] == "perplexity" and result["model"] == "webtext"
    assert result["documents"] == 1 and result["token_perplexity"] > 1
    assert "token_perplexity" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"context": "c", "question": "no blank", "candidates": ["a"], "answer": "a"}\n')
    assert main(["eval", str(models["hf_dir"]), "--task", "cloze", "--data", str(bad)]) == 2
