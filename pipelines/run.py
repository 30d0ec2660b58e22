"""`webtext run`: every stage in order, each skipping finished work, then ledger and report.

Kill it at any moment and run it again: stages resume from their per-shard outputs, and the
final shards are byte-identical to an uninterrupted run's. A finished run does no work.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

from pipelines._ray import ray_session
from webtext.config import Config
from webtext.io import StageMarker, combine_fingerprint, stat_identity
from webtext.layout import migrate_layout
from webtext.paths import RunPaths
from webtext.report.ledger import build_ledger
from webtext.report.run_report import build_report, funnel_table, write_stats

log = logging.getLogger("webtext.run")

CORPUS_STAGES = ["harvest", "crawl", "clean", "dedup", "tokenize"]


def stages_of(cfg: Config) -> list[str]:
    return CORPUS_STAGES + (["train"] if cfg.train is not None else [])


def run(cfg: Config) -> dict[str, Any]:
    paths = RunPaths.of(cfg.run_dir)
    migrate_layout(paths)  # a run written before the layout change
    marker = StageMarker(cfg.run_dir, "run")
    # the whole config and the dumps on disk: a changed dump reruns what depends on it
    from pipelines.harvest import source_dumps

    fingerprint = combine_fingerprint(cfg.fingerprint(*Config.model_fields),
                                      stat_identity(source_dumps(cfg)))  # fmt: skip
    if marker.is_done(fingerprint):
        stats = (marker.read() or {}).get("stats", {})
        log.info("run in %s is already complete: nothing to do", paths.root)
        print(funnel_table(stats.get("funnel", {})), end="")
        print(f"report: {paths.report}")
        return stats

    stage_stats: dict[str, Any] = {}
    with ray_session(cfg.ray):
        for stage in stages_of(cfg):
            start = time.monotonic()
            log.info("stage %s: starting", stage)
            module = importlib.import_module(f"pipelines.{stage}")
            stage_stats[stage] = module.run(cfg)
            log.info("stage %s: finished in %.1fs", stage, time.monotonic() - start)

    fates = build_ledger(cfg.run_dir)
    stats = write_stats(cfg.run_dir, stage_stats, fates)
    if cfg.report.enabled:
        train_dir = paths.train_dir(cfg.train.out_dir) if cfg.train is not None else None
        build_report(cfg.run_dir, stats, top=cfg.report.top_domains, train_dir=train_dir)
    marker.mark_done(fingerprint, stats)
    print(funnel_table(stats["funnel"]), end="")
    print(f"report: {paths.report}")
    return stats
