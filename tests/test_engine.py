"""The one stage driver (pipelines/engine.py) on a small stage of its own, in this process:
done records, skipping, staleness by setting and by input, orphans, scratch folders, plan."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipelines.engine import Inputs, Stage, StageRun, Task, plan_pipeline, run_stage
from webtext.config import ConfigError, build_config
from webtext.io import StageMarker, write_text_atomic
from webtext.paths import part_files

REPO = Path(__file__).resolve().parents[1]
CALLS: list[str] = []


def upper_task(item: tuple[str, str], *, suffix: str) -> dict:
    """The task function: one input file -> one output file, atomically."""
    src, dst = item
    CALLS.append(Path(src).name)
    text = Path(src).read_text()
    write_text_atomic(dst, text.upper() + suffix)
    return {"chars": len(text)}


def _tasks(run: StageRun) -> tuple[str, list[Task]]:
    out = []
    for _, src in part_files(run.paths.root / "in"):
        dst = run.paths.root / "out" / src.name
        out.append(Task(key=src.stem, payload=(str(src), str(dst)), inputs=(str(src),),
                        outputs=(str(dst),)))  # fmt: skip
    return "upper", out


def _execute(run: StageRun) -> dict:
    phase, tasks = _tasks(run)
    run.remove_orphans(run.paths.root / "out", "part-*.parquet", [t.payload[1] for t in tasks])
    results = run.map(phase, upper_task, tasks, suffix=run.cfg.clean.languages[0])
    return {"chars": sum(r["chars"] for r in results)}


def _inputs(run: StageRun) -> Inputs:
    folder = run.paths.root / "in"
    if not folder.is_dir():
        return Inputs(missing=f"{folder} does not exist: write the inputs first")
    return Inputs(files=tuple(p for _, p in part_files(folder)))


TOY = Stage(name="toy", sections=("clean",), after=(),
            inputs=_inputs, execute=_execute, first_tasks=_tasks)  # fmt: skip


def _write(run_dir: Path, index: int, text: str) -> Path:
    path = run_dir / "in" / f"part-{index:05d}.parquet"  # any bytes: the name is the contract
    write_text_atomic(path, text)
    return path


def _cfg(run_dir: Path, lang: str = "en", **clean) -> object:
    return build_config({"run_dir": str(run_dir), "clean": {"languages": [lang], **clean}})


def test_records_skip_and_staleness(tmp_path):
    CALLS.clear()
    for i, text in enumerate(["alpha", "beta", "gamma"]):
        _write(tmp_path, i, text)
    stats = run_stage(TOY, _cfg(tmp_path), executor="local")
    assert stats["chars"] == 14 and stats["tasks_run"] == 3 and stats["tasks_skipped"] == 0
    assert (tmp_path / "out" / "part-00001.parquet").read_text() == "BETAen"
    record = json.loads((tmp_path / "_state/toy/upper/part-00001.json").read_text())
    assert record["result"] == {"chars": 4} and list(record["inputs"]) == [
        str(tmp_path / "in" / "part-00001.parquet")
    ]
    # finished: the marker answers, no task runs
    CALLS.clear()
    assert run_stage(TOY, _cfg(tmp_path), executor="local") == stats and CALLS == []
    # one input changed: only its task runs again
    StageMarker(tmp_path, "toy").clear()
    _write(tmp_path, 2, "delta")
    again = run_stage(TOY, _cfg(tmp_path), executor="local")
    assert CALLS == ["part-00002.parquet"] and again["tasks_skipped"] == 2
    # an output lost: its task runs again though its record is current
    CALLS.clear()
    StageMarker(tmp_path, "toy").clear()
    (tmp_path / "out" / "part-00000.parquet").unlink()
    run_stage(TOY, _cfg(tmp_path), executor="local")
    assert CALLS == ["part-00000.parquet"]
    # a setting of a declared section: every task is stale; plan names the key first
    CALLS.clear()
    (plan,) = plan_pipeline([TOY], _cfg(tmp_path, "de"))
    assert (plan.state, plan.stale, plan.done) == ("stale", 3, 0)
    assert plan.why == ['clean.languages: ["en"] -> ["de"]']
    run_stage(TOY, _cfg(tmp_path, "de"), executor="local")
    assert sorted(CALLS) == [f"part-0000{i}.parquet" for i in range(3)]
    assert (tmp_path / "out" / "part-00001.parquet").read_text() == "BETAde"
    (plan,) = plan_pipeline([TOY], _cfg(tmp_path, "de"))
    assert plan.state == "done"


def _tasks_to_cleaned(run: StageRun) -> tuple[str, list[Task]]:
    phase, tasks = _tasks(run)
    return phase, [Task(**{**t.__dict__, "payload": (t.payload[0], str(run.paths.cleaned / Path(t.payload[1]).name)),
                           "outputs": (str(run.paths.cleaned / Path(t.payload[1]).name),)})
                   for t in tasks]  # fmt: skip


def _execute_to_cleaned(run: StageRun) -> dict:
    phase, tasks = _tasks_to_cleaned(run)
    results = run.map(phase, upper_task, tasks, suffix=run.cfg.clean.languages[0])
    return {"chars": sum(r["chars"] for r in results)}


def test_output_deleted_by_hand_is_made_again(tmp_path):
    """The marker lists the stage's output files: one deleted by hand (marker and records
    intact) makes the stage not done, `plan` names the file, and the next run writes that
    one file again (a downstream stage would otherwise read a silently smaller corpus)."""
    from pipelines.engine import is_current

    stage = Stage(name="toyout", sections=("clean",), after=(), inputs=_inputs,
                  execute=_execute_to_cleaned, first_tasks=_tasks_to_cleaned,
                  outputs=("cleaned",))  # fmt: skip
    for i, text in enumerate(["alpha", "beta", "gamma"]):
        _write(tmp_path, i, text)
    run_stage(stage, _cfg(tmp_path), executor="local")
    marker = json.loads((tmp_path / "_state" / "toyout.json").read_text())
    assert marker["outputs"] == [f"cleaned/part-0000{i}.parquet" for i in range(3)]
    assert is_current(stage, _cfg(tmp_path))
    (tmp_path / "cleaned" / "part-00001.parquet").unlink()
    assert not is_current(stage, _cfg(tmp_path))
    (plan,) = plan_pipeline([stage], _cfg(tmp_path))
    assert (plan.state, plan.done, plan.stale) == ("stale", 2, 1)
    assert plan.why == ["outputs gone: cleaned/part-00001.parquet"]
    CALLS.clear()
    stats = run_stage(stage, _cfg(tmp_path), executor="local")
    assert CALLS == ["part-00001.parquet"] and stats["tasks_skipped"] == 2
    assert (tmp_path / "cleaned" / "part-00001.parquet").read_text() == "BETAen"
    assert is_current(stage, _cfg(tmp_path))
    (plan,) = plan_pipeline([stage], _cfg(tmp_path))
    assert plan.state == "done"


def test_orphans_and_temp_files_go(tmp_path):
    for i in range(3):
        _write(tmp_path, i, f"text {i}")
    run_stage(TOY, _cfg(tmp_path), executor="local")
    (tmp_path / "in" / "part-00002.parquet").unlink()  # fewer partitions upstream
    (tmp_path / "out" / ".part-00000.parquet.x.tmp").write_text("half")  # a killed writer
    run_stage(TOY, _cfg(tmp_path), executor="local")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "part-00000.parquet", "part-00001.parquet"
    ]  # fmt: skip


def test_missing_inputs_are_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="write the inputs first"):
        run_stage(TOY, _cfg(tmp_path), executor="local")


def test_scratch_kept_across_a_failed_attempt_and_removed_when_recorded(tmp_path):
    seen: list[bool] = []

    def flaky(item: dict, *, fail: bool) -> dict:
        work = Path(item["work"])
        seen.append((work / "chunk").exists())
        work.mkdir(parents=True, exist_ok=True)
        (work / "chunk").write_text("partial")
        if fail:
            raise RuntimeError("killed")
        write_text_atomic(item["out"], "done")
        return {}

    def execute(run: StageRun) -> dict:
        task = Task(key="part-00000", payload={"out": str(tmp_path / "o.txt")},
                    outputs=(str(tmp_path / "o.txt"),), scratch="task")  # fmt: skip
        run.map("s", flaky, [task], fail=run.cfg.clean.min_tokens == 1)
        return {}

    stage = Stage(name="scratchy", sections=("clean",), after=(),
                  inputs=lambda run: Inputs(), execute=execute)  # fmt: skip
    with pytest.raises(RuntimeError, match="killed"):
        run_stage(stage, _cfg(tmp_path, min_tokens=1), executor="local")
    with pytest.raises(RuntimeError, match="killed"):  # same settings: its work is kept
        run_stage(stage, _cfg(tmp_path, min_tokens=1), executor="local")
    run_stage(stage, _cfg(tmp_path, min_tokens=2), executor="local")  # other settings: fresh
    assert seen == [False, True, False]
    assert not any((tmp_path / "_work" / "scratchy" / "s").iterdir())  # removed once recorded
    # a run killed between the record and the removal: the next run removes the folder
    left = next(iter((tmp_path / "_state" / "scratchy" / "s").glob("*.json")))
    fp = json.loads(left.read_text())["fingerprint"]
    (tmp_path / "_work" / "scratchy" / "s" / f"part-00000-{fp}" / "chunk").mkdir(parents=True)
    StageMarker(tmp_path, "scratchy").clear()
    run_stage(stage, _cfg(tmp_path, min_tokens=2), executor="local")
    assert seen == [False, True, False]  # done: not run again
    assert not any((tmp_path / "_work" / "scratchy" / "s").iterdir())


def test_stage_declarations_hold_no_bookkeeping():
    """Fingerprints, done records, plans and markers live in the driver alone."""
    pattern = re.compile(r"fingerprint|\.done\b|done_dir|plan\.json|StageMarker|file_digest|"
                         r"combine_fingerprint|write_json_atomic\(.*done")  # fmt: skip
    for name in ("harvest", "crawl", "extract", "clean", "dedup", "tokenize", "overlap"):
        text = (REPO / "pipelines" / f"{name}.py").read_text()
        assert not pattern.search(text), (name, pattern.search(text).group(0))


def test_adoption_leaves_out_config_keys_added_since_at_their_default():
    """Runs made before the stage engine are matched by their old fingerprints: a config
    key added since (here: as if `fetch.max_redirects` were new) must not break that match
    at its default, or the next run would fetch every page again; set otherwise, it does."""
    from pipelines.legacy import old_view
    from webtext.config import ArchiveSource, FetchConfig

    fetch = FetchConfig()
    old = set(FetchConfig.model_fields) - {"max_redirects"}
    assert old_view(fetch, fetch.model_dump(mode="json"), old) == {
        k: v for k, v in fetch.model_dump(mode="json").items() if k != "max_redirects"
    }
    changed = FetchConfig(max_redirects=2)
    assert old_view(changed, changed.model_dump(mode="json"), old)["max_redirects"] == 2
    source = ArchiveSource(kind="wayback", cdx_url="http://127.0.0.1:1/cdx",
                           replay_url="http://127.0.0.1:1/web")  # required fields
    old = set(ArchiveSource.model_fields) - {"indexes"}
    assert "indexes" not in old_view(source, source.model_dump(mode="json"), old)
