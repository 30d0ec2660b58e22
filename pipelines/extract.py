"""`webtext extract`: fetched/ + warc/ -> pages/ (main text), never the network.

One task per fetched/part-N (`webtext.extract.stage.extract_shard`): the crawl's inline
text when it was made with the same settings, else extraction from the WARC responses.
Changing `extract.*` reruns this stage and everything downstream, never a fetch.
"""

from __future__ import annotations

from typing import Any

from pipelines.engine import Inputs, Stage, StageRun, Task, flat_settings, run_stage
from webtext.config import Config, ConfigError
from webtext.io import write_json_atomic
from webtext.paths import part_files, part_name

PACE = {"extract": frozenset({"worker_max_pages"})}  # the worker's restart period


def extract_settings(cfg: Config) -> dict[str, Any]:
    """What the text of pages/ depends on besides the fetched bytes (max_bytes bounds
    decompression)."""
    return {**flat_settings(cfg, ["extract"], PACE), "fetch.max_bytes": cfg.fetch.max_bytes}


def _warcs(run: StageRun, index: int) -> list[str]:
    return sorted(str(p) for p in run.paths.warc.glob(part_name(index, "-*.warc.gz")))


def _lists(cfg: Config) -> list[list[str]]:
    """The takedown lists' digests: a list that grew makes pages it names `optout:list`
    (an input, not a setting: the crawl's inline text stays good)."""
    from webtext.takedown import TakedownError, lists_digest

    try:
        return lists_digest(cfg.optout.lists)
    except TakedownError as exc:
        raise ConfigError(str(exc)) from None


def tasks(run: StageRun) -> tuple[str, list[Task]]:
    import os

    paths = run.paths
    lists = _lists(run.cfg)
    out = []
    for index, fetched in part_files(paths.fetched):
        warcs = _warcs(run, index)
        payload = {"fetched": str(fetched), "pages": str(paths.pages / fetched.name),
                   "inline": str(paths.inline_extract / fetched.name), "warcs": warcs}
        identity = [[os.path.basename(w), os.path.getsize(w)] for w in warcs]
        out.append(Task(key=fetched.stem, payload=payload, inputs=(str(fetched),),
                        outputs=(payload["pages"],),
                        identity=[identity, lists] if lists else identity))  # fmt: skip
    return "extract", out


def inputs(run: StageRun) -> Inputs:
    if not run.paths.fetched.is_dir():
        return Inputs(missing=f"no fetch records at {run.paths.fetched}: run `webtext crawl` first")
    return Inputs(files=tuple(p for _, p in part_files(run.paths.fetched)),
                  identity=_lists(run.cfg) or None)  # fmt: skip


def execute(run: StageRun) -> dict[str, Any]:
    from webtext.extract.stage import extract_shard
    from webtext.fetch.task import status_counts

    phase, todo = tasks(run)
    run.remove_orphans(run.paths.pages, "part-*.parquet", [t.payload["pages"] for t in todo])
    results = run.map(phase, extract_shard, todo, records="urls", extract=run.cfg.extract,
                      max_bytes=run.cfg.fetch.max_bytes, settings=run.settings_fp,
                      takedown_lists=list(run.cfg.optout.lists))  # fmt: skip
    stats = status_counts(run.paths.pages)
    write_json_atomic(run.paths.pages_stats, stats)
    now = [r for r in results if not r.get("skipped")]
    flat: dict[str, Any] = {"shards": len(todo), "shards_extracted": len(now), "urls": stats["total"]}
    for key in ("from_crawl", "reextracted", "missing_warc"):
        flat[key] = sum(r[key] for r in now)
    flat.update({f"status.{k}": v for k, v in stats["by_status"].items()})
    return flat


def summary(stats: dict[str, Any]) -> str:
    return (f"{stats['urls']} pages, {stats.get('status.ok', 0)} with text; this run: "
            f"{stats['from_crawl']} from the crawl's inline text, {stats['reextracted']} "
            f"re-extracted from WARC, {stats['missing_warc']} missing in WARC")  # fmt: skip


STAGE = Stage(
    name="extract",
    sections=("extract",),
    after=("crawl",),
    inputs=inputs,
    execute=execute,
    first_tasks=tasks,
    settings=extract_settings,
    outputs=("pages",),
    summary=summary,
)


def run(cfg: Config, executor: str | None = None) -> dict[str, Any]:
    """The stage (`executor="local"`: its tasks in this process, without Ray)."""
    return run_stage(STAGE, cfg, executor=executor)
