"""`webtext dedup`: cleaned/ -> documents/ (exact and MinHash-LSH near duplicates merged).

`dedup.execution` picks the in-process execution (`local`), Ray (`ray`), or by corpus size
(`auto`: Ray from `dedup.ray_min_documents` documents). Both run the same task functions of
`dedup.stage` and give the same bytes. Work files live in `<run_dir>/dedup/work-<fp>/`
(keyed by the stage's settings and inputs), so an interrupted run resumes
where it stopped and a changed config never mixes with old work; after success only the
signatures (`sig/sig-N.npy`, datasketch-compatible uint32 [docs, num_perm]) are kept.
"""

from __future__ import annotations

import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from dedup.minhash import MinHashParams, optimal_bands
from dedup.stage import Layout, Shard, run_dedup
from pipelines.engine import Inputs, Stage, StageRun, Task, run_stage
from webtext.config import Config, ConfigError, DedupConfig
from webtext.paths import RunPaths, part_files, part_name
from webtext.progress import log

# keys that change how dedup runs, not what it outputs (num_buckets only partitions the band
# keys: the same pairs, the same clusters; tests/test_dedup_stage.py)
_EXECUTION_KEYS = {"execution", "ray_min_documents", "batch_size", "num_buckets"}


@lru_cache(maxsize=32)
def _bands(threshold: float, num_perm: int, fn_weight: float) -> tuple[int, int]:
    return optimal_bands(threshold, num_perm, 1 - fn_weight, fn_weight)


