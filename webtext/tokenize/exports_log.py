"""RUN_DIR/exports.json: which exports were made from which index.json, to tell stale ones.

`webtext export` records each export (its folder, format, files and the sha256 of the
index.json it read). After `webtext forget` (or a re-tokenize) the index changes, and
`webtext verify` lists every export made from an older index as stale: those files still
hold the removed documents and must be remade or deleted.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from webtext.io import read_json, write_json_atomic
from webtext.paths import RunPaths
from webtext.tokenize.shards import file_sha256

EXPORTS_FILE = "exports.json"


def _path(run_dir: str | Path) -> Path:
    return RunPaths.of(run_dir).root / EXPORTS_FILE


def record_export(run_dir: str | Path, out: str | Path, fmt: str, files: list[str]) -> None:
    """Remember an export (one entry per output folder and format; the newest wins)."""
    index = RunPaths.of(run_dir).shards_index
    out = str(Path(out).resolve())
    entries = [e for e in read_json(_path(run_dir), []) if (e["out"], e["format"]) != (out, fmt)]
    entries.append(
        {
            "out": out,
            "format": fmt,
            "files": sorted(files),
            "index_sha256": file_sha256(index),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    write_json_atomic(_path(run_dir), entries)


def stale_exports(run_dir: str | Path) -> list[dict[str, Any]]:
    """Recorded exports made from an index.json other than the current one."""
    entries = read_json(_path(run_dir), []) or []
    index = RunPaths.of(run_dir).shards_index
    current = file_sha256(index) if index.is_file() else None
    return [e for e in entries if e.get("index_sha256") != current]
