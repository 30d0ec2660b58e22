"""Synthetic dedup inputs for tests and the benchmark: cleaned shards, planted Jaccard."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from webtext.io import shard_name, write_parquet_atomic
from webtext.paths import RunPaths
from webtext.schemas import PAGES_SCHEMA

CLEANED_SCHEMA = pa.schema([*PAGES_SCHEMA, pa.field("lang", pa.string()),
                            pa.field("lang_prob", pa.float64())])  # fmt: skip
WORDS = [f"w{i}x" for i in range(5000)]


def article(rng: random.Random, words: int = 300) -> str:
    """Random prose: sentences of random vocabulary words."""
    out = []
    for _ in range(words // 12):
        sentence = " ".join(rng.choice(WORDS) for _ in range(12))
        out.append(sentence.capitalize() + ".")
    return " ".join(out)


def edit(rng: random.Random, text: str, changes: int) -> str:
    """A near duplicate: `changes` words replaced (about 5 x changes shingles change)."""
    words = text.split(" ")
    for _ in range(changes):
        words[rng.randrange(len(words))] = rng.choice(WORDS)
    return " ".join(words)


def page(url: str, text: str, **extra: Any) -> dict[str, Any]:
    row = {field.name: None for field in CLEANED_SCHEMA}
    host = url.split("/")[2]
    row.update(
        url=url,
        canonical_url=url.replace("http://", "https://").replace("www.", ""),
        final_url=url,
        fetch_status="ok",
        http_status=200,
        content_type="text/html",
        bytes=len(text),
        fetch_ms=5,
        title=f"title of {url}",
        text=text,
        extractor="trafilatura",
        domain=host.removeprefix("www."),
        score=3,
        num_submissions=1,
        submission_ids=[f"s-{abs(hash(url)) % 10**6}"],
        subreddits=["news"],
        first_created_utc=1_500_000_000,
        lang="en",
        lang_prob=0.99,
    )
    row.update(extra)
    return row


def write_cleaned(
    run_dir: Path, shards: list[list[dict[str, Any]]], row_group_size: int = 1000
) -> None:
    """cleaned/part-N.parquet for each list of rows, plus dropped/part-N.parquet (clean's
    dropped rows), which dedup must ignore."""
    for i, rows in enumerate(shards):
        table = pa.Table.from_pylist(rows, schema=CLEANED_SCHEMA)
        write_parquet_atomic(
            run_dir / "cleaned" / shard_name(i), table, row_group_size=row_group_size
        )
        dropped = pa.table({"url": ["https://x.test/dropped"], "canonical_url": ["x"],
                            "reason": ["clean:language"], "detail": [""]})  # fmt: skip
        write_parquet_atomic(RunPaths.of(run_dir).dropped / shard_name(i), dropped)


def random_corpus(n: int, dup_fraction: float = 0.2, seed: int = 0) -> list[dict[str, Any]]:
    """`n` pages, about `dup_fraction` of them near or exact copies of earlier ones."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        url = f"https://site{i % 37}.test/a/{i}"
        if rows and rng.random() < dup_fraction:
            base = rows[rng.randrange(len(rows))]["text"]
            text = base if rng.random() < 0.5 else edit(rng, base, 3)
        else:
            text = article(rng, rng.randint(120, 600))
        rows.append(page(url, text, score=rng.randint(3, 500),
                         first_created_utc=1_500_000_000 + rng.randint(0, 10**7)))  # fmt: skip
    return rows


def planted_pairs(
    jaccards: np.ndarray, union: int = 400, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Two shingle-hash sets per Jaccard value, with exactly that Jaccard (rounded).

    Returns flat uint32 hashes and offsets of 2 x len(jaccards) documents: pair k is
    documents 2k and 2k+1. Hashes are distinct across pairs.
    """
    rng = np.random.default_rng(seed)
    pool = rng.permutation(np.arange(1, 2**32 - 1, 2**32 // (union * len(jaccards) * 2),
                                     dtype=np.uint64))[: union * len(jaccards)]  # fmt: skip
    pool = pool.astype(np.uint32)
    docs = []
    for k, j in enumerate(jaccards):
        items = pool[k * union : (k + 1) * union]
        common = int(round(j * union))
        rest = items[common:]
        half = len(rest) // 2
        docs.append(np.concatenate([items[:common], rest[:half]]))
        docs.append(np.concatenate([items[:common], rest[half:]]))
    offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum([len(d) for d in docs], out=offsets[1:])
    return np.concatenate(docs), offsets
