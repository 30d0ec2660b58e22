"""Progress in records: counts from inside Ray tasks reach the driver's bar, against totals
(dump bytes for harvest), batched across threads."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import pytest

from webtext.progress import count, counting_to, log


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def progress_lines(monkeypatch):
    monkeypatch.setenv("WEBTEXT_PROGRESS_EVERY", "0")  # a log line on every update
    handler = _Lines()
    log.addHandler(handler)
    level = log.level
    log.setLevel(logging.INFO)
    yield handler.lines
    log.removeHandler(handler)
    log.setLevel(level)


def test_counts_from_threads_are_batched_and_all_arrive():
    sent: list[dict[str, int]] = []
    with counting_to(sent.append, period=0.0005):
        threads = [
            threading.Thread(target=lambda: [count(3, "bytes") for _ in range(2000)])
            for _ in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        count(5, "urls")
    assert sum(d.get("bytes", 0) for d in sent) == 4 * 2000 * 3
    assert sum(d.get("urls", 0) for d in sent) == 5
    assert 1 < len(sent) < 4 * 2000  # batched, not one message per call
    count(7)  # outside a task: a no-op


@pytest.mark.ray
def test_harvest_progress_counts_dump_bytes_and_submissions(tmp_path, ray_local, progress_lines):
    from pipelines import harvest
    from tests.test_harvest import sub, write_dump
    from webtext.config import build_config

    subs = [sub(f"p{i}", f"https://site{i % 7}.example/{i}", score=5) for i in range(3000)]
    dumps = [write_dump(tmp_path / "RS_2017-01.zst", subs[:2000]),
             write_dump(tmp_path / "RS_2017-02.gz", subs[2000:])]  # fmt: skip
    total = sum(Path(d).stat().st_size for d in dumps)
    cfg = build_config({
        "run_dir": str(tmp_path / "run"),
        "source": {"pushshift": [str(d) for d in dumps]},
        "harvest": {"num_partitions": 2, "spill_partitions": 4},
    })  # fmt: skip
    harvest.run(cfg)
    lines = [line for line in progress_lines if line.startswith("harvest: read dumps (bytes)")]
    assert lines, progress_lines
    final = lines[-1]
    assert final.endswith(" done"), final
    got = re.match(r"harvest: read dumps \(bytes\): (\d+)/(\d+) bytes", final)
    assert got and int(got[1]) == int(got[2]) == total, final
    assert re.search(r"submissions (\d+)", final)[1] == "3000", final
