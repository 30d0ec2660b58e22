"""Atomic writes and completion markers: the two things that make every stage resumable.

A file appears under its final name only when complete (temp file in the same folder, fsync,
rename), so a killed task leaves no half-written output that a rerun would trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def current_umask() -> int:
    """The process's umask, read without changing it (Linux: /proc/self/status). Elsewhere
    os.umask must set a value to read the old one, which is done briefly and restored."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def file_mode() -> int:
    """The mode a plain open() would give a new file now: mkstemp creates 0600 files, and
    outputs get this mode instead."""
    return 0o666 & ~current_umask()


def __getattr__(name: str) -> Any:
    if name == "FILE_MODE":  # the former import-time constant, now read when asked for
        return file_mode()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | Path, default: Any = None) -> Any:
    path = Path(path)
    if not path.exists():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


def write_parquet_atomic(path: str | Path, table: pa.Table, **kwargs: Any) -> None:
    """Parquet with zstd; deterministic bytes for the same table (no created-time metadata).

    An empty table becomes a schema-only file with zero row groups: `pq.write_table` would
    write one 0-row row group, which HF `datasets` rejects ("BatchSize must be greater than
    0") while pyarrow, DuckDB and pandas read both forms.
    """
    kwargs.setdefault("compression", "zstd")
    with atomic_path(path) as tmp:
        if table.num_rows:
            pq.write_table(table, tmp, **kwargs)
        else:
            pq.ParquetWriter(str(tmp), table.schema, **kwargs).close()


def clean_temp_files(folder: str | Path) -> int:
    """Remove `.*.tmp` leftovers of killed writers; returns how many were removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for tmp in folder.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


def shard_name(index: int, suffix: str = ".parquet", prefix: str = "part") -> str:
    """Deterministic shard file names: part-00007.parquet."""
    return f"{prefix}-{index:05d}{suffix}"


def file_digest(path: str | Path) -> str:
    """xxh3-128 of a file's bytes: the identity of an intermediate a later stage reads.

    Stages write deterministic bytes, so an upstream rerun that produces the same file
    leaves its digest (and the downstream work) unchanged, whatever its mtime.
    """
    import xxhash

    h = xxhash.xxh3_128()
    with open(path, "rb") as fh:
        while block := fh.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def stat_identity(paths: list[Path]) -> list[list[Any]]:
    """[name, size, mtime_ns] of external inputs (dumps) too big to hash on every run."""
    out = []
    for path in paths:
        st = os.stat(path)
        out.append([str(path), st.st_size, st.st_mtime_ns])
    return out


def combine_fingerprint(*parts: Any) -> str:
    """One 16-hex fingerprint of JSON-able parts (config fingerprints, input digests)."""
    import hashlib

    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def stage_fingerprint(settings_fp: str, digests: list[str], identity: Any = None) -> str:
    """A stage's fingerprint: its settings and the digests of its input files (+ anything
    else its inputs are, e.g. dumps on disk). The driver computes it before running a
    stage; `forget`, which rewrites documents/, recomputes tokenize's with it."""
    return combine_fingerprint(settings_fp, sorted(digests), identity)


def output_files(root: str | Path, folders: list[Path]) -> list[str]:
    """Every file under `folders` (paths relative to `root`, sorted; temp files left
    out): what a stage's marker lists, so that an output deleted by hand makes the stage
    run again instead of passing for done."""
    root = Path(root)
    out = []
    for folder in folders:
        if folder.is_dir():
            out += [str(f.relative_to(root)) for f in folder.rglob("*")
                    if f.is_file() and not f.name.startswith(".")]  # fmt: skip
    return sorted(out)


def missing_outputs(root: str | Path, marker: dict[str, Any]) -> list[str]:
    """The files a stage marker lists that are no longer there (none for a marker made
    before markers listed their outputs)."""
    root = Path(root)
    return [p for p in marker.get("outputs") or () if not (root / p).exists()]


class StageMarker:
    """`<run_dir>/_state/<stage>.json`: written last, after every output of the stage.

    It holds the fingerprint of what the stage's output depends on (its config sections and
    the identity of its inputs); a rerun with the same fingerprint skips the stage, a
    different fingerprint means the output is stale.
    """

    def __init__(self, run_dir: str | Path, stage: str):
        from webtext.paths import RunPaths

        paths = RunPaths.of(run_dir)
        self.root, self.path = paths.root, paths.stage_marker(stage)
        self.stage = stage

    def read(self) -> dict[str, Any] | None:
        return read_json(self.path)

    def is_done(self, fingerprint: str) -> bool:
        """The fingerprint matches and every output the marker lists is still there."""
        data = self.read()
        return (bool(data) and data.get("fingerprint") == fingerprint
                and not missing_outputs(self.root, data))  # fmt: skip

    def mark_done(self, fingerprint: str, stats: dict[str, Any] | None = None, **extra: Any) -> None:
        write_json_atomic(
            self.path,
            {
                **extra,
                "stage": self.stage,
                "fingerprint": fingerprint,
                "finished_at": time.time(),
                "stats": stats or {},
            },
        )

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
