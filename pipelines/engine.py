"""The one stage driver: fingerprints, done records, resume, orphans, progress and execution.

A stage is declared once (`Stage`): its name, the config sections its results depend on
(and the pace-only keys among them that never invalidate output), the stages it reads,
the files its output depends on, and `execute(run)`, which turns those inputs into tasks and
hands them to `run.map(...)`. Every task function is a Ray-free function in `webtext/` (or
`dedup/`); the driver alone decides whether a task is done, runs the rest in this process
or on Ray (the same bytes either way), writes each task's done record atomically the moment
the task returns, and writes the stage marker after everything.

Fingerprints:
- settings: the stage's sections, flattened to `section.key: value`, minus pace keys;
- a task: settings + phase + task key + xxh3 digests of its input files + its identity;
- the stage: settings + digests of every input file + the external identity (dumps on
  disk, takedown lists). `_state/<stage>.json` holds it, with the settings and the input
  digests, so `plan` can name the keys and inputs that changed.

Records live under `_state/<stage>/<phase>/<key>.json`; settings under
`_state/<stage>/settings-<fp>.json`; digests of unchanged files are cached in
`_state/digests.json` by (size, mtime_ns).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webtext.config import Config, ConfigError
from webtext.io import (
    StageMarker,
    clean_temp_files,
    combine_fingerprint,
    file_digest,
    missing_outputs,
    output_files,
    read_json,
    stage_fingerprint,
    write_json_atomic,
)
from webtext.layout import migrate_layout
from webtext.paths import RunPaths
from webtext.progress import Progress, counting_to

log = logging.getLogger("webtext")


# ----------------------------------------------------------------------------- declarations
@dataclass(frozen=True)
class Task:
    """One unit of work: `payload` goes to the task function; the rest is the driver's.

    `inputs` are files whose bytes the output depends on (digested), `identity` anything
    else it depends on (JSON-able), `outputs` the files it writes: a task is done when its
    record's fingerprint is current and every output exists. With `scratch`, the payload (a
    dict) gets `work`: a folder kept across a killed attempt with the same fingerprint,
    dropped when the fingerprint changes, and removed once the task's record is written
    ("task") or once the whole stage is done ("stage": a later phase reads it).
    """

    key: str
    payload: Any
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    identity: Any = None
    records: int = 0
    scratch: str | None = None  # "task": removed once recorded; "stage": when the stage ends


@dataclass(frozen=True)
class Inputs:
    """What a whole stage's output depends on besides its settings."""

    files: tuple[Path, ...] = ()
    identity: Any = None  # e.g. dumps' path/size/mtime, a takedown lists digest
    missing: str | None = None  # why the inputs cannot be listed yet ("run crawl first")


@dataclass(frozen=True)
class Stage:
    name: str
    sections: tuple[str, ...]
    after: tuple[str, ...]
    inputs: Callable[[StageRun], Inputs]
    execute: Callable[[StageRun], dict[str, Any]]
    # the tasks of the first phase, for `plan` (phase name, tasks); None: one stage-wide task
    first_tasks: Callable[[StageRun], tuple[str, list[Task]]] | None = None
    pace: Mapping[str, frozenset[str]] = field(default_factory=dict)
    settings: Callable[[Config], dict[str, Any]] | None = None  # default: sections - pace
    outputs: tuple[str, ...] = ()  # RunPaths folders written: their temp files are cleaned
    # the folders whose files the marker lists (a file deleted by hand: not done); default
    # `outputs` outside `_work/`
    listed: tuple[str, ...] | None = None
    summary: Callable[[dict[str, Any]], str] | None = None
    ray: bool = True  # whether execute may start Ray (dedup decides by size itself)
    clear_work: bool = False  # remove `_work/<stage>/` once the stage is done
    # take over an older version's output: (run, dry) -> True (the whole stage) or the keys
    # of the tasks taken over; `dry`: only say what would be (plan)
    adopt: Callable[..., bool | set[str]] | None = None


def flat_settings(cfg: Config, sections: Iterable[str],
                  pace: Mapping[str, frozenset[str]] | None = None) -> dict[str, Any]:  # fmt: skip
    """`section.key: value` of the sections, minus pace keys (JSON values)."""
    import json

    out: dict[str, Any] = {}
    pace = pace or {}
    for section in sections:
        value = getattr(cfg, section)
        data = json.loads(value.model_dump_json()) if hasattr(value, "model_dump_json") else value
        if not isinstance(data, dict):
            out[section] = data
            continue
        for key, item in data.items():
            if key not in pace.get(section, ()):
                out[f"{section}.{key}"] = item
    return out


