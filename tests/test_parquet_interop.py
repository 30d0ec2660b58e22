"""Parquet outputs, empty partitions included, load in HF datasets, pyarrow, DuckDB, pandas
(the demo-run version of this check is in tests/test_demo.py)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from webtext.io import shard_name, write_parquet_atomic
from webtext.schemas import DOCUMENTS_SCHEMA


def test_empty_partition_has_no_row_group_and_every_reader_loads_the_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    duckdb = pytest.importorskip("duckdb")
    import pandas as pd

    folder = tmp_path / "documents"
    rows = [{"id": f"{i:016x}", "url": f"https://e.org/{i}", "text": "t" * i, "subreddits": ["a"]}
            for i in range(5)]  # fmt: skip
    write_parquet_atomic(folder / shard_name(0), DOCUMENTS_SCHEMA.empty_table())
    write_parquet_atomic(folder / shard_name(1), pa.Table.from_pylist(rows, DOCUMENTS_SCHEMA))
    write_parquet_atomic(folder / shard_name(2), pa.Table.from_pylist([], DOCUMENTS_SCHEMA))
    meta = pq.ParquetFile(folder / shard_name(0)).metadata
    assert meta.num_row_groups == 0 and meta.num_rows == 0
    assert pq.read_schema(folder / shard_name(0)).equals(DOCUMENTS_SCHEMA)
    datasets.disable_progress_bars()
    ds = datasets.load_dataset("parquet", data_dir=str(folder), cache_dir=str(tmp_path / "c"))
    assert ds["train"].num_rows == 5 and ds["train"][4]["text"] == "tttt"
    assert pads.dataset(str(folder)).count_rows() == 5
    glob = str(folder / "*.parquet")
    assert duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall()[0][0] == 5
    assert [len(pd.read_parquet(p)) for p in sorted(folder.iterdir())] == [0, 5, 0]
    # the same bytes for the same (empty) table: writes stay deterministic
    again = tmp_path / "again.parquet"
    write_parquet_atomic(again, DOCUMENTS_SCHEMA.empty_table())
    assert again.read_bytes() == (folder / shard_name(0)).read_bytes()
