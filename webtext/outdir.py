"""Output folders of exports: all new files or none, never a mix with an earlier export.

An export writes into a fresh temp folder beside `--out` and swaps it in only when complete.
A non-empty `--out` is refused unless `overwrite` is set; then the old folder is replaced as
a whole, so a re-export with other settings (e.g. fewer llm.c shards) leaves exactly the new
files, never stale ones that a trainer's glob would pick up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from webtext.config import ConfigError
from webtext.io import current_umask


class OutputExistsError(ConfigError):
    """`--out` holds files and `--overwrite` was not given."""


def _dir_mode() -> int:
    return 0o777 & ~current_umask()


def run_inputs(run_dir: str | Path) -> list[Path]:
    """The run and its stage folders: an export's `--out` may sit inside the run (e.g.
    RUN/exports/x) but never be or hold one of these."""
    from webtext.paths import RunPaths

    paths = RunPaths.of(run_dir)
    return [
        paths.root,
        paths.links,
        paths.pages,
        paths.warc,
        paths.cleaned,
        paths.dedup_work,
        paths.documents,
        paths.shards,
        paths.ledger,
        paths.overlap,
        paths.work,
        paths.state,
        paths.train_dir(),
    ]


def check_out_dir(out: str | Path, overwrite: bool, inputs: Iterable[str | Path] = ()) -> Path:
    """Fail early (before any work) when `out` is a file, non-empty without overwrite, or
    is (or holds) one of `inputs`: replacing it would delete what the export is made from."""
    out = Path(out)
    where = out.resolve()
    for path in inputs:
        held = Path(path).resolve()
        if where == held or where in held.parents:
            raise OutputExistsError(
                f"{out} is or holds {path}, an input of this export (the run's data): "
                "choose another --out"
            )
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{out} is not empty: pass --overwrite to replace it (its files are removed)"
        )
    return out


@contextlib.contextmanager
def fresh_output_dir(
    out: str | Path, *, overwrite: bool = False, inputs: Iterable[str | Path] = ()
) -> Iterator[Path]:
    """Yield an empty temp folder; on success it becomes `out` (replacing the old one)."""
    out = check_out_dir(out, overwrite, inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        os.chmod(tmp, _dir_mode())  # mkdtemp makes 0700; give the usual mode
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "out")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