# ---------------------------------------------------------------------------------- digests
class Digests:
    """xxh3 digests of files, cached by (size, mtime_ns) in `_state/digests.json`."""

    def __init__(self, paths: RunPaths):
        self.path = paths.digest_cache
        self.cache: dict[str, list[Any]] = read_json(self.path, {}) or {}
        self.dirty = False

    def of(self, path: str | Path) -> str:
        path = Path(path)
        st = os.stat(path)
        key = str(path)
        hit = self.cache.get(key)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        digest = file_digest(path)
        self.cache[key] = [st.st_size, st.st_mtime_ns, digest]
        self.dirty = True
        return digest

    def save(self) -> None:
        if self.dirty:
            live = {k: v for k, v in self.cache.items() if os.path.exists(k)}
            write_json_atomic(self.path, live)
            self.dirty = False


# ------------------------------------------------------------------------------ a stage run
class StageRun:
    """One stage, one config: what the stage's `execute` gets."""

    def __init__(self, stage: Stage, cfg: Config, *, executor: str | None = None):
        self.stage, self.cfg = stage, cfg
        self.paths = RunPaths.of(Path(cfg.run_dir).resolve())
        self.settings = stage_settings(stage, cfg)
        self.settings_fp = combine_fingerprint(self.settings)
        self.digests = Digests(self.paths)
        self.executor = executor  # None: Ray; "local": this process
        self.fingerprint = ""  # the stage's, once run_stage has computed it
        self.counts: dict[str, int] = {"tasks_run": 0, "tasks_skipped": 0}

    # --- fingerprints and records
    def task_fingerprint(self, phase: str, task: Task) -> str:
        return combine_fingerprint(
            self.settings_fp, phase, task.key, [self.digests.of(p) for p in task.inputs],
            task.identity,
        )  # fmt: skip

    def record_path(self, phase: str, key: str) -> Path:
        return self.paths.done_record(self.stage.name, phase, key)

    def is_done(self, phase: str, task: Task, fp: str) -> dict[str, Any] | None:
        """The task's recorded result if its record is current and its outputs exist."""
        record = read_json(self.record_path(phase, task.key))
        if not record or record.get("fingerprint") != fp:
            return None
        if not all(os.path.exists(p) for p in task.outputs):
            return None
        return record

    def record(self, phase: str, task: Task, result: Any, fp: str | None = None) -> None:
        """The task's done record (atomic): its fingerprint, input digests and result."""
        fp = fp or self.task_fingerprint(phase, task)
        write_json_atomic(
            self.record_path(phase, task.key),
            {"fingerprint": fp, "key": task.key, "finished_at": time.time(),
             "inputs": {str(p): self.digests.of(p) for p in task.inputs}, "result": result},
        )  # fmt: skip

    def _scratch_path(self, phase: str, task: Task, fp: str) -> Path:
        return self.paths.work / self.stage.name / phase / f"{task.key}-{fp}"

    def _scratch(self, phase: str, task: Task, fp: str) -> Path:
        return _only_current(self._scratch_path(phase, task, fp), task.key)

    def current_dir(self, parent: Path, prefix: str) -> Path:
        """`parent/<prefix>-<stage fingerprint>`, created; siblings of other settings or
        inputs removed (dedup's work: never mixed with another configuration's)."""
        work = _only_current(parent / f"{prefix}-{self.fingerprint}", prefix)
        work.mkdir(parents=True, exist_ok=True)
        return work

    def task_slots(self, cpus_per_task: float) -> int:
        """How many tasks of `cpus_per_task` run at once (the cluster's CPUs, or this host's)."""
        if self.executor == "local":
            return 1
        import ray

        cpus = ray.cluster_resources().get("CPU", 1) if ray.is_initialized() else 1
        return max(1, int(cpus / cpus_per_task))

    # --- running tasks
    def map(
        self,
        phase: str,
        fn: Callable[..., Any],
        tasks: Sequence[Task],
        *,
        desc: str | None = None,
        unit: str = "shard",
        records: str | None = None,
        num_cpus: float = 1,
        local: bool = False,
        group: Callable[[list[Task]], list[list[Task]]] | None = None,
        **kwargs: Any,
    ) -> list[Any]:
        """`fn(task.payload, **kwargs)` for every task not done; results in task order.

        Done tasks return their recorded result (with `skipped: True` for dicts). With
        `group`, the tasks still to do are grouped and `fn(list of payloads, **kwargs)`
        returns one result per payload (the crawl: several shards per task slot).
        """
        keys = [t.key for t in tasks]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{self.stage.name}/{phase}: task keys are not unique")
        results: list[Any] = [None] * len(tasks)
        todo: list[tuple[int, Task, str]] = []
        for i, task in enumerate(tasks):
            fp = self.task_fingerprint(phase, task)
            record = self.is_done(phase, task, fp)
            stage_work = task.scratch == "stage"  # its output is the folder: it must be there
            if record is not None and stage_work and not self._scratch_path(phase, task, fp).is_dir():
                record = None
            if record is not None:
                if task.scratch == "task":  # killed between its record and this removal
                    shutil.rmtree(self._scratch_path(phase, task, fp), ignore_errors=True)
                result = record.get("result")
                results[i] = {**result, "skipped": True} if isinstance(result, dict) else result
                continue
            if task.scratch:
                work = self._scratch(phase, task, fp)
                task = Task(**{**task.__dict__, "payload": {**task.payload, "work": str(work)}})
            todo.append((i, task, fp))
        self.digests.save()
        self.counts["tasks_run"] += len(todo)
        self.counts["tasks_skipped"] += len(tasks) - len(todo)
        if not todo:
            return results

        def finished(members: list[tuple[int, Task, str]], outs: list[Any]) -> None:
            for (i, task, fp), out in zip(members, outs, strict=True):
                self.record(phase, task, out, fp)
                if task.scratch == "task":
                    shutil.rmtree(task.payload["work"], ignore_errors=True)
                results[i] = out

        if group is not None:
            by_key = {t.key: (i, t, fp) for i, t, fp in todo}
            units = [[by_key[t.key] for t in g] for g in group([t for _, t, _ in todo])]
            items: list[Any] = [[t.payload for _, t, _ in members] for members in units]
        else:
            units = [[member] for member in todo]
            items = [member[1].payload for member in todo]

        def on_result(k: int, out: Any) -> None:
            finished(units[k], out if group is not None else [out])

        total = sum(t.records for _, t, _ in todo) or None
        label = desc or f"{self.stage.name}" + (f" {phase}" if phase != self.stage.name else "")
        run_local = local or self.executor == "local"
        if run_local:
            _local_map(fn, items, desc=label, unit=unit, on_result=on_result,
                       records=(records, total) if records else None, **kwargs)  # fmt: skip
        else:
            from pipelines._ray import map_shards

            map_shards(fn, items, desc=label, unit=unit, num_cpus=num_cpus, on_result=on_result,
                       records=(records, total) if records else None, **kwargs)  # fmt: skip
        return results

    def remove_orphans(self, folder: Path, pattern: str, keep: Iterable[str | Path]) -> int:
        """Files in `folder` matching `pattern` that no current task writes (a run with
        more partitions before), and `.*.tmp` leftovers of killed writers; returns how many
        orphans were removed."""
        clean_temp_files(folder)
        wanted = {Path(p).name for p in keep}
        removed = 0
        if folder.is_dir():
            for path in folder.glob(pattern):
                if path.name not in wanted:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed


