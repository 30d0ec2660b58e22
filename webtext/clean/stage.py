"""One pages/ shard through the filter chain: cleaned/part-N.parquet and dropped/part-N.parquet.

Plain functions (no Ray) so tests run them directly; `pipelines/clean.py` declares the
stage and the driver (`pipelines/engine.py`) runs `clean_shard` once per pages file.
"""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webtext.clean.base import FilterChain
from webtext.clean.chain import build_chain
from webtext.config import CleanConfig, OverlapConfig
from webtext.io import write_parquet_atomic
from webtext.progress import count
from webtext.schemas import PAGES_SCHEMA, with_url_original

# cleaned/part-N.parquet: the kept pages with their language
CLEANED_SCHEMA = pa.schema(
    [*PAGES_SCHEMA, pa.field("lang", pa.string()), pa.field("lang_prob", pa.float64())]
)
# dropped/part-N.parquet: one row per page a filter dropped
DROPPED_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string()),
        pa.field("canonical_url", pa.string()),
        pa.field("reason", pa.string()),  # clean:<filter name>
        pa.field("detail", pa.string()),
    ]
)
SORT_KEYS = [("canonical_url", "ascending"), ("url", "ascending")]
BATCH_ROWS = 1024


class CleanInputError(ValueError):
    """A pages/ file that the clean stage cannot read; the message names the file."""


def reference_files(clean: CleanConfig) -> list[list[Any]]:
    """Path, size and mtime of the Wikipedia text and test files the filters read: a file
    changed in place changes what clean drops (too big to hash on every run, like dumps)."""
    from webtext.io import stat_identity

    files = [*([clean.wikipedia_text] if clean.wikipedia_text else []), *clean.decontaminate]
    return [stat_identity([Path(f)])[0] if Path(f).is_file() else [f, None, None] for f in files]


@functools.lru_cache(maxsize=2)
def _cached_chain(clean_json: str, overlap_json: str, references: str) -> FilterChain:
    """One chain per config (and reference files as they are) per worker process: models
    and indexes load once, not per task."""
    chain = build_chain(
        CleanConfig.model_validate_json(clean_json), OverlapConfig.model_validate_json(overlap_json)
    )
    chain.setup()
    return chain


def get_chain(clean: CleanConfig, overlap: OverlapConfig) -> FilterChain:
    references = json.dumps(reference_files(clean))
    chain = _cached_chain(clean.model_dump_json(), overlap.model_dump_json(), references)
    chain.reset_counts()
    return chain


def clean_table(table: pa.Table, chain: FilterChain) -> tuple[pa.Table, pa.Table]:
    """(kept rows with lang/lang_prob, dropped rows) of the `ok` rows of one pages table."""
    ok = table.filter(pc.equal(table["fetch_status"], "ok"))
    count(table.num_rows - ok.num_rows, "documents")  # progress: pages judged, failed too
    kept_parts: list[pa.Table] = []
    dropped: dict[str, list[Any]] = {name: [] for name in DROPPED_SCHEMA.names}
    for batch in ok.to_batches(max_chunksize=BATCH_ROWS):
        mask, langs, probs, texts = [], [], [], []
        for page in batch.to_pylist():
            decision = chain.check(page)
            mask.append(decision.kept)
            if decision.kept:
                langs.append(page.get("lang"))
                probs.append(page.get("lang_prob"))
                texts.append(page.get("text"))  # as the filters left it (PII redacted)
            else:
                dropped["url"].append(page.get("url"))
                dropped["canonical_url"].append(page.get("canonical_url"))
                dropped["reason"].append(decision.reason)
                dropped["detail"].append(decision.detail)
        count(batch.num_rows, "documents")
        kept = pa.Table.from_batches([batch]).filter(pa.array(mask, pa.bool_()))
        at = kept.schema.get_field_index("text")
        kept = kept.set_column(at, kept.schema.field(at), pa.array(texts, pa.string()))
        kept = kept.append_column("lang", pa.array(langs, pa.string()))
        kept_parts.append(kept.append_column("lang_prob", pa.array(probs, pa.float64())))
    kept_table = (
        pa.concat_tables(kept_parts).cast(CLEANED_SCHEMA)
        if kept_parts
        else CLEANED_SCHEMA.empty_table()
    )
    dropped_table = pa.table(dropped, schema=DROPPED_SCHEMA)
    return kept_table.sort_by(SORT_KEYS), dropped_table.sort_by(SORT_KEYS)


