"""`webtext tokenize`: documents/ -> GPT-2 token shards (shards/train, shards/val, index.json).

Two phases through the driver with a cheap plan between them (webtext/tokenize/stage.py):
encode each documents file into `_work/tokenize/`, plan shards from the ids here, write
each planned shard (a shard whose plan is unchanged is kept). index.json is written last.
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

from pipelines.engine import Inputs, Stage, StageRun, Task, run_stage
from webtext.config import Config
from webtext.io import write_json_atomic
from webtext.paths import part_files

log = logging.getLogger("webtext.tokenize")

PACE = {"tokenize": frozenset({"num_threads", "batch_size", "keep_intermediate"})}


def encode_tasks(run: StageRun) -> tuple[str, list[Task]]:
    work = run.paths.scratch("tokenize")
    out = []
    for _, src in part_files(run.paths.documents):
        dst = str(work / src.with_suffix(".arrow").name)
        out.append(Task(key=src.stem, payload=(str(src), dst), inputs=(str(src),), outputs=(dst,)))
    return "encode", out


def inputs(run: StageRun) -> Inputs:
    files = tuple(p for _, p in part_files(run.paths.documents))
    if not files:
        return Inputs(missing=f"no documents/part-*.parquet in {run.paths.documents}: "
                              "run dedup first")  # fmt: skip
    return Inputs(files=files)


def _task_cpus(ray: Any, num_threads: int) -> float:
    """CPUs per task: the thread count, but never more than the largest node has (a task
    asking for more than any one node offers would wait forever on a cluster of small nodes)."""
    per_node = [n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    cpus = max(per_node, default=1)
    return float(max(1, min(num_threads, int(cpus))))


def execute(run: StageRun) -> dict[str, Any]:
    from webtext.tokenize.shards import SHARD_SUFFIX, SPLITS, build_index
    from webtext.tokenize.stage import plan_digest, plan_shards, tokenize_file, write_planned_shard

    tc, paths = run.cfg.tokenize, run.paths
    phase, todo = encode_tasks(run)
    cpus = 1.0
    if run.executor != "local":
        import ray

        cpus = _task_cpus(ray, tc.num_threads)
    encoded = run.map(phase, tokenize_file, todo, desc="tokenize documents", unit="file",
                      records="tokens", num_cpus=cpus, num_threads=tc.num_threads,
                      batch_size=tc.batch_size)  # fmt: skip
    intermediates = [t.payload[1] for t in todo]
    plans = plan_shards(intermediates, shard_tokens=tc.shard_tokens, val_fraction=tc.val_fraction)
    sources = [run.digests.of(t.inputs[0]) for t in todo]
    writes = [Task(key=p.relpath.replace("/", "-").removesuffix(SHARD_SUFFIX), payload=p,
                   outputs=(str(paths.shards / p.relpath),), identity=[plan_digest(p), sources])
              for p in plans]  # fmt: skip
    wanted = {p.relpath for p in plans}
    for split in SPLITS:  # shards of another plan; index.json first: no half state looks valid
        folder = paths.shards / split
        stale = [f for f in folder.glob(f"*{SHARD_SUFFIX}") if f"{split}/{f.name}" not in wanted]
        if stale:
            paths.shards_index.unlink(missing_ok=True)
        for old in stale:
            old.unlink()
    entries = run.map("write", write_planned_shard, writes, desc="write shards",
                      intermediates=intermediates, shards_dir=str(paths.shards))  # fmt: skip
    entries = [{k: v for k, v in e.items() if k != "skipped"} for e in entries]
    buckets = {p.split: p.buckets for p in plans}
    write_json_atomic(paths.shards_index, build_index(
        entries, shard_tokens=tc.shard_tokens, val_fraction=tc.val_fraction, buckets=buckets))  # fmt: skip
    totals = {s: [e for e in entries if e["split"] == s] for s in SPLITS}
    stats: dict[str, Any] = {
        "input_files": len(todo),
        "input_files_reused": sum(1 for r in encoded if r.get("skipped")),
        "documents": sum(r["rows"] for r in encoded),
        "tokens": sum(r["tokens"] for r in encoded),
    }
    for split, items in totals.items():
        stats[f"{split}_documents"] = sum(e["rows"] for e in items)
        stats[f"{split}_tokens"] = sum(e["tokens"] for e in items)
        stats[f"{split}_shards"] = len(items)
    if not tc.keep_intermediate:
        shutil.rmtree(paths.scratch("tokenize"), ignore_errors=True)
    return stats


def summary(stats: dict[str, Any]) -> str:
    return (f"{stats['documents']} documents, {stats['tokens']} tokens -> {stats['train_shards']} "
            f"train shards ({stats['train_tokens']} tokens), {stats['val_shards']} val shards "
            f"({stats['val_tokens']} tokens)")  # fmt: skip


STAGE = Stage(
    name="tokenize",
    sections=("tokenize",),
    after=("dedup",),
    inputs=inputs,
    execute=execute,
    first_tasks=encode_tasks,
    pace=PACE,
    outputs=("shards",),
    summary=summary,
)


def run(cfg: Config, executor: str | None = None) -> dict[str, Any]:
    """The stage (`executor="local"`: its tasks in this process, without Ray)."""
    return run_stage(STAGE, cfg, executor=executor)