def stage_settings(stage: Stage, cfg: Config) -> dict[str, Any]:
    """The settings that decide the stage's results: its own function, else its sections
    minus pace keys."""
    if stage.settings is not None:
        return stage.settings(cfg)
    return flat_settings(cfg, stage.sections, stage.pace)


def settings_key(stage: Stage, cfg: Config) -> str:
    """A stage's settings as one key (the crawl tags its inline text with extract's)."""
    return combine_fingerprint(stage_settings(stage, cfg))


def _only_current(work: Path, prefix: str) -> Path:
    """`work` (`<prefix>-<fingerprint>`), its siblings `<prefix>-*` of other inputs or
    settings removed."""
    if work.parent.is_dir():
        for stale in work.parent.glob(f"{prefix}-*"):
            if stale != work:
                shutil.rmtree(stale, ignore_errors=True)
    return work


def _local_map(fn: Callable[..., Any], items: Sequence[Any], *, desc: str, unit: str,
               on_result: Callable[[int, Any], None],
               records: tuple[str, int | None] | None, **kwargs: Any) -> None:  # fmt: skip
    """The in-process executor: same functions, same order of records as Ray's."""
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(Progress(len(items), desc, unit))
        rec = None
        if records is not None:
            rec = Progress(records[1], f"{desc} ({records[0]})", records[0])
            stack.callback(rec.close, True)

        def send(counts: dict[str, int]) -> None:
            if rec is not None:
                rec.set_extra({k: v for k, v in counts.items() if k != records[0]})
                rec.update(counts.get(records[0], 0))

        for k, item in enumerate(items):
            with counting_to(send):
                out = fn(item, **kwargs)
            on_result(k, out)
            bar.update()


