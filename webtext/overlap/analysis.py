"""`webtext overlap`: how much of each test set already appears in the run's training data."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow.parquet as pq

from webtext.config import OverlapConfig, RayConfig
from webtext.io import write_json_atomic
from webtext.overlap.index import run_index_dir
from webtext.overlap.report import overlap_json_path, score_texts
from webtext.overlap.sources import TextUnit, file_format, iter_batches
from webtext.progress import log
from webtext.registry import driver


def analyze(
    run_dir: str | Path,
    files: list[str | Path],
    overlap: OverlapConfig | None = None,
    ray: RayConfig | None = None,
    text_unit: TextUnit = "line",
    rebuild: bool = False,
) -> dict:
    """Score every test file and the run's val split against the train Bloom filter, write
    `<run_dir>/overlap/overlap.json` and return its content."""
    overlap = overlap or OverlapConfig()
    for f in files:
        if not Path(f).is_file():
            raise FileNotFoundError(f"test file not found: {f}")
    start = time.monotonic()
    # the Ray build is driver code (pipelines/overlap.py), registered as `overlap_index`
    index = driver("overlap_index")(run_dir, overlap, ray, rebuild=rebuild)
    n = overlap.ngram
    results = []
    for f in files:
        fmt = file_format(f)
        log.info("overlap: scoring %s (%s)", f, fmt)
        results.append(
            score_texts(index, iter_batches(f, text_unit), n, Path(f).name, path=str(f), format=fmt)
        )
    val_path = run_index_dir(run_dir, overlap) / "val.parquet"
    if val_path.is_file():
        val = pq.read_table(val_path).column("text").to_pylist()
        if val:
            batches = [val[i : i + 2048] for i in range(0, len(val), 2048)]
            results.append(score_texts(index, batches, n, "val split (this run)", path=None))
    report = {
        "bloom": {k: v for k, v in index.meta.items() if k != "partitions"}
        | {"folder": str(run_index_dir(run_dir, overlap))},
        "text_unit": text_unit,
        "results": results,
        "seconds": round(time.monotonic() - start, 2),
    }
    write_json_atomic(overlap_json_path(run_dir), report)
    return report
