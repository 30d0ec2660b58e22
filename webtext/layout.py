"""Moves a run folder written before the layout change into the current layout.

Side files used to sit inside Parquet data folders (`links/stats.json`, `pages/stats.json`,
`links/optout-N.parquet`, `cleaned/dropped-N.parquet`), so `datasets.load_dataset("parquet",
data_dir=...)` and `pq.read_table(folder)`, which load a folder whole, failed on them. Every
stage command and `webtext run` calls `migrate_layout` first: each file is renamed into its
new place (one atomic rename per file, same file system), so finished work is kept, not
redone, and an interrupted migration simply continues on the next call.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from webtext.paths import RunPaths

_OLD_PART = re.compile(r"(?:dropped|optout)-(\d+)\.parquet")


def _moves(paths: RunPaths) -> list[tuple[Path, Path]]:
    moves = [
        (paths.links / "stats.json", paths.links_stats),
        (paths.pages / "stats.json", paths.pages_stats),
    ]
    for folder, prefix, target in (
        (paths.cleaned, "dropped", paths.dropped),
        (paths.links, "optout", paths.optout),
    ):
        if folder.is_dir():
            for old in sorted(folder.glob(f"{prefix}-*.parquet")):
                match = _OLD_PART.fullmatch(old.name)
                if match:
                    moves.append((old, target / f"part-{match.group(1)}.parquet"))
    return moves


def migrate_layout(run_dir: str | Path | RunPaths) -> list[str]:
    """Rename old-layout side files into place; returns "old -> new" for each file moved.

    A file at the new place is replaced: the old one exists only if it was written after
    the new one (by older code), so it is the newer of the two."""
    paths = run_dir if isinstance(run_dir, RunPaths) else RunPaths.of(run_dir)
    moved = []
    for old, new in _moves(paths):
        if not old.is_file():
            continue
        new.parent.mkdir(parents=True, exist_ok=True)
        os.replace(old, new)
        moved.append(f"{old.relative_to(paths.root)} -> {new.relative_to(paths.root)}")
    if moved:
        from webtext.progress import log

        log.info("layout: moved %d file(s) to the current layout: %s", len(moved), moved)
    return moved
