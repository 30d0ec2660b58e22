"""The Python API beside the CLI: load_config with overrides, one stage, an export, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

import webtext
from webtext.io import shard_name, write_parquet_atomic
from webtext.schemas import DOCUMENTS_SCHEMA, document_id


def test_load_config_with_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"run_dir": "runs/a", "harvest": {"min_score": 3}}))
    cfg = webtext.load_config(path, ["harvest.min_score=7", "run_dir=runs/b"])
    assert isinstance(cfg, webtext.Config)
    assert cfg.harvest.min_score == 7 and str(cfg.run_dir).endswith("runs/b")
    assert webtext.load_config(path).harvest.min_score == 3
    with pytest.raises(webtext.ConfigError, match="min_scor"):
        webtext.load_config(path, ["harvest.min_scor=4"])
    with pytest.raises(webtext.ConfigError, match="unknown stage"):
        webtext.run_stage("fetch", {"run_dir": str(tmp_path)})


@pytest.mark.ray
def test_stage_and_export_from_python(tmp_path, ray_local):
    run = tmp_path / "run"
    rows = []
    for i in range(40):
        url = f"https://example.net/{i}"
        rows.append({"id": document_id(url), "url": url, "text": f"Text number {i}. " * (i + 3)})
    write_parquet_atomic(run / "documents" / shard_name(0),
                         pa.Table.from_pylist(rows, schema=DOCUMENTS_SCHEMA))  # fmt: skip
    config = {"run_dir": str(run), "tokenize": {"shard_tokens": 1024, "val_fraction": 0.1}}
    stats = webtext.stages.tokenize(config)  # a dict works as well as a Config
    index = json.loads((run / "shards" / "index.json").read_text())
    assert stats["documents"] == 40 == sum(s["rows"] for s in index["shards"])
    written = webtext.export(run, "packed", tmp_path / "packed", seq_len=64)
    assert sum(written.values()) == sum(
        (s["tokens"] // 64) * 64
        for s in [
            {"tokens": sum(x["tokens"] for x in index["shards"] if x["split"] == split)}
            for split in ("train", "val")
        ]
    )
    with pytest.raises(webtext.ConfigError, match="--overwrite"):
        webtext.export(run, "nanogpt", tmp_path / "packed")
    assert set(webtext.export(run, "nanogpt", tmp_path / "packed", overwrite=True)) == {
        "train.bin",
        "val.bin",
    }
    assert sorted(p.name for p in (tmp_path / "packed").iterdir()) == ["train.bin", "val.bin"]


def test_stage_functions_cover_every_cli_stage():
    from webtext.cli import STAGES

    for name in STAGES:
        fn = webtext.run if name == "run" else getattr(webtext.stages, name)
        assert callable(fn) and fn.__doc__, name
    assert Path(webtext.stages.__file__).name == "stages.py"
