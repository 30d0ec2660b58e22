"""`webtext clean`: pages/ -> cleaned/ (language and quality filtered pages, with reasons).

Only pages that crawl fetched and extracted (`fetch_status == "ok"`) are judged; the others
already carry their crawl status in the ledger. One Ray task per pages file; each writes
`dropped/part-N.parquet` then `cleaned/part-N.parquet` (the latter last, holding the
shard fingerprint: config + digest of the pages file), so a rerun skips finished shards and
redoes stale ones (other config, or pages that crawl or extract rewrote).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines._ray import map_shards, ray_session
from webtext.clean.stage import clean_shard, shard_fingerprint
from webtext.config import Config
from webtext.io import StageMarker, clean_temp_files, combine_fingerprint, shard_name
from webtext.layout import migrate_layout
from webtext.paths import RunPaths
from webtext.progress import log

STAGE = "clean"
FINGERPRINT_SECTIONS = ("clean", "overlap")
_PART = re.compile(r"part-(\d+)\.parquet")


def shard_items(paths: RunPaths) -> list[tuple[str, str, str]]:
    """(pages file, kept output, dropped output) for every pages/part-N.parquet, by N."""
    if not paths.pages.is_dir():
        raise FileNotFoundError(f"{paths.pages} does not exist: run `webtext crawl` first")
    items = []
    for path in sorted(paths.pages.glob("part-*.parquet")):
        match = _PART.fullmatch(path.name)
        if match is None:
            continue
        index = int(match.group(1))
        kept = paths.cleaned / shard_name(index)
        dropped = paths.dropped / shard_name(index)
        items.append((str(path), str(kept), str(dropped)))
    return items


def summarise(results: list[dict[str, Any]], wall_seconds: float) -> dict[str, Any]:
    dropped: Counter[str] = Counter()
    pii: Counter[str] = Counter()
    for r in results:
        dropped.update(r["dropped"])
        pii.update(r.get("pii") or {})
    processed = [r for r in results if not r["skipped"]]
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


def run(cfg: Config) -> dict[str, Any]:
    paths = RunPaths.of(cfg.run_dir)
    migrate_layout(paths)  # a run written before the layout change
    config_fp = cfg.fingerprint(*FINGERPRINT_SECTIONS)
    # each shard: the config and the bytes of its pages file (crawl or extract rewrote it?)
    items = [(*item, shard_fingerprint(config_fp, item[0])) for item in shard_items(paths)]
    fingerprint = combine_fingerprint(config_fp, [item[3] for item in items])
    marker = StageMarker(cfg.run_dir, STAGE)
    if marker.is_done(fingerprint):
        log.info("clean: already done (%s)", marker.path)
        return (marker.read() or {}).get("stats", {})
    for folder in (paths.cleaned, paths.dropped):
        Path(folder).mkdir(parents=True, exist_ok=True)
        clean_temp_files(folder)
    with ray_session(cfg.ray):
        start = time.perf_counter()  # Ray's own start-up is not the stage's throughput
        pages = sum(pq.ParquetFile(item[0]).metadata.num_rows for item in items)
        results = map_shards(
            clean_shard,
            items,
            desc="clean",
            records=("documents", pages),
            clean=cfg.clean,
            overlap=cfg.overlap,
            fingerprint=config_fp,
        )
        wall = time.perf_counter() - start
    stats = summarise(results, wall)
    marker.mark_done(fingerprint, stats)
    reasons = ", ".join(
        f"{k.removeprefix('clean:')} {v}" for k, v in stats["dropped_by_reason"].items()
    )
    log.info(
        "clean: %d shards, %d candidate pages: kept %d, dropped %d (%s); %s docs/s",
        stats["shards"],
        stats["candidates"],
        stats["kept"],
        stats["dropped"],
        reasons or "none",
        stats["docs_per_s"],
    )
    return stats
