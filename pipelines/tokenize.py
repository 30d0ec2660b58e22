"""`webtext tokenize`: documents/ -> GPT-2 token shards (shards/train, shards/val, index.json).

Two parallel passes on Ray with a cheap plan between them (see webtext/tokenize/stage.py):
tokenize each documents/ file into `_work/tokenize/`, plan shards from the ids on the driver,
write each shard. index.json is written last, then the stage marker. A rerun reuses every
intermediate file whose input is unchanged and every shard of an unchanged plan.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from pipelines._ray import map_shards, ray_session
from webtext.config import Config, ConfigError
from webtext.io import (
    StageMarker,
    clean_temp_files,
    combine_fingerprint,
    read_json,
    write_json_atomic,
)
from webtext.layout import migrate_layout
from webtext.paths import RunPaths
from webtext.tokenize.shards import SHARD_SUFFIX, SPLITS, build_index
from webtext.tokenize.stage import (
    plan_id,
    plan_shards,
    source_identity,
    tokenize_file,
    write_planned_shard,
)

log = logging.getLogger("webtext.tokenize")


def _clear_shards(shards: Path) -> None:
    """Remove the outputs of a different plan (index first: no valid-looking half state)."""
    (shards / "index.json").unlink(missing_ok=True)
    for split in SPLITS:
        folder = shards / split
        clean_temp_files(folder)
        for old in folder.glob(f"*{SHARD_SUFFIX}"):
            old.unlink()


def _task_cpus(ray: Any, num_threads: int) -> float:
    """CPUs per task: the thread count, but never more than the largest node has (a task
    asking for more than any one node offers would wait forever on a cluster of small nodes)."""
    per_node = [n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    cpus = max(per_node, default=1)
    return float(max(1, min(num_threads, int(cpus))))


def run(cfg: Config) -> dict[str, Any]:
    paths = RunPaths.of(cfg.run_dir)
    migrate_layout(paths)  # a run written before the layout change
    tc = cfg.tokenize
    inputs = sorted(paths.documents.glob("part-*.parquet"))
    if not inputs:
        raise ConfigError(f"no documents/part-*.parquet in {paths.documents}: run dedup first")
    identities = [source_identity(p) for p in inputs]
    fingerprint = combine_fingerprint(cfg.fingerprint("tokenize"), identities)
    marker = StageMarker(cfg.run_dir, "tokenize")
    if marker.is_done(fingerprint) and paths.shards_index.is_file():
        log.info("tokenize: already done (%s)", paths.shards)
        return (marker.read() or {}).get("stats", {})
    marker.clear()

    work = paths.work / "tokenize"
    clean_temp_files(work)
    intermediates = [str(work / p.with_suffix(".arrow").name) for p in inputs]
    this_plan = plan_id(identities, shard_tokens=tc.shard_tokens, val_fraction=tc.val_fraction)
    plan_file = work / "plan.json"
    reuse = (read_json(plan_file) or {}).get("plan_id") == this_plan
    if not reuse:
        _clear_shards(paths.shards)

    with ray_session(cfg.ray) as ray:
        encoded = map_shards(
            tokenize_file,
            [(str(src), dst) for src, dst in zip(inputs, intermediates, strict=True)],
            desc="tokenize documents",
            unit="file",
            records=("tokens", None),
            num_cpus=_task_cpus(ray, tc.num_threads),
            num_threads=tc.num_threads,
            batch_size=tc.batch_size,
        )
        plans = plan_shards(
            intermediates, shard_tokens=tc.shard_tokens, val_fraction=tc.val_fraction
        )
        write_json_atomic(plan_file, {"plan_id": this_plan, "shards": len(plans)})
        entries = map_shards(
            write_planned_shard,
            plans,
            desc="write shards",
            intermediates=intermediates,
            shards_dir=str(paths.shards),
            reuse=reuse,
        )

    buckets = {p.split: p.buckets for p in plans}
    write_json_atomic(
        paths.shards_index,
        build_index(
            entries, shard_tokens=tc.shard_tokens, val_fraction=tc.val_fraction, buckets=buckets
        ),
    )
    totals = {s: [e for e in entries if e["split"] == s] for s in SPLITS}
    stats: dict[str, Any] = {
        "input_files": len(inputs),
        "input_files_reused": sum(1 for r in encoded if r["reused"]),
        "documents": sum(r["rows"] for r in encoded),
        "tokens": sum(r["tokens"] for r in encoded),
    }
    for split, items in totals.items():
        stats[f"{split}_documents"] = sum(e["rows"] for e in items)
        stats[f"{split}_tokens"] = sum(e["tokens"] for e in items)
        stats[f"{split}_shards"] = len(items)
    # forget recomputes this stage's fingerprint after it rewrites documents/: it needs the
    # config part, which it cannot rebuild without the config file
    marker.mark_done(fingerprint, stats, config_fingerprint=cfg.fingerprint("tokenize"))
    if not tc.keep_intermediate:
        shutil.rmtree(work, ignore_errors=True)
    log.info(
        "tokenize: %d documents, %d tokens -> %d train shards (%d tokens), %d val shards "
        "(%d tokens) in %s",
        stats["documents"],
        stats["tokens"],
        stats["train_shards"],
        stats["train_tokens"],
        stats["val_shards"],
        stats["val_tokens"],
        paths.shards,
    )
    return stats
