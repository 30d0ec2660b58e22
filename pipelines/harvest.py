"""`webtext harvest`: Reddit submissions -> one row per canonical link in links/.

Two phases through the driver:
1. map: one task per dump file (and the praw source, in this process: one client, one
   rate-limit budget) filters submissions and spills link rows into hash-partitioned files
   (`webtext.reddit.spill.spill_dump`);
2. reduce: one task per links file de-duplicates canonical URLs bucket by bucket, applies
   `harvest.karma` and writes `links/part-NNNNN.parquet` (every index, even empty), and
   `optout/part-NNNNN.parquet` for the links a takedown list kept from the crawl;
then `stats/links.json`. The dumps are identified by path, size and mtime (too big to hash).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from pipelines.engine import Inputs, Stage, StageRun, Task, run_stage
from webtext.config import Config, ConfigError
from webtext.io import stat_identity, write_json_atomic
from webtext.paths import part_name


def source_dumps(cfg: Config) -> list[Path]:
    """The dump files `source.pushshift` names; a bad pattern is a ConfigError."""
    from webtext.reddit.dumps import expand_sources

    try:
        return expand_sources(cfg.source.pushshift)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def _lists_digest(cfg: Config) -> str | None:
    from webtext.takedown import TakedownError, lists_digest

    try:
        return lists_digest(cfg.optout.lists)
    except TakedownError as exc:
        raise ConfigError(str(exc)) from None


def inputs(run: StageRun) -> Inputs:
    cfg = run.cfg
    if not cfg.source.pushshift and cfg.source.reddit_api is None:
        raise ConfigError("harvest needs a source: set source.pushshift and/or source.reddit_api")
    lists = _lists_digest(cfg)
    return Inputs(identity=[stat_identity(source_dumps(cfg)), *([lists] if lists else [])])


def map_tasks(run: StageRun) -> tuple[str, list[Task]]:
    from webtext.reddit.spill import source_key

    out = []
    for dump in source_dumps(run.cfg):
        out.append(Task(key=source_key(dump), payload={"path": str(dump)},
                        identity=stat_identity([dump]), records=dump.stat().st_size,
                        scratch="stage"))  # fmt: skip
    return "map", out


def summarize(maps: list[dict[str, Any]], reduces: list[dict[str, Any]]) -> dict[str, Any]:
    dropped: Counter[str] = Counter()
    malformed_reasons: Counter[str] = Counter()
    samples: list[str] = []
    for m in maps:
        dropped.update(m["dropped"])
        malformed_reasons.update(m["malformed_reasons"])
        samples.extend(m["malformed_sample"])
    for r in reduces:
        dropped["duplicate_submission"] += r["duplicate_submission"]
        dropped["low_karma"] += r["low_karma"]
        dropped["optout:list"] += r.get("optout_list", 0)
    dropped = Counter({k: v for k, v in dropped.items() if v})
    return {
        "sources": len(maps),
        "records_read": sum(m["records"] for m in maps),
        "malformed": sum(m["malformed"] for m in maps),
        "malformed_reasons": dict(sorted(malformed_reasons.items())),
        "malformed_sample": samples,  # at most source.malformed_sample per source
        "truncated_files": [m["source"] for m in maps if m["truncated"]],
        "dropped": dict(sorted(dropped.items())),
        "submissions_kept": sum(m["submissions_kept"] for m in maps),
        "urls_kept": sum(r["urls_kept"] for r in reduces),
        "num_partitions": len(reduces),
        "urls_per_partition": [r["urls_kept"] for r in reduces],
        "per_source": {
            m["source"]: {
                "records": m["records"],
                "malformed": m["malformed"],
                "kept": m["submissions_kept"],
            }
            for m in maps
        },
    }


def execute(run: StageRun) -> dict[str, Any]:
    from webtext.reddit.dumps import MalformedInputError
    from webtext.reddit.spill import reduce_partition, spill_api, spill_dump
    from webtext.takedown import TakedownError, load_lists

    cfg, paths = run.cfg, run.paths
    try:
        load_lists(cfg.optout.lists)  # a bad list is an error before any work
    except TakedownError as exc:
        raise ConfigError(str(exc)) from None
    phase, dumps = map_tasks(run)
    maps: list[dict[str, Any]] = []
    if cfg.source.reddit_api is not None:
        api = Task(key="reddit_api", payload={}, identity=cfg.source.reddit_api.model_dump_json(),
                   scratch="stage")  # fmt: skip
        maps += run.map(phase, spill_api, [api], local=True, unit="source",
                        api=cfg.source.reddit_api, cfg=cfg.harvest, strict=cfg.source.strict)
    try:
        maps += run.map(phase, spill_dump, dumps, desc="harvest: read dumps", unit="dump",
                        records="bytes", cfg=cfg.harvest, strict=cfg.source.strict,
                        sample_size=cfg.source.malformed_sample)  # fmt: skip
    except MalformedInputError as exc:  # Ray re-raises the task's error as its own subclass
        message = str(exc).strip().splitlines()[-1]
        if "MalformedInputError: " in message:
            message = message.split("MalformedInputError: ", 1)[1]
        raise MalformedInputError(message) from None
    spill_dirs = sorted(m["spill_dir"] for m in maps)
    partitions = range(cfg.harvest.num_partitions)
    identity = [[Path(d).name for d in spill_dirs], _lists_digest(cfg)]  # takedown lists too
    reduce = [Task(key=part_name(p, ""), payload=p, identity=identity,
                   outputs=(str(paths.links / part_name(p)),)) for p in partitions]  # fmt: skip
    for folder in (paths.links, paths.optout):
        run.remove_orphans(folder, "part-*.parquet", [part_name(p) for p in partitions])
    reduces = run.map("reduce", reduce_partition, reduce, desc="harvest: dedup links",
                      unit="partition", spill_dirs=spill_dirs, links_dir=str(paths.links),
                      optout_dir=str(paths.optout), cfg=cfg.harvest,
                      takedown_lists=list(cfg.optout.lists))  # fmt: skip
    stats = summarize(maps, reduces)
    stats["work_skipped"] = {
        "sources": sum(bool(m.get("skipped")) for m in maps),
        "partitions": sum(bool(r.get("skipped")) for r in reduces),
    }
    rss = [m.get("peak_rss_mb", 0) for m in maps] + [r.get("peak_rss_mb", 0) for r in reduces]
    stats["peak_task_rss_mb"] = round(max(rss, default=0.0), 1)
    stats["task_cpu_s"] = round(sum(x.get("cpu_s", 0.0) for x in maps + reduces), 2)
    if paths.optout.is_dir() and not any(paths.optout.iterdir()):
        paths.optout.rmdir()  # an empty folder is no dataset (load_dataset fails on it)
    write_json_atomic(paths.links_stats, stats)
    return stats


def summary(stats: dict[str, Any]) -> str:
    return (f"{stats['records_read']} records, {stats['malformed']} malformed, "
            f"{stats['submissions_kept']} submissions kept -> {stats['urls_kept']} URLs; "
            f"dropped {json.dumps(stats['dropped'], sort_keys=True)}")  # fmt: skip


STAGE = Stage(
    name="harvest",
    sections=("source", "harvest"),
    after=(),
    inputs=inputs,
    execute=execute,
    first_tasks=map_tasks,
    outputs=("links", "optout"),
    summary=summary,
    clear_work=True,
    adopt=lambda run, dry=False: adopt_harvest(run, dry),
)


def adopt_harvest(run: StageRun, dry: bool = False) -> bool:
    from pipelines.legacy import adopt_harvest as adopt

    return adopt(run, dry=dry)


def run(cfg: Config, executor: str | None = None) -> dict[str, Any]:
    """The stage (`executor="local"`: its tasks in this process, without Ray)."""
    return run_stage(STAGE, cfg, executor=executor)
