"""One pages/ shard through the filter chain: cleaned/part-N.parquet and dropped/part-N.parquet.

Plain functions (no Ray) so tests run them directly; `pipelines/clean.py` maps
`clean_shard` over the shards as Ray tasks.
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
from webtext.io import combine_fingerprint, file_digest, write_parquet_atomic
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
STATS_KEY = b"webtext.clean"  # parquet metadata of part-N: fingerprint and shard stats
SORT_KEYS = [("canonical_url", "ascending"), ("url", "ascending")]
BATCH_ROWS = 1024


class CleanInputError(ValueError):
    """A pages/ file that the clean stage cannot read; the message names the file."""


@functools.lru_cache(maxsize=2)
def _cached_chain(clean_json: str, overlap_json: str) -> FilterChain:
    """One chain per config per worker process: models and indexes load once, not per task."""
    chain = build_chain(
        CleanConfig.model_validate_json(clean_json), OverlapConfig.model_validate_json(overlap_json)
    )
    chain.setup()
    return chain


def get_chain(clean: CleanConfig, overlap: OverlapConfig) -> FilterChain:
    chain = _cached_chain(clean.model_dump_json(), overlap.model_dump_json())
    chain.reset_counts()
    return chain


def shard_stats(path: Path) -> dict[str, Any] | None:
    """The stats stored in a finished cleaned/part-N.parquet, or None if absent/unreadable."""
    if not path.exists():
        return None
    try:
        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta[STATS_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None


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


def shard_fingerprint(config_fp: str, pages_path: str | Path) -> str:
    """What cleaned/part-N depends on: the clean config and the bytes of its pages file."""
    return combine_fingerprint(config_fp, file_digest(pages_path))


def clean_shard(
    item: tuple[str, ...],
    *,
    clean: CleanConfig,
    overlap: OverlapConfig,
    fingerprint: str,
) -> dict[str, Any]:
    """Clean one pages file; `item` = (pages file, kept output, dropped output[, shard
    fingerprint]); `fingerprint` is the config's (the shard's is derived when not given).

    Skipped when the kept output exists with the same shard fingerprint (it is written
    last, so its presence means the shard is complete). Returns the shard's stats.
    """
    pages_path, kept_path, dropped_path = (Path(p) for p in item[:3])
    shard_fp = item[3] if len(item) > 3 else shard_fingerprint(fingerprint, pages_path)
    done = shard_stats(kept_path)
    if done is not None and done.get("fingerprint") == shard_fp and dropped_path.exists():
        return {**done, "skipped": True}
    setup_start = time.perf_counter()
    chain = get_chain(clean, overlap)  # loads models once per worker process
    start = time.perf_counter()
    table = read_pages(pages_path)
    kept, dropped = clean_table(table, chain)
    seconds = time.perf_counter() - start
    stats = {
        "fingerprint": shard_fp,
        "shard": pages_path.name,
        "pages": table.num_rows,
        "candidates": chain.seen,
        "kept": kept.num_rows,
        "dropped": dict(sorted(Counter(dropped["reason"].to_pylist()).items())),
        "pii": chain.pii_counts(),
    }
    write_parquet_atomic(dropped_path, dropped)
    # timing stays out of the file, so the same input and config give the same bytes
    meta = {STATS_KEY: json.dumps(stats, sort_keys=True).encode()}
    write_parquet_atomic(kept_path, kept.replace_schema_metadata(meta))
    setup = start - setup_start
    return {
        **stats,
        "seconds": round(seconds, 3),
        "setup_seconds": round(setup, 3),
        "skipped": False,
    }
