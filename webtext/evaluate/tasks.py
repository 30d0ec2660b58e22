"""The three zero-shot tasks. Every text is scored after an `<|endoftext|>` token, as GPT-2
saw document starts in training, so the first real token is predicted too."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

import orjson

from webtext.evaluate.models import LanguageModel
from webtext.overlap.sources import file_format, iter_documents
from webtext.progress import Progress
from webtext.tokenize.gpt2 import EOT_ID, get_encoding


def _read_jsonl(path: str | Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: not valid JSON: {exc}") from None
    return rows


def _log_softmax_at(model: LanguageModel, ids: list[int], targets_from: int) -> list[float]:
    """Log-probabilities of ids[targets_from:], each given everything before it (one pass;
    the caller keeps len(ids) <= model.context)."""
    import torch

    x = torch.tensor([ids[:-1]], dtype=torch.long)
    logp = torch.log_softmax(model.logits(x)[0], dim=-1)
    tgt = torch.tensor(ids[targets_from:], dtype=torch.long, device=logp.device)
    rows = torch.arange(targets_from - 1, len(ids) - 1, device=logp.device)
    return logp[rows, tgt].tolist()


def sequence_nll(model: LanguageModel, tokens: list[int], stride: int) -> tuple[float, int]:
    """Total negative log-likelihood of `tokens` after an `<|endoftext|>`, sliding a window of
    `model.context` tokens forward by `stride`; each token is scored once, with up to
    `context - stride` tokens of extra left context (HF's perplexity recipe)."""
    ids = [EOT_ID, *tokens]
    ctx = model.context
    stride = max(1, min(stride, ctx))
    nll, count, scored_to = 0.0, 0, 1  # ids[:scored_to] have been scored (EOT never is)
    while scored_to < len(ids):
        end = min(scored_to + stride, len(ids))
        begin = max(0, end - ctx - 1)  # window ids[begin:end] has <= ctx inputs
        logps = _log_softmax_at(model, ids[begin:end], scored_to - begin)
        nll -= sum(logps)
        count += len(logps)
        scored_to = end
    return nll, count


def perplexity(model: LanguageModel, path: str | Path, stride: int | None = None) -> dict:
    """Token- and word-level perplexity and bits per byte. A plain-text file is one stream;
    JSON lines / Parquet are scored document by document (`text`)."""
    enc = get_encoding()
    stride = stride or model.context // 2
    texts = (
        [Path(path).read_text(encoding="utf-8")]
        if file_format(path) == "text"
        else list(iter_documents(path))
    )
    nll = 0.0
    tokens = words = nbytes = 0
    with Progress(len(texts), "eval perplexity", "doc") as bar:
        for text in texts:
            ids = enc.encode_ordinary(text)
            doc_nll, n = sequence_nll(model, ids, stride)
            nll += doc_nll
            tokens += n
            words += len(text.split())
            nbytes += len(text.encode("utf-8"))
            bar.update()
    if not tokens:
        raise ValueError(f"{path}: no text to score")
    return {
        "documents": len(texts),
        "tokens": tokens,
        "words": words,
        "bytes": nbytes,
        "stride": stride,
        "context": model.context,
        "nll": nll,
        "token_perplexity": math.exp(nll / tokens),
        "word_perplexity": math.exp(nll / max(words, 1)),
        "bits_per_byte": nll / math.log(2) / max(nbytes, 1),
    }


def _clip(ids: list[int], ctx: int) -> list[int]:
    """Keep the last ctx+1 ids (the first of them is input only)."""
    return ids[-(ctx + 1) :]


def lambada(model: LanguageModel, path: str | Path) -> dict:
    """Last-word accuracy: the example is right when greedy decoding from the context
    produces every token of the last word (each target token is the argmax given the
    context and the target's earlier tokens), and the target word's perplexity."""
    import torch

    enc = get_encoding()
    rows = _read_jsonl(path)
    correct = 0
    nll = 0.0
    target_tokens = 0
    with Progress(len(rows), "eval lambada", "example") as bar:
        for i, row in enumerate(rows):
            text = row.get("text") if isinstance(row, dict) else None
            if not isinstance(text, str) or len(text.split()) < 2:
                raise ValueError(f"{path}: example {i + 1} needs a 'text' of two or more words")
            context, _, word = text.rstrip().rpartition(" ")
            ctx_ids = [EOT_ID, *enc.encode_ordinary(context)]
            tgt_ids = enc.encode_ordinary(" " + word)
            ids = _clip(ctx_ids + tgt_ids, model.context)
            tgt_ids = tgt_ids[-(len(ids) - 1) :]  # a target longer than the context: its tail
            start = len(ids) - len(tgt_ids)
            x = torch.tensor([ids[:-1]], dtype=torch.long)
            logits = model.logits(x)[0, start - 1 :]
            tgt = torch.tensor(tgt_ids, device=logits.device)
            correct += bool((logits.argmax(-1) == tgt).all())
            nll -= torch.log_softmax(logits, -1)[torch.arange(len(tgt_ids)), tgt].sum().item()
            target_tokens += len(tgt_ids)
            bar.update()
    if not rows:
        raise ValueError(f"{path}: no examples")
    return {
        "examples": len(rows),
        "correct": correct,
        "accuracy": correct / len(rows),
        "target_perplexity": math.exp(nll / len(rows)),
        "target_token_perplexity": math.exp(nll / max(target_tokens, 1)),
    }


def cloze_scores(
    model: LanguageModel, context: str, question: str, candidates: Iterable[str], placeholder: str
) -> list[float]:
    """Total log-probability of the question with each candidate filled in, given the context."""
    enc = get_encoding()
    ctx_ids = [EOT_ID, *enc.encode_ordinary(context.rstrip())]
    scores = []
    for cand in candidates:
        filled = re.sub(re.escape(placeholder), lambda _m, c=cand: c, question)
        q_ids = enc.encode_ordinary(" " + filled.strip())
        ids = _clip(ctx_ids + q_ids, model.context)
        start = max(1, len(ids) - len(q_ids))  # a question longer than the context: its tail
        scores.append(sum(_log_softmax_at(model, ids, start)))
    return scores


def cloze(model: LanguageModel, path: str | Path, placeholder: str = "XXXXX") -> dict:
    """CBT-style: pick the candidate whose filled-in question is most probable."""
    rows = _read_jsonl(path)
    correct = 0
    with Progress(len(rows), "eval cloze", "example") as bar:
        for i, row in enumerate(rows):
            missing = [k for k in ("context", "question", "candidates", "answer") if k not in row]
            if missing:
                raise ValueError(f"{path}: example {i + 1} lacks {', '.join(missing)}")
            if placeholder not in row["question"]:
                raise ValueError(f"{path}: example {i + 1}: question has no {placeholder!r}")
            if row["answer"] not in row["candidates"]:
                raise ValueError(f"{path}: example {i + 1}: answer is not a candidate")
            scores = cloze_scores(
                model, row["context"], row["question"], row["candidates"], placeholder
            )
            best = max(range(len(scores)), key=scores.__getitem__)
            correct += row["candidates"][best] == row["answer"]
            bar.update()
    if not rows:
        raise ValueError(f"{path}: no examples")
    return {"examples": len(rows), "correct": correct, "accuracy": correct / len(rows)}
