"""`webtext clean`: pages/ -> cleaned/ (kept pages with their language) + dropped/ (reasons).

The worked example of a stage declaration (docs/ARCHITECTURE.md): one task per pages file,
`webtext.clean.stage.clean_shard` does the work; the driver does the rest.
"""

from __future__ import annotations

import time
from typing import Any

from pipelines.engine import Inputs, Stage, StageRun, Task, flat_settings, run_stage
from webtext.clean.stage import clean_shard, reference_files, summarise, summary_line
from webtext.config import Config
from webtext.paths import part_files


def settings(cfg: Config) -> dict[str, Any]:
    """`clean.*`, and the `overlap` n-gram settings only when a reference-text filter
    (`wikipedia_text`, `decontaminate`) uses them (`overlap.cache_dir` is where, not what)."""
    out = flat_settings(cfg, ["clean"])
    if cfg.clean.wikipedia_text or cfg.clean.decontaminate:
        out.update(flat_settings(cfg, ["overlap"], {"overlap": frozenset({"cache_dir"})}))
    return out


def tasks(run: StageRun) -> tuple[str, list[Task]]:
    """One task per pages/part-N.parquet, writing cleaned/part-N and dropped/part-N."""
    import pyarrow.parquet as pq

    out = []
    references = reference_files(run.cfg.clean) or None
    for _, pages in part_files(run.paths.pages):
        kept, dropped = run.paths.cleaned / pages.name, run.paths.dropped / pages.name
        rows = pq.ParquetFile(pages).metadata.num_rows
        out.append(Task(key=pages.stem, payload=(str(pages), str(kept), str(dropped)),
                        inputs=(str(pages),), outputs=(str(kept), str(dropped)),
                        identity=references, records=rows))  # fmt: skip
    return "clean", out


def inputs(run: StageRun) -> Inputs:
    if not run.paths.pages.is_dir():
        return Inputs(missing=f"{run.paths.pages} does not exist: run `webtext crawl` first "
                              "(then `webtext extract`)")
    return Inputs(files=tuple(p for _, p in part_files(run.paths.pages)),
                  identity=reference_files(run.cfg.clean) or None)  # fmt: skip


def execute(run: StageRun) -> dict[str, Any]:
    phase, todo = tasks(run)
    for folder in (run.paths.cleaned, run.paths.dropped):
        run.remove_orphans(folder, "part-*.parquet", [t.payload[0] for t in todo])
    start = time.perf_counter()
    results = run.map(phase, clean_shard, todo, records="documents",
                      clean=run.cfg.clean, overlap=run.cfg.overlap)  # fmt: skip
    return summarise(results, time.perf_counter() - start)


STAGE = Stage(
    name="clean",
    sections=("clean", "overlap"),
    after=("extract",),
    inputs=inputs,
    execute=execute,
    first_tasks=tasks,
    settings=settings,
    outputs=("cleaned", "dropped"),
    summary=summary_line,
)


def run(cfg: Config, executor: str | None = None) -> dict[str, Any]:
    """The stage (`executor="local"`: its tasks in this process, without Ray)."""
    return run_stage(STAGE, cfg, executor=executor)