# ------------------------------------------------------------------------------ the driver
def fingerprint_of(run: StageRun, inputs: Inputs) -> tuple[str, dict[str, str]]:
    """The stage's fingerprint and its input digests (the cache is saved by the callers
    that may write: a run, not a plan)."""
    digests = {str(p): run.digests.of(p) for p in inputs.files}
    return stage_fingerprint(run.settings_fp, list(digests.values()), inputs.identity), digests


def run_stage(stage: Stage, cfg: Config, *, executor: str | None = None) -> dict[str, Any]:
    """Run one stage to completion, skipping what is done; returns its stats."""
    run = StageRun(stage, cfg, executor=executor)
    migrate_layout(run.paths)  # a run written before the layout change
    if stage.adopt is not None:  # a run made before the stage engine
        stage.adopt(run, dry=False)
    inputs = stage.inputs(run)
    if inputs.missing:
        raise ConfigError(inputs.missing)
    fp, digests = fingerprint_of(run, inputs)
    run.digests.save()
    marker = StageMarker(run.paths.root, stage.name)
    if marker.is_done(fp):
        log.info("%s: already done (fingerprint %s)", stage.name, fp)
        return (marker.read() or {}).get("stats", {})
    run.fingerprint = fp
    _write_settings(run)
    for name in stage.outputs:
        clean_temp_files(getattr(run.paths, name))
    start = time.monotonic()
    with _executor_session(stage, run):
        stats = stage.execute(run)
    stats = {**stats, **run.counts}
    _mark(run, fp, digests, stats)
    if stage.clear_work:  # its phases' intermediate files: the outputs are complete
        shutil.rmtree(run.paths.work / stage.name, ignore_errors=True)
    line = stage.summary(stats) if stage.summary else ""
    log.info("%s: finished in %.1fs%s", stage.name, time.monotonic() - start,
             f": {line}" if line else "")  # fmt: skip
    return stats


@contextlib.contextmanager
def _executor_session(stage: Stage, run: StageRun):
    """Ray for the stage's tasks (joined or started once), unless the stage or the caller
    runs them in this process."""
    if not stage.ray or run.executor == "local":
        yield
        return
    from pipelines._ray import ray_session

    with ray_session(run.cfg.ray):
        yield


def _write_settings(run: StageRun) -> None:
    """The settings of this finish, by fingerprint: what `plan` compares a later config to."""
    settings_file = run.paths.stage_state(run.stage.name) / f"settings-{run.settings_fp}.json"
    if not settings_file.exists():
        write_json_atomic(settings_file, run.settings)


def _mark(run: StageRun, fp: str, digests: dict[str, str], stats: dict[str, Any]) -> None:
    StageMarker(run.paths.root, run.stage.name).mark_done(
        fp, stats, settings_fingerprint=run.settings_fp,
        inputs={_rel(run.paths, p): d for p, d in digests.items()},
        outputs=stage_outputs(run.paths, run.stage),
    )  # fmt: skip
    run.digests.save()


def stage_outputs(paths: RunPaths, stage: Stage) -> list[str]:
    """The files of the stage's listed output folders, for its marker (`_work/` is scratch:
    a user may delete it, so nothing there is listed)."""
    names = stage.outputs if stage.listed is None else stage.listed
    folders = [getattr(paths, name) for name in names]
    return output_files(paths.root, [f for f in folders if not f.is_relative_to(paths.work)])


