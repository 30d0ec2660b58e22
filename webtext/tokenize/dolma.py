"""documents/ -> dolma-style `.jsonl.gz` documents, for dolma and datatrove pipelines.

One gzip JSON-lines file per documents/ partition (`part-00000.jsonl.gz`), one line per
document, in the partition's order:

    {"id": ..., "text": ..., "source": "webtext", "added": "2026-...Z",
     "created": "2016-...Z", "metadata": {"score": 12, "subreddits": [...], "url": ...}}

`created` is the first Reddit submission of the URL (null when unknown); `added` is when the
documents were made (the dedup stage's finish time), so a re-export writes the same bytes
(gzip header without a timestamp).
"""

from __future__ import annotations

import gzip
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from webtext.io import StageMarker, atomic_path
from webtext.paths import RunPaths

SOURCE = "webtext"
COLUMNS = ["id", "text", "url", "score", "subreddits", "first_created_utc"]


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def documents_added(run_dir: str | Path) -> float:
    """When the corpus was made: the dedup marker's time, else the newest documents/ file."""
    marker = StageMarker(run_dir, "dedup").read() or {}
    if marker.get("finished_at"):
        return float(marker["finished_at"])
    files = list(RunPaths.of(run_dir).documents.glob("part-*.parquet"))
    return max((os.stat(f).st_mtime for f in files), default=0.0)


def dolma_record(row: dict[str, Any], added: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "text": row["text"],
        "source": SOURCE,
        "added": added,
        "created": _iso(row.get("first_created_utc")),
        "metadata": {
            "score": row.get("score"),
            "subreddits": row.get("subreddits") or [],
            "url": row.get("url"),
        },
    }


def export_jsonl(run_dir: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Write one `.jsonl.gz` per documents/ partition into out_dir; returns rows per file."""
    documents = RunPaths.of(run_dir).documents
    files = sorted(documents.glob("part-*.parquet"))
    if not files:
        raise FileNotFoundError(f"no documents/part-*.parquet under {run_dir}: run dedup first")
    added = _iso(documents_added(run_dir))
    written: dict[str, int] = {}
    for src in files:
        name = src.name.replace(".parquet", ".jsonl.gz")
        count = 0
        parquet = pq.ParquetFile(src)
        columns = [c for c in COLUMNS if c in parquet.schema_arrow.names]
        with (
            atomic_path(Path(out_dir) / name) as tmp,
            open(tmp, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        ):
            for batch in parquet.iter_batches(batch_size=1024, columns=columns):
                for row in batch.to_pylist():
                    gz.write(orjson.dumps(dolma_record(row, added)) + b"\n")
                    count += 1
        written[name] = count
    return written
