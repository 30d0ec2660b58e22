"""`webtext run`: every stage in order, each skipping finished work, then ledger and report;
`webtext plan` (= `webtext run --dry-run`): what that would do now, and why.

Kill it at any moment and run it again: stages resume from their per-task outputs, and the
final shards are byte-identical to an uninterrupted run's. A finished run does no work.
"""

from __future__ import annotations

import logging
from typing import Any

from pipelines import clean, crawl, dedup, extract, harvest, tokenize
from pipelines.engine import format_plan, plan_pipeline, run_pipeline
from webtext.config import Config
from webtext.paths import RunPaths

log = logging.getLogger("webtext.run")

STAGES = [harvest.STAGE, crawl.STAGE, extract.STAGE, clean.STAGE, dedup.STAGE, tokenize.STAGE]
CORPUS_STAGES = [s.name for s in STAGES]


def stages_of(cfg: Config) -> list[str]:
    return CORPUS_STAGES + (["train"] if cfg.train is not None else [])


def _train(cfg: Config) -> dict[str, Any]:
    from pipelines.train import run as train

    return train(cfg)


def _finish(cfg: Config, stage_stats: dict[str, Any]) -> dict[str, Any]:
    from webtext.report.ledger import build_ledger
    from webtext.report.run_report import build_report, write_stats

    paths = RunPaths.of(cfg.run_dir)
    fates = build_ledger(cfg.run_dir)
    stats = write_stats(cfg.run_dir, stage_stats, fates)
    if cfg.report.enabled:
        train_dir = paths.train_dir(cfg.train.out_dir) if cfg.train is not None else None
        build_report(cfg.run_dir, stats, top=cfg.report.top_domains, train_dir=train_dir)
    return stats


def _print_funnel(cfg: Config):
    def done(stats: dict[str, Any]) -> None:
        from webtext.report.run_report import funnel_table

        print(funnel_table(stats.get("funnel", {})), end="")
        print(f"report: {RunPaths.of(cfg.run_dir).report}")

    return done


def run(cfg: Config) -> dict[str, Any]:
    extra = [("train", _train)] if cfg.train is not None else []
    return run_pipeline(STAGES, cfg, extra=extra, finish=_finish, done=_print_funnel(cfg))


def plan(cfg: Config) -> dict[str, Any]:
    """Print, per stage, tasks done / to do / stale and why; touches nothing."""
    plans = plan_pipeline(STAGES, cfg)
    text = format_plan(plans)
    if cfg.train is not None:
        text += "train: resumes from its latest checkpoint when the shards are the same\n"
    print(text, end="")
    return {"stages": [p.__dict__ for p in plans],
            "nothing_to_do": all(p.state == "done" for p in plans)}  # fmt: skip
