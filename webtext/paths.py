"""The one place that names every output path of a run; stages ask here, never build paths."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_PART = re.compile(r"part-(\d+)\.parquet")


def part_files(folder: Path) -> list[tuple[int, Path]]:
    """(N, path) of every `part-N.parquet` in a stage folder, by N (none if it is absent)."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _PART.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def part_name(index: int, suffix: str = ".parquet") -> str:
    """`part-00007.parquet`: the one spelling of shard file names."""
    return f"part-{index:05d}{suffix}"


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @classmethod
    def of(cls, run_dir: str | Path) -> RunPaths:
        return cls(Path(run_dir))

    # public outputs (contracts other tools read)
    @property
    def links(self) -> Path:
        return self.root / "links"

    @property
    def optout(self) -> Path:
        """links a takedown list (`optout.lists`) kept from the crawl: optout/part-N.parquet."""
        return self.root / "optout"

    @property
    def stage_stats(self) -> Path:
        """per-stage stats (links.json, pages.json): kept out of the Parquet data folders, so
        `datasets.load_dataset("parquet", data_dir=...)` and pyarrow load each folder whole."""
        return self.root / "stats"

    @property
    def links_stats(self) -> Path:
        return self.stage_stats / "links.json"

    @property
    def pages_stats(self) -> Path:
        return self.stage_stats / "pages.json"

    @property
    def pages(self) -> Path:
        return self.root / "pages"

    @property
    def fetched(self) -> Path:
        """crawl -> extract: one fetch record per URL attempted (pages/ without the text):
        fetched/part-N.parquet; the responses themselves are in warc/."""
        return self.root / "fetched"

    @property
    def inline_extract(self) -> Path:
        """the text the crawl extracted while fetching (_work/crawl-extract/part-N.parquet),
        which the extract stage uses when its settings are the same (no WARC read)."""
        return self.work / "crawl-extract"

    @property
    def warc(self) -> Path:
        return self.root / "warc"

    @property
    def documents(self) -> Path:
        return self.root / "documents"

    @property
    def shards(self) -> Path:
        return self.root / "shards"

    @property
    def shards_index(self) -> Path:
        return self.shards / "index.json"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger"

    @property
    def stats(self) -> Path:
        return self.root / "stats.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def overlap(self) -> Path:
        return self.root / "overlap"

    # intermediate outputs
    @property
    def cleaned(self) -> Path:
        """clean -> dedup: kept pages with their language (cleaned/part-N.parquet)."""
        return self.root / "cleaned"

    @property
    def dropped(self) -> Path:
        """pages the clean stage dropped, with the reason (dropped/part-N.parquet)."""
        return self.root / "dropped"

    @property
    def dedup_work(self) -> Path:
        """signatures, band buckets and cluster assignments of the dedup stage."""
        return self.root / "dedup"

    @property
    def work(self) -> Path:
        """scratch space of stages (spill files, checkpoints); safe to delete after a run."""
        return self.root / "_work"

    @property
    def state(self) -> Path:
        """stage markers (`<stage>.json`) and the engine's records."""
        return self.root / "_state"

    def stage_marker(self, stage: str) -> Path:
        """`_state/<stage>.json`: written last when a stage (or `run`) finishes."""
        return self.state / f"{stage}.json"

    def stage_state(self, stage: str) -> Path:
        """`_state/<stage>/`: task done records and the settings of each finish."""
        return self.state / stage

    def done_record(self, stage: str, phase: str, key: str) -> Path:
        """`_state/<stage>/<phase>/<key>.json`: a finished task's fingerprint and result."""
        return self.stage_state(stage) / phase / f"{key}.json"

    @property
    def digest_cache(self) -> Path:
        """xxh3 digests of input files by (size, mtime_ns): unchanged files are not reread."""
        return self.state / "digests.json"

    def scratch(self, stage: str, *parts: str) -> Path:
        """`_work/<stage>/...`: a stage's intermediate files, safe to delete after a run."""
        return self.work.joinpath(stage, *parts)

    def train_dir(self, out_dir: str | None = None) -> Path:
        return Path(out_dir) if out_dir else self.root / "train"
