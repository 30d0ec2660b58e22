"""Bounded-memory link de-duplication: spill rows to hash partitions, then reduce each one.

Map (one task per source): the dump is decoded a block at a time (msgspec builds only the
fields harvest reads); every kept submission becomes a `LinkRow` appended to spill file
`s<idx>.arrow` of its source's spill folder, where
`idx = domain_partition(domain) * sub + crc32(canonical_url) % sub`. The first factor is the
links file that will own the row (so a crawl task owns whole domains); the second splits
that file's rows into `sub` buckets so that one reduce step never needs more than
1/(num_partitions*sub) of the data, never a whole partition. A source's spill folder
appears under its final name only when complete (written as `.tmp-*`, then renamed), so a
rerun skips finished sources.

Reduce (one task per links file): for each group of its buckets (consecutive buckets up to
REDUCE_GROUP_BYTES of spill), read them from every source, drop repeated submission ids,
group by canonical URL in Arrow, apply the karma rule, sort by canonical URL and append the
result as a row group. Rows are therefore sorted by canonical_url within each row group;
the bytes are the same on every rerun.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import re
import resource
import shutil
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webtext.config import HarvestConfig
from webtext.io import atomic_path, write_json_atomic, write_parquet_atomic
from webtext.reddit.canonical import domain_partition
from webtext.reddit.dumps import ReadReport, Submission, iter_submission_blocks
from webtext.reddit.filters import BadRecord, LinkRow, SubmissionFilter
from webtext.schemas import LINKS_SCHEMA

SPILL_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string()),
        pa.field("canonical_url", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("score", pa.int64()),
        pa.field("submission_id", pa.string()),
        pa.field("subreddit", pa.string()),
        pa.field("created_utc", pa.int64()),
        pa.field("url_original", pa.string()),
    ]
)
FLUSH_ROWS = 100_000  # rows buffered in a map task before they go to the spill files
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")
REDUCE_GROUP_BYTES = 32 << 20  # spill bytes (lz4) one reduce step reads at most, bar one bucket


def buckets_per_partition(cfg: HarvestConfig) -> int:
    """Spill buckets per links file: ceil(spill_partitions / num_partitions), at least 1."""
    return max(1, -(-cfg.spill_partitions // cfg.num_partitions))


def source_key(path: str | Path) -> str:
    """Deterministic spill folder name of a dump: its file name plus a hash of its full path."""
    path = Path(path)
    digest = hashlib.blake2b(str(path.resolve()).encode(), digest_size=4).hexdigest()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.name)[:80]
    return f"{stem}-{digest}"


def peak_rss_mb() -> float:
    """Peak RSS of this process in MB: VmHWM (ru_maxrss survives exec, so it can report
    the parent's size for a fresh process), else ru_maxrss."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class SpillWriter:
    """Appends LinkRows to per-bucket Arrow IPC files under `folder`, FLUSH_ROWS at a time.

    Rows are buffered in arrival order with their bucket number; a flush builds one batch
    and cuts it into buckets with a stable sort, so a bucket keeps the arrival order.
    """

    def __init__(self, folder: Path, num_partitions: int, sub: int):
        self.folder, self.num_partitions, self.sub = folder, num_partitions, sub
        self.pending: list[LinkRow] = []
        self.buckets: list[int] = []
        self.writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
        self.rows = 0
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, row: LinkRow) -> None:
        idx = domain_partition(row.domain, self.num_partitions) * self.sub
        if self.sub > 1:
            idx += zlib.crc32(row.canonical_url.encode("utf-8")) % self.sub
        self.pending.append(row)
        self.buckets.append(idx)
        if len(self.pending) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        columns = zip(*self.pending, strict=True)
        batch = pa.RecordBatch.from_arrays(
            [pa.array(col, type=f.type) for col, f in zip(columns, SPILL_SCHEMA, strict=True)],
            schema=SPILL_SCHEMA,
        )
        buckets = np.asarray(self.buckets, dtype=np.int64)
        order = np.argsort(buckets, kind="stable")
        batch = batch.take(pa.array(order))
        ordered = buckets[order]
        starts = np.concatenate(([0], np.flatnonzero(ordered[1:] != ordered[:-1]) + 1))
        ends = np.append(starts[1:], len(ordered))
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            idx = int(ordered[start])
            writer = self.writers.get(idx)
            if writer is None:
                path = self.folder / spill_file_name(idx)
                writer = self.writers[idx] = pa.ipc.new_file(
                    str(path), SPILL_SCHEMA, options=_IPC_OPTIONS
                )
            writer.write_batch(batch.slice(start, end - start))
        self.rows += len(self.pending)
        self.pending, self.buckets = [], []

    def close(self) -> None:
        self.flush()
        for writer in self.writers.values():
            writer.close()
        self.writers = {}


