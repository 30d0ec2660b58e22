"""Loads one Parquet output folder the way users and independent checks do."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest


def rows_in_every_reader(folder: Path, cache_dir: Path) -> int:
    """The folder's row count, the same in HF datasets (`data_dir=`, the exact call users
    make), pyarrow (`pq.read_table(folder)`), DuckDB and pandas; fails on any side file."""
    datasets = pytest.importorskip("datasets")
    duckdb = pytest.importorskip("duckdb")
    import pandas as pd

    datasets.disable_progress_bars()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert files and all(p.suffix == ".parquet" and p.parent == folder for p in files), files
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    ds = datasets.load_dataset("parquet", data_dir=str(folder), cache_dir=str(cache_dir))
    assert ds["train"].num_rows == rows, folder
    assert pq.read_table(folder).num_rows == rows, folder
    glob = str(folder / "*.parquet")
    assert duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall()[0][0] == rows
    assert len(pd.read_parquet(folder)) == rows, folder
    return rows
