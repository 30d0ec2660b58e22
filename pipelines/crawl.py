"""`webtext crawl`: links/ -> fetched/ (one fetch record per URL attempted) + warc/.

Harvest partitions links by domain, so a host belongs to exactly one shard and its
politeness needs no coordination between tasks. Shards are grouped into at most as many
tasks as there are task slots (`fetch.task_cpus` each), longest politeness floor first
(`webtext.fetch.task.group_shards`). The text is extracted while a shard is fetched; the
extract stage turns fetch records + that text (or the WARC) into pages/.

Settings that decide results: `fetch.*` except the pace keys below, `archive.*` when
archives are used, `clean.botwall*` with `fetch.mode: live_then_archive` (a live bot wall
is a dead link: the archive is asked), and `extract.*` only with `fetch.warc: false` (no
WARC to re-extract from, so a new extractor needs the pages again).
"""

from __future__ import annotations

from typing import Any

from pipelines.engine import (
    Inputs,
    Stage,
    StageRun,
    Task,
    flat_settings,
    run_stage,
    settings_key,
)
from pipelines.extract import STAGE as EXTRACT
from pipelines.extract import extract_settings
from webtext.config import Config
from webtext.paths import part_files, part_name

# settings that change how fast or in what pieces a shard is crawled, never what it yields
PACE = {
    "fetch": frozenset({
        "concurrency", "per_host_concurrency", "per_host_delay", "backoff_base", "backoff_max",
        "max_retry_after", "max_crawl_delay", "checkpoint_every", "task_cpus",
    }),
}  # fmt: skip


def settings(cfg: Config) -> dict[str, Any]:
    out = flat_settings(cfg, ["fetch"], PACE)
    if cfg.fetch.mode == "live":
        out.pop("fetch.mode")
    else:
        for key, value in flat_settings(cfg, ["archive"]).items():
            if key == "archive.sources":  # their rates and concurrency are pace
                value = [{k: v for k, v in source.items() if k not in ("rate_per_s", "concurrency")}
                         for source in value]  # fmt: skip
            out[key] = value
    if cfg.fetch.mode == "live_then_archive":  # a live page clean would drop as a bot
        out["clean.botwall"] = cfg.clean.botwall  # wall is a dead link: the archive's copy
        if cfg.clean.botwall:
            out["clean.botwall_max_fraction"] = cfg.clean.botwall_max_fraction
            out["clean.botwall_title_max_words"] = cfg.clean.botwall_title_max_words
    if not cfg.fetch.warc:
        out.update(extract_settings(cfg))
    return out


def tasks(run: StageRun) -> tuple[str, list[Task]]:
    paths = run.paths
    out = []
    for index, links in part_files(paths.links):
        fetched = paths.fetched / part_name(index)  # the inline text is no output: _work/
        out.append(Task(key=links.stem, payload={"index": index, "links": str(links)},
                        inputs=(str(links),), outputs=(str(fetched),),
                        scratch="task"))  # fmt: skip
    return "crawl", out


def inputs(run: StageRun) -> Inputs:
    if not run.paths.links.is_dir():
        return Inputs(missing=f"no links at {run.paths.links}: run `webtext harvest` first")
    return Inputs(files=tuple(p for _, p in part_files(run.paths.links)))


def execute(run: StageRun) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from webtext.fetch.task import group_shards, politeness_floor, status_counts

    cfg, paths = run.cfg, run.paths
    phase, todo = tasks(run)
    keep = {t.payload["index"] for t in todo}
    for folder in (paths.fetched, paths.inline_extract):
        run.remove_orphans(folder, "part-*.parquet", [part_name(i) for i in keep])
    for warc in paths.warc.glob("part-*-*.warc.gz") if paths.warc.is_dir() else []:
        if int(warc.name.split("-")[1]) not in keep:  # WARCs of links shards now gone
            warc.unlink()
    rows = {t.key: pq.ParquetFile(t.inputs[0]).metadata.num_rows for t in todo}
    todo = [Task(**{**t.__dict__, "records": rows[t.key]}) for t in todo]
    slots = run.task_slots(cfg.fetch.task_cpus)

    def group(pending: list[Task]) -> list[list[Task]]:
        floors = {t.key: politeness_floor(t.inputs[0], cfg.fetch.per_host_delay) for t in pending}
        return group_shards(pending, floors, rows, slots)

    extract_key = settings_key(EXTRACT, cfg)
    from webtext.fetch.task import crawl_group

    results = run.map(phase, crawl_group, todo, group=group, unit="task", records="urls",
                      num_cpus=cfg.fetch.task_cpus, cfg=cfg,
                      extract_settings=extract_key)  # fmt: skip
    stats = status_counts(paths.fetched)
    now = [r for r in results if not r.get("skipped")]
    return {
        "shards": len(todo),
        "shards_crawled": len(now),
        "urls": stats["total"],
        "fetched_now": sum(r["fetched"] for r in now),
        "requests_now": sum(r["requests"] for r in now),
        "cpu_s_now": round(sum(r["cpu_s"] for r in now), 3),
        **{f"status.{k}": v for k, v in stats["by_status"].items()},
    }


def summary(stats: dict[str, Any]) -> str:
    return (f"{stats['urls']} URLs, {stats.get('status.ok', 0)} fetched ok, "
            f"{stats['fetched_now']} fetched in this run")  # fmt: skip


STAGE = Stage(
    name="crawl",
    sections=("fetch", "archive", "extract"),
    after=("harvest",),
    inputs=inputs,
    execute=execute,
    first_tasks=tasks,
    settings=settings,
    outputs=("fetched", "inline_extract", "warc"),
    listed=("fetched",),  # not the WARC chunks: many, and no rerun could bring one back
    summary=summary,
    adopt=lambda run, dry=False: adopt_crawl(run, dry),
)


def adopt_crawl(run: StageRun, dry: bool = False) -> set[str]:
    from pipelines.legacy import adopt_crawl as adopt

    return adopt(run, tasks(run)[1], settings_key(EXTRACT, run.cfg), dry=dry)


def run(cfg: Config, executor: str | None = None) -> dict[str, Any]:
    """The stage (`executor="local"`: its tasks in this process, without Ray)."""
    return run_stage(STAGE, cfg, executor=executor)