def read_pages(path: Path) -> pa.Table:
    try:
        table = with_url_original(pq.read_table(path))
    except (OSError, pa.ArrowException) as exc:
        raise CleanInputError(f"{path}: not a readable parquet file: {exc}") from exc
    missing = [name for name in PAGES_SCHEMA.names if name not in table.column_names]
    if missing:
        raise CleanInputError(f"{path}: not a pages/ file, missing columns {missing}")
    try:
        return table.select(PAGES_SCHEMA.names).cast(PAGES_SCHEMA)
    except (pa.ArrowException, ValueError) as exc:
        raise CleanInputError(f"{path}: columns do not match the pages schema: {exc}") from exc


def clean_shard(
    item: tuple[str, str, str], *, clean: CleanConfig, overlap: OverlapConfig
) -> dict[str, Any]:
    """Clean one pages file: `item` = (pages file, kept output, dropped output).

    dropped/ is written first and cleaned/ last, each atomically; the driver records the
    task as done only after both. Returns the shard's stats.
    """
    pages_path, kept_path, dropped_path = (Path(p) for p in item[:3])
    setup_start = time.perf_counter()
    chain = get_chain(clean, overlap)  # loads models once per worker process
    start = time.perf_counter()
    table = read_pages(pages_path)
    kept, dropped = clean_table(table, chain)
    seconds = time.perf_counter() - start
    write_parquet_atomic(dropped_path, dropped)
    write_parquet_atomic(kept_path, kept)
    return {
        "shard": pages_path.name,
        "pages": table.num_rows,
        "candidates": chain.seen,
        "kept": kept.num_rows,
        "dropped": dict(sorted(Counter(dropped["reason"].to_pylist()).items())),
        "pii": chain.pii_counts(),
        "seconds": round(seconds, 3),
        "setup_seconds": round(start - setup_start, 3),
    }


def summarise(results: list[dict[str, Any]], wall_seconds: float) -> dict[str, Any]:
    """The stage's stats from its tasks' (skipped tasks count in totals, not in speed)."""
    dropped: Counter[str] = Counter()
    pii: Counter[str] = Counter()
    for r in results:
        dropped.update(r["dropped"])
        pii.update(r.get("pii") or {})
    processed = [r for r in results if not r.get("skipped")]
    docs = sum(r["candidates"] for r in processed)
    task_seconds = sum(r["seconds"] for r in processed)
    return {
        "shards": len(results),
        "shards_skipped": len(results) - len(processed),
        "pages": sum(r["pages"] for r in results),
        "candidates": sum(r["candidates"] for r in results),
        "kept": sum(r["kept"] for r in results),
        "dropped": sum(dropped.values()),
        "dropped_by_reason": dict(sorted(dropped.items())),
        "pii_redacted": dict(sorted(pii.items())),  # personal data replaced, per kind
        "docs_per_s": round(docs / wall_seconds, 1) if docs and wall_seconds > 0 else None,
        # per task = per core: time spent cleaning, without the one-off model loading
        "docs_per_s_per_task": round(docs / task_seconds, 1) if docs and task_seconds else None,
        "setup_seconds": round(sum(r.get("setup_seconds", 0.0) for r in processed), 2),
        "wall_seconds": round(wall_seconds, 2),
    }


def summary_line(stats: dict[str, Any]) -> str:
    reasons = ", ".join(
        f"{k.removeprefix('clean:')} {v}" for k, v in stats["dropped_by_reason"].items()
    )
    return (
        f"{stats['shards']} shards, {stats['candidates']} candidate pages: kept {stats['kept']}, "
        f"dropped {stats['dropped']} ({reasons or 'none'}); {stats['docs_per_s']} docs/s"
    )