def mark_stage_done(run: StageRun, stats: dict[str, Any]) -> None:
    """Record the stage as done for its current settings and inputs (adopting output made
    by an older version whose own record says it fits them)."""
    inputs = run.stage.inputs(run)
    fp, digests = fingerprint_of(run, inputs)
    _write_settings(run)
    _mark(run, fp, digests, stats)


def _rel(paths: RunPaths, path: str | Path) -> str:
    try:
        return str(Path(path).relative_to(paths.root))
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------------- plan
@dataclass
class StagePlan:
    stage: str
    state: str  # done | todo | stale | waiting
    done: int = 0
    todo: int = 0
    stale: int = 0
    why: list[str] = field(default_factory=list)
    cause: list[str] = field(default_factory=list)  # the changed keys, passed downstream


def plan_stage(stage: Stage, cfg: Config, upstream: Mapping[str, StagePlan]) -> StagePlan:
    """What `run_stage` would do now and why, touching nothing."""
    run = StageRun(stage, cfg)  # nothing here saves its digest cache: plan writes nothing
    rerun = [name for name in stage.after if upstream.get(name) and upstream[name].state != "done"]
    inputs = stage.inputs(run)
    tasks: list[Task] = []
    phase = stage.name
    if stage.first_tasks is not None and not inputs.missing:
        phase, tasks = stage.first_tasks(run)
    if rerun or inputs.missing:
        marker = StageMarker(run.paths.root, stage.name).read()
        if rerun and not marker:
            why = [f"waits for {', '.join(rerun)}"]
        elif rerun:
            causes = [c for name in rerun for c in upstream[name].cause]
            why = [f"inputs from {', '.join(rerun)} will be rebuilt"
                   + (f" ({'; '.join(causes)})" if causes else "")]  # fmt: skip
        else:
            why = [inputs.missing]
        plan = StagePlan(stage.name, "stale" if marker else "todo", why=why,
                         cause=[c for name in rerun for c in upstream[name].cause])  # fmt: skip
        if marker:
            plan.stale = max(len(tasks), 1)
        else:
            plan.todo = max(len(tasks), 1)
        return plan
    fp, digests = fingerprint_of(run, inputs)
    marker = StageMarker(run.paths.root, stage.name).read() or {}
    adopted = stage.adopt(run, dry=True) if stage.adopt is not None else False
    if adopted is True:  # run_stage records it as done before anything else
        return StagePlan(stage.name, "done", done=max(len(tasks), 1),
                         why=["made before the stage engine: adopted as it is"])  # fmt: skip
    adopted = adopted or set()
    gone = missing_outputs(run.paths.root, marker)
    if marker.get("fingerprint") == fp and not gone:
        return StagePlan(stage.name, "done", done=max(len(tasks), 1))
    why = [f"outputs gone: {_list(gone)}"] if gone else []
    if marker.get("fingerprint") != fp:
        why += _why(run, marker, digests)
    if adopted:
        why.append(f"{len(adopted)} task(s) made before the stage engine: adopted, not redone")
    plan = StagePlan(stage.name, "stale" if marker else "todo", why=why,
                     cause=[w for w in why if not w.startswith(("changed inputs", "inputs gone"))])  # fmt: skip
    if not tasks:
        if marker:
            plan.stale = 1
        else:
            plan.todo = 1
        return plan
    for task in tasks:
        record = read_json(run.record_path(phase, task.key))
        if task.key in adopted:
            plan.done += 1
        elif record is None:
            plan.todo += 1
        elif run.is_done(phase, task, run.task_fingerprint(phase, task)) is not None:
            plan.done += 1
        else:
            plan.stale += 1
    if not plan.todo and not plan.stale:  # tasks done, later phases or the marker are not
        plan.stale = 1 if marker else 0
        plan.todo = 0 if marker else 1
    return plan


