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


def _write(path, rows, schema):
    write_parquet_atomic(path, pa.Table.from_pylist(rows, schema))


def test_old_layout_is_migrated_and_every_data_folder_then_loads_whole(tmp_path):
    """A run written before the layout change (stats.json in links/ and pages/, optout-N in
    links/, dropped-N in cleaned/) fails `load_dataset(data_dir=...)`; `migrate_layout`
    renames the side files into stats/, optout/ and dropped/, after which every folder,
    empty partitions included, loads whole in datasets, pyarrow, DuckDB and pandas."""
    import json

    datasets = pytest.importorskip("datasets")
    from datasets.exceptions import DatasetGenerationError

    from tests.parquet_readers import rows_in_every_reader
    from webtext.clean.stage import CLEANED_SCHEMA, DROPPED_SCHEMA
    from webtext.layout import migrate_layout
    from webtext.paths import RunPaths
    from webtext.schemas import LINKS_SCHEMA, PAGES_SCHEMA

    run = tmp_path / "run"
    urls = [{"url": f"https://e.org/{i}", "canonical_url": f"https://e.org/{i}"} for i in range(3)]
    for folder, schema in (("links", LINKS_SCHEMA), ("pages", PAGES_SCHEMA),
                           ("cleaned", CLEANED_SCHEMA)):  # fmt: skip
        _write(run / folder / shard_name(0), urls[:2], schema)
        _write(run / folder / shard_name(1), [], schema)  # an empty partition
    _write(run / "links" / "optout-00001.parquet", urls[2:], LINKS_SCHEMA)
    dropped = [{**urls[1], "reason": "clean:too_short", "detail": "2 tokens"}]
    _write(run / "cleaned" / "dropped-00000.parquet", dropped, DROPPED_SCHEMA)
    _write(run / "cleaned" / "dropped-00001.parquet", [], DROPPED_SCHEMA)
    (run / "links" / "stats.json").write_text(json.dumps({"urls_kept": 2}))
    (run / "pages" / "stats.json").write_text(json.dumps({"total": 2}))
    datasets.disable_progress_bars()
    with pytest.raises(DatasetGenerationError):  # the failure users met
        datasets.load_dataset("parquet", data_dir=str(run / "links"), cache_dir=str(tmp_path / "c"))

    moved = migrate_layout(run)
    assert sorted(moved) == [
        "cleaned/dropped-00000.parquet -> dropped/part-00000.parquet",
        "cleaned/dropped-00001.parquet -> dropped/part-00001.parquet",
        "links/optout-00001.parquet -> optout/part-00001.parquet",
        "links/stats.json -> stats/links.json",
        "pages/stats.json -> stats/pages.json",
    ]
    assert migrate_layout(run) == []  # idempotent: a second stage finds nothing to move
    paths = RunPaths.of(run)
    assert json.loads(paths.links_stats.read_text()) == {"urls_kept": 2}
    assert json.loads(paths.pages_stats.read_text()) == {"total": 2}
    counts = {name: rows_in_every_reader(run / name, tmp_path / "hf")
              for name in ("links", "pages", "cleaned", "dropped", "optout")}  # fmt: skip
    assert counts == {"links": 2, "pages": 2, "cleaned": 2, "dropped": 1, "optout": 1}
    assert pq.read_table(paths.dropped / shard_name(0)).to_pylist() == dropped