@contextlib.contextmanager
def fewer_gc_passes(gen0: int = 50_000) -> Iterator[None]:
    """Raise the gen-0 collection threshold for a loop that makes millions of short-lived,
    acyclic objects while up to FLUSH_ROWS rows stay alive: at the default (700) the
    collector keeps rescanning them (about 15% of the map loop). Cycles are still collected."""
    old = gc.get_threshold()
    gc.set_threshold(max(gen0, old[0]), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def spill_file_name(idx: int) -> str:
    return f"s{idx:05d}.arrow"


def spill_records(
    blocks: Iterable[tuple[Sequence[int], list[Submission]]],
    report: ReadReport,
    final_dir: Path,
    cfg: HarvestConfig,
) -> dict[str, Any]:
    """Filter blocks of (line numbers, submissions) and spill the kept rows into
    `final_dir` (atomic: tmp dir, rename)."""
    flt = SubmissionFilter(cfg)
    tmp = final_dir.with_name(f".{final_dir.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    writer = SpillWriter(tmp, cfg.num_partitions, buckets_per_partition(cfg))
    dropped: Counter[str] = Counter()
    check, add = flt.check, writer.add
    try:
        with fewer_gc_passes():
            for numbers, subs in blocks:
                for line_no, sub in zip(numbers, subs, strict=True):
                    try:
                        out = check(sub)
                    except BadRecord as exc:
                        report.bad(line_no, str(exc), exc.kind)
                        continue
                    if out.__class__ is str:
                        dropped[out] += 1  # type: ignore[index]
                    else:
                        add(out)  # type: ignore[arg-type]
        writer.close()
        stats = {
            "source": report.path,
            "records": report.lines,
            "malformed": report.malformed,
            "malformed_reasons": dict(report.malformed_reasons),
            "malformed_sample": list(report.sample),
            "truncated": report.truncated,
            "dropped": dict(dropped),
            "submissions_kept": writer.rows,
        }
        write_json_atomic(tmp / "stats.json", stats)
        try:
            os.rename(tmp, final_dir)
        except OSError:  # a retried task finished first: its output is as good as ours
            if not (final_dir / "stats.json").exists():
                raise
    finally:
        close = getattr(blocks, "close", None)
        if close is not None:  # stop the reader (its decompression thread) even on error
            close()
        writer.close()
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    stats["peak_rss_mb"] = peak_rss_mb()
    return stats


def spill_dump(
    item: dict[str, str], *, cfg: HarvestConfig, strict: bool, sample_size: int = 20
) -> dict[str, Any]:
    """Map task: one dump file (`item["path"]`) -> its spill folder (`item["work"]`)."""
    path, final_dir = item["path"], Path(item["work"])
    cpu = time.process_time()
    report = ReadReport(str(path), strict=strict, sample_size=sample_size)
    stats = spill_records(iter_submission_blocks(path, report), report, final_dir, cfg)
    cpu_s = time.process_time() - cpu  # every thread of the task (decompression included)
    return {**stats, "spill_dir": str(final_dir), "cpu_s": cpu_s}


def spill_api(item: dict[str, str], *, api: Any, cfg: HarvestConfig, strict: bool) -> dict[str, Any]:
    """Map task of the praw source (`api`: source.reddit_api) -> its spill folder
    (`item["work"]`); run in the driver: one client, one rate-limit budget."""
    from webtext.progress import log
    from webtext.reddit.api import iter_api_records

    final_dir = Path(item["work"])
    report = ReadReport("reddit_api", strict=strict)
    log.info("harvest: reading r/%s (%s) from the Reddit API", "+".join(api.subreddits),
             api.listing)  # fmt: skip

    def blocks(size: int = 1000):
        numbers: list[int] = []
        subs: list[Submission] = []
        for i, record in enumerate(iter_api_records(api), 1):
            report.lines += 1
            numbers.append(i)
            subs.append(Submission.from_dict(record))
            if len(subs) == size:
                yield numbers, subs
                numbers, subs = [], []
        yield numbers, subs

    stats = spill_records(blocks(), report, final_dir, cfg)
    return {**stats, "spill_dir": str(final_dir)}


# ------------------------------------------------------------------------ reduce
def _dedup_submissions(table: pa.Table) -> tuple[pa.Table, int]:
    """Keep one row per (canonical_url, submission_id): the one with the highest score."""
    table = table.sort_by(
        [("canonical_url", "ascending"), ("submission_id", "ascending"), ("score", "descending")]
    )
    n = table.num_rows
    if n < 2:
        return table, 0
    ids = table["submission_id"].combine_chunks()
    canon = table["canonical_url"].combine_chunks()
    differs = pc.or_(
        pc.not_equal(ids.slice(1), ids.slice(0, n - 1)),
        pc.not_equal(canon.slice(1), canon.slice(0, n - 1)),
    )
    keep = pa.concat_arrays([pa.array([True]), pc.fill_null(differs, True)])
    kept = table.filter(keep)
    return kept, n - kept.num_rows


def aggregate_links(table: pa.Table, karma: str, min_score: int) -> tuple[pa.Table, dict[str, int]]:
    """Spill rows of one bucket -> links rows (LINKS_SCHEMA) and counts."""
    table, duplicates = _dedup_submissions(table)
    table = table.sort_by(
        [
            ("canonical_url", "ascending"),
            ("created_utc", "ascending"),
            ("submission_id", "ascending"),
        ]
    )
    grouped = table.group_by("canonical_url", use_threads=False).aggregate(
        [
            ("url", "first"),
            ("url_original", "first", pc.ScalarAggregateOptions(skip_nulls=False)),
            ("domain", "first"),
            ("score", "max"),
            ("score", "sum"),
            ("submission_id", "count"),
            ("submission_id", "list"),
            ("subreddit", "distinct"),
            ("created_utc", "min"),
        ]
    )
    score = grouped["score_sum"] if karma == "sum" else grouped["score_max"]
    links = pa.table(
        {
            "url": grouped["url_first"],
            "canonical_url": grouped["canonical_url"],
            "domain": grouped["domain_first"],
            "score": score,
            "num_submissions": grouped["submission_id_count"],
            "submission_ids": grouped["submission_id_list"],
            "subreddits": grouped["subreddit_distinct"],
            "first_created_utc": grouped["created_utc_min"],
            "url_original": grouped["url_original_first"],
        }
    ).cast(LINKS_SCHEMA)
    before = links.num_rows
    links = links.filter(pc.greater_equal(links["score"], min_score))
    links = links.sort_by([("canonical_url", "ascending")])
    counts = {
        "submissions": table.num_rows + duplicates,
        "duplicate_submission": duplicates,
        "low_karma": before - links.num_rows,
        "urls_kept": links.num_rows,
    }
    return links, counts


def _bucket_groups(spill_dirs: list[str], buckets: Iterable[int]) -> Iterator[list[Path]]:
    """Spill files of consecutive buckets, grouped up to REDUCE_GROUP_BYTES on disk.

    Buckets split the canonical-URL space, so several can be reduced together: small
    buckets share one Arrow pass, and memory stays bounded by max(budget, one bucket).
    """
    group: list[Path] = []
    size = 0
    for bucket in buckets:
        name = spill_file_name(bucket)
        files = [Path(d) / name for d in spill_dirs if (Path(d) / name).exists()]
        if not files:
            continue
        bucket_size = sum(f.stat().st_size for f in files)
        if group and size + bucket_size > REDUCE_GROUP_BYTES:
            yield group
            group, size = [], 0
        group += files
        size += bucket_size
    if group:
        yield group


def _read_bucket(files: list[Path]) -> pa.Table:
    tables = []
    for path in files:
        with pa.memory_map(str(path)) as source:
            tables.append(pa.ipc.open_file(source).read_all())
    return pa.concat_tables(tables) if tables else SPILL_SCHEMA.empty_table()


def reduce_partition(
    partition: int,
    *,
    spill_dirs: list[str],
    links_dir: str,
    cfg: HarvestConfig,
    takedown_lists: Sequence[str] = (),
    optout_dir: str | None = None,
) -> dict[str, Any]:
    """Reduce task: every bucket of links file `partition` -> links/part-NNNNN.parquet.

    Links on a takedown list (`optout.lists`) go to optout/part-NNNNN.parquet instead (a
    sibling folder of links/ unless `optout_dir` names one): never fetched, but still in
    the ledger with fate `optout:list`."""
    from webtext.io import shard_name
    from webtext.takedown import load_lists

    takedown = load_lists(takedown_lists)
    out_path = Path(links_dir) / shard_name(partition)
    from webtext.paths import RunPaths

    optout_root = Path(optout_dir) if optout_dir else RunPaths.of(Path(links_dir).parent).optout
    optout_path = optout_root / shard_name(partition)
    cpu = time.process_time()
    sub = buckets_per_partition(cfg)
    totals: Counter[str] = Counter()
    opted_out: list[pa.Table] = []
    with atomic_path(out_path) as tmp:
        writer = pq.ParquetWriter(str(tmp), LINKS_SCHEMA, compression="zstd")
        try:
            for files in _bucket_groups(spill_dirs, range(partition * sub, (partition + 1) * sub)):
                links, counts = aggregate_links(_read_bucket(files), cfg.karma, cfg.min_score)
                if takedown and links.num_rows:
                    out = pa.array(
                        [takedown.match(u) for u in links["canonical_url"].to_pylist()], pa.bool_()
                    )
                    if pc.any(out).as_py():
                        opted_out.append(links.filter(out))
                        links = links.filter(pc.invert(out))
                        counts["urls_kept"] = links.num_rows
                        counts["optout_list"] = counts.get("optout_list", 0) + int(
                            pc.sum(out).as_py()
                        )
                totals.update(counts)
                if links.num_rows:
                    writer.write_table(links)
        finally:
            writer.close()
    if opted_out:
        write_parquet_atomic(optout_path, pa.concat_tables(opted_out))
    else:
        optout_path.unlink(missing_ok=True)
    stats = {"partition": partition, **{k: totals.get(k, 0) for k in _REDUCE_KEYS}}
    cpu_s = time.process_time() - cpu
    return {**stats, "peak_rss_mb": peak_rss_mb(), "cpu_s": cpu_s}


_REDUCE_KEYS = ("submissions", "duplicate_submission", "low_karma", "urls_kept", "optout_list")


def iter_link_rows(links_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Every row of links/*.parquet as a dict (for tests and small tools)."""
    for path in sorted(Path(links_dir).glob("part-*.parquet")):
        yield from pq.read_table(path).to_pylist()