def _why(run: StageRun, marker: dict[str, Any], digests: dict[str, str]) -> list[str]:
    """The settings keys and input files that differ from the last finished run."""
    if not marker:
        return ["never run"]
    why = []
    old_file = run.paths.stage_state(run.stage.name) / (
        f"settings-{marker.get('settings_fingerprint')}.json"
    )
    old = read_json(old_file)
    if old is None:
        why.append("settings of the last finish unknown (run made before the stage engine)")
    else:
        for key in sorted(set(old) | set(run.settings)):
            if old.get(key, "<unset>") != run.settings.get(key, "<unset>"):
                why.append(f"{key}: {_short(old.get(key, '<unset>'))} -> "
                           f"{_short(run.settings.get(key, '<unset>'))}")  # fmt: skip
    recorded = marker.get("inputs")
    if recorded is None:  # a marker made before the stage engine: which inputs is unknown
        return why
    current = {_rel(run.paths, p): d for p, d in digests.items()}
    changed = [p for p in current if recorded.get(p) != current[p]]
    gone = [p for p in recorded if p not in current]
    if changed:
        why.append(f"changed inputs: {_list(changed)}")
    if gone:
        why.append(f"inputs gone: {_list(gone)}")
    if not why:
        why.append("other inputs changed (dumps, takedown lists)")
    return why


def _short(value: Any) -> str:
    import json

    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _list(items: list[str]) -> str:
    return ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")


def format_plan(plans: Sequence[StagePlan]) -> str:
    lines = [f"{'stage':<10} {'state':<8} {'done':>6} {'to do':>6} {'stale':>6}  why"]
    for p in plans:
        why = "; ".join(p.why)
        lines.append(f"{p.stage:<10} {p.state:<8} {p.done:>6} {p.todo:>6} {p.stale:>6}  {why}")
    if all(p.state == "done" for p in plans):
        lines.append("nothing to do")
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------- a whole run
def is_current(stage: Stage, cfg: Config) -> bool:
    """Whether the stage's marker matches its settings and inputs now (of the run's files,
    only the digest cache may be written)."""
    run = StageRun(stage, cfg)
    inputs = stage.inputs(run)
    if inputs.missing:
        return False
    fp, _ = fingerprint_of(run, inputs)
    run.digests.save()
    return StageMarker(run.paths.root, stage.name).is_done(fp)


def run_pipeline(stages: Sequence[Stage], cfg: Config, *,
                 extra: Sequence[tuple[str, Callable[[Config], dict[str, Any]]]] = (),
                 finish: Callable[[Config, dict[str, Any]], dict[str, Any]],
                 done: Callable[[dict[str, Any]], None]) -> dict[str, Any]:  # fmt: skip
    """Every stage in order (each skipping its finished tasks), then `extra` steps (train),
    then `finish` (ledger, stats, report) once; a run whose stages are all current and
    whose `finish` ran for them does no work at all (not even start Ray)."""
    paths = RunPaths.of(cfg.run_dir)
    migrate_layout(paths)
    marker = StageMarker(paths.root, "run")
    identity = combine_fingerprint([s.name for s in stages], [n for n, _ in extra],
                                   cfg.fingerprint("report", *(n for n, _ in extra if
                                                               getattr(cfg, n, None) is not None)))  # fmt: skip
    previous = marker.read() or {}

    def fingerprints() -> dict[str, str | None]:
        return {s.name: (StageMarker(paths.root, s.name).read() or {}).get("fingerprint")
                for s in stages}  # fmt: skip

    if previous.get("identity") == identity and all(is_current(s, cfg) for s in stages):
        stats = previous.get("stats", {})
        if previous.get("stages") == fingerprints():
            log.info("run in %s is already complete: nothing to do", paths.root)
            done(stats)
            return stats
    stage_stats: dict[str, Any] = {}
    from pipelines._ray import ray_session

    with ray_session(cfg.ray):
        for stage in stages:
            start = time.monotonic()
            log.info("stage %s: starting", stage.name)
            stage_stats[stage.name] = run_stage(stage, cfg)
            log.info("stage %s: finished in %.1fs", stage.name, time.monotonic() - start)
        for name, step in extra:
            stage_stats[name] = step(cfg)
    fps = fingerprints()
    stats = finish(cfg, stage_stats)
    marker.mark_done(combine_fingerprint(fps), stats, identity=identity, stages=fps)
    done(stats)
    return stats


def plan_pipeline(stages: Sequence[Stage], cfg: Config) -> list[StagePlan]:
    """`plan_stage` for every stage in order, each knowing what its upstream will do."""
    plans: dict[str, StagePlan] = {}
    for stage in stages:
        plans[stage.name] = plan_stage(stage, cfg, plans)
    return list(plans.values())