def minhash_params(cfg: DedupConfig) -> MinHashParams:
    """The seeded MinHash/LSH parameters of a dedup config (bands x rows chosen if unset)."""
    bands, rows = cfg.bands, cfg.rows
    if bands is None or rows is None:
        best_b, best_r = _bands(cfg.threshold, cfg.num_perm, cfg.false_negative_weight)
        if bands is None and rows is None:
            bands, rows = best_b, best_r
        elif bands is None:
            bands = max(1, cfg.num_perm // rows)
        else:
            rows = max(1, cfg.num_perm // bands)
    return MinHashParams(
        num_perm=cfg.num_perm,
        seed=cfg.seed,
        shingle_size=cfg.shingle_size,
        threshold=cfg.threshold,
        bands=bands,
        rows=rows,
        scheme=cfg.scheme,
    )


def input_shards(paths: RunPaths) -> list[Shard]:
    """Every cleaned/part-N.parquet (kept pages) by N, with global row offsets."""
    if not paths.cleaned.is_dir():
        raise FileNotFoundError(f"{paths.cleaned} does not exist: run `webtext clean` first")
    shards, offset = [], 0
    for index, path in part_files(paths.cleaned):
        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except Exception as exc:  # noqa: BLE001 - name the file, keep the cause
            raise ValueError(f"{path}: not a readable parquet file: {exc}") from exc
        shards.append(Shard(index, str(path), offset, rows))
        offset += rows
    return shards


def _takedown(cfg: Config, paths: RunPaths) -> dict[str, Any]:
    """`optout.lists` again, and forget.log: such pages never stay in documents/ (a list
    may have grown since harvest; a forgotten page must not come back with a re-dedup).
    List removals join dedup/dropped.parquet with reason `optout:list`."""
    import pyarrow as pa

    from dedup.stage import DROPPED_SCHEMA
    from webtext.fetch.optout import OPTOUT_LIST
    from webtext.forget import forgotten_takedown, remove_documents
    from webtext.io import write_parquet_atomic
    from webtext.takedown import TakedownError, load_lists

    try:
        lists = load_lists(cfg.optout.lists)
    except TakedownError as exc:
        raise ConfigError(str(exc)) from None
    listed = remove_documents(paths.documents, [lists])
    forgotten = remove_documents(paths.documents, [forgotten_takedown(cfg.run_dir)])
    if listed.documents or listed.merged_urls:
        rows = [
            {"url": d["url"], "canonical_url": d["canonical_url"], "reason": OPTOUT_LIST,
             "merged_into": None} for d in listed.documents
        ] + [
            {"url": m["url"], "canonical_url": m["canonical_url"], "reason": OPTOUT_LIST,
             "merged_into": None} for m in listed.merged_urls
        ]  # fmt: skip
        dropped_path = paths.dedup_work / "dropped.parquet"
        old = pq.read_table(dropped_path, schema=DROPPED_SCHEMA)
        keys = {r["canonical_url"] for r in rows}
        old = old.filter(pa.array([k not in keys for k in old["canonical_url"].to_pylist()]))
        table = pa.concat_tables([old, pa.Table.from_pylist(rows, schema=DROPPED_SCHEMA)])
        write_parquet_atomic(dropped_path, table.sort_by("canonical_url"))
    return {
        "optout_list": len(listed.documents),
        "optout_list_merged_urls": len(listed.merged_urls),
        "forgotten_reapplied": len(forgotten.documents),
    }


def _use_ray(cfg: Config, docs: int) -> bool:
    if cfg.dedup.execution == "auto":
        return docs >= cfg.dedup.ray_min_documents
    return cfg.dedup.execution == "ray"


def inputs(run: StageRun) -> Inputs:
    if not run.paths.cleaned.is_dir():
        return Inputs(missing=f"{run.paths.cleaned} does not exist: run `webtext clean` first")
    from webtext.takedown import TakedownError, lists_digest

    try:
        lists = lists_digest(run.cfg.optout.lists)
    except TakedownError as exc:
        raise ConfigError(str(exc)) from None
    return Inputs(files=tuple(p for _, p in part_files(run.paths.cleaned)),
                  identity=[lists] if lists else None)  # fmt: skip


def first_tasks(run: StageRun) -> tuple[str, list[Task]]:
    return "signatures", [Task(key=part_name(s.index, ""), payload=s) for s in input_shards(run.paths)]


def _task_key(item: Any) -> str:
    return part_name(item.index, "") if isinstance(item, Shard) else f"bucket-{item:05d}"


def _engine_executor(run: StageRun, work: Path, local: bool):
    """run_dedup's executor: each of its phases through the driver (records, resume); every
    task depends on all inputs (global row ids): the work folder's name is its identity,
    with `num_buckets` (the band files' layout). A signature task's outputs include its
    band files: they are removed once the stage is done, so a later rerun (an output lost)
    makes them again instead of finding no pair."""
    layout = Layout(work)
    buckets = run.cfg.dedup.num_buckets
    outputs = {
        "signatures": lambda s: (layout.sig(s.index), *(
            layout.bucket(p, kind, s.index) for p in range(buckets) for kind in ("near", "exact"))),
        "edges": lambda p: (layout.edges(p),),
        "provenance": lambda s: (layout.dropped(s.index),),
        "write": lambda s: (run.paths.documents / part_name(s.index),),
    }

    def execute(fn, items, *, desc: str, **kwargs: Any) -> list[Any]:
        phase = desc.removeprefix("dedup ")
        tasks = [Task(key=_task_key(item), payload=item, identity=[work.name, buckets],
                      outputs=tuple(str(p) for p in outputs[phase](item)),
                      records=getattr(item, "rows", 0)) for item in items]  # fmt: skip
        records = "documents" if phase in ("signatures", "write") else None
        return run.map(phase, fn, tasks, desc=desc, local=local, records=records, **kwargs)

    return execute


def execute(run: StageRun) -> dict[str, Any]:
    cfg, paths = run.cfg, run.paths
    shards = input_shards(paths)
    params = minhash_params(cfg.dedup)
    work = run.current_dir(paths.dedup_work, "work")  # never mixed with other settings' work
    paths.documents.mkdir(parents=True, exist_ok=True)
    run.remove_orphans(paths.documents, "part-*.parquet", [part_name(s.index) for s in shards])
    docs = sum(s.rows for s in shards)
    use_ray = _use_ray(cfg, docs) and run.executor != "local"
    kwargs = dict(
        work=str(work),
        documents_dir=str(paths.documents),
        dropped_path=str(paths.dedup_work / "dropped.parquet"),
        params=params,
        num_buckets=cfg.dedup.num_buckets,
        batch_size=cfg.dedup.batch_size,
        prefer_live=cfg.dedup.prefer_live,
    )
    log.info("dedup: %d documents in %d shards, %s, %s", docs, len(shards), params,
             "ray" if use_ray else "in-process")  # fmt: skip
    executor = _engine_executor(run, work, local=not use_ray)
    if use_ray:
        from pipelines._ray import ray_session

        with ray_session(cfg.ray):
            stats = run_dedup(shards, executor=executor, **kwargs)
    else:
        stats = run_dedup(shards, executor=executor, **kwargs)
    stats["execution"] = "ray" if use_ray else "local"
    stats.update(_takedown(cfg, paths))
    for name in ("buckets", "edges", "assign", "prov", "dropped"):
        shutil.rmtree(work / name, ignore_errors=True)
    return stats


def summary(stats: dict[str, Any]) -> str:
    return (f"{stats['docs_in']} documents in, {stats['exact_duplicates']} exact and "
            f"{stats['near_duplicates']} near duplicates in {stats['clusters']} clusters, "
            f"{stats['docs_out']} out")  # fmt: skip


STAGE = Stage(
    name="dedup",
    sections=("dedup",),  # + the takedown lists (inputs); overlap settings are clean's
    after=("clean",),
    inputs=inputs,
    execute=execute,
    first_tasks=first_tasks,
    pace={"dedup": frozenset(_EXECUTION_KEYS)},
    outputs=("documents",),
    summary=summary,
    ray=False,  # in-process or Ray by corpus size (dedup.execution)
)


def run(cfg: Config, executor: str | None = None) -> dict[str, Any]:
    """The stage (`executor="local"`: its tasks in this process, without Ray)."""
    return run_stage(STAGE, cfg, executor=executor)
