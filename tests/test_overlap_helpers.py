"""Generated mini-runs and test sets for the overlap tests (helpers only, no tests here)."""

from __future__ import annotations

import random
import string
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from webtext.schemas import DOCUMENTS_SCHEMA, document_id


def vocabulary(seed: int, size: int, suffix: str = "") -> list[str]:
    rng = random.Random(seed)
    words = set()
    while len(words) < size:
        words.add("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) + suffix)
    return sorted(words)


def sentence(rng: random.Random, vocab: list[str], n_words: int) -> list[str]:
    return [rng.choice(vocab) for _ in range(n_words)]


def render(words: list[str], rng: random.Random) -> str:
    """Words with capitals and punctuation the normalisation must remove."""
    out = []
    for i, w in enumerate(words):
        if rng.random() < 0.1:
            w = w.capitalize()
        if rng.random() < 0.1 and i + 1 < len(words):
            w += rng.choice([",", ".", ";", " -", "!"])
        out.append(w)
    return " ".join(out)


def write_documents(folder: Path, docs: list[tuple[str, str]], per_shard: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for shard, start in enumerate(range(0, len(docs), per_shard)):
        rows = docs[start : start + per_shard]
        cols = {f.name: [None] * len(rows) for f in DOCUMENTS_SCHEMA}
        cols["id"] = [i for i, _ in rows]
        cols["text"] = [t for _, t in rows]
        table = pa.table(cols, schema=DOCUMENTS_SCHEMA)
        pq.write_table(table, folder / f"part-{shard:05d}.parquet")


def write_split(folder: Path, ids: list[str]) -> None:
    """A token shard as tokenize writes it: Arrow IPC file with id and tokens columns."""
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "tokens": pa.array([[1, 2, 50256]] * len(ids), pa.list_(pa.uint16())),
        }
    )
    path = str(folder / "part-00000.arrow")
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def make_run(root: Path, seed: int = 7) -> dict:
    """60 train docs of 200 words, 6 val docs (2 copies of train docs), 5 docs in no split.

    Returns the train word lists so tests can plant overlaps of known size.
    """
    rng = random.Random(seed)
    vocab = vocabulary(seed, 3000)
    train = [sentence(rng, vocab, 200) for _ in range(60)]
    val = [list(train[3]), list(train[40])] + [sentence(rng, vocab, 200) for _ in range(4)]
    unsplit = [sentence(rng, vocab, 200) for _ in range(5)]  # e.g. too short to tokenize
    docs, train_ids, val_ids = [], [], []
    for kind, group in (("train", train), ("val", val), ("none", unsplit)):
        for i, words in enumerate(group):
            doc_id = document_id(f"https://example.com/{kind}/{i}")
            docs.append((doc_id, render(words, rng)))
            {"train": train_ids, "val": val_ids}.get(kind, []).append(doc_id)
    rng.shuffle(docs)
    write_documents(root / "documents", docs, per_shard=25)
    write_split(root / "shards" / "train", train_ids)
    write_split(root / "shards" / "val", val_ids)
    return {"train": train, "val": val, "unsplit": unsplit, "vocab": vocab}


def planted_test_set(run: dict, seed: int = 11) -> tuple[list[str], dict]:
    """40 test documents: 10 copied from train, 10 half copied, 20 fresh (disjoint words),
    and the exact overlap figures they must give."""
    rng = random.Random(seed)
    fresh_vocab = vocabulary(seed, 500, suffix="q9")  # digits: never a train word
    docs, found, total, any_, half = [], 0, 0, 0, 0
    for i in range(40):
        if i < 10:
            src = run["train"][rng.randrange(60)]
            start = rng.randrange(0, 150)
            words = src[start : start + 30]
            hit = len(words) - 7
        elif i < 20:
            src = run["train"][rng.randrange(60)]
            start = rng.randrange(0, 150)
            words = src[start : start + 20] + sentence(rng, fresh_vocab, 20)
            hit = 20 - 7
        else:
            words = sentence(rng, fresh_vocab, 30 + i)
            hit = 0
        docs.append(render(words, rng))
        found += hit
        total += len(words) - 7
        any_ += hit > 0
        half += hit / (len(words) - 7) > 0.5
    expected = {
        "documents": 40,
        "ngrams": total,
        "ngrams_found": found,
        "documents_any_overlap": any_ / 40,
        "documents_over_half": half / 40,
    }
    return docs, expected
