"""The one place that names every output path of a run; stages ask here, never build paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
        return self.root / "_state"

    def train_dir(self, out_dir: str | None = None) -> Path:
        return Path(out_dir) if out_dir else self.root / "train"
