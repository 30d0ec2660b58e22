"""`webtext crawl`: links/ -> pages/ (one row per URL attempted) + warc/ (raw capture).

One Ray task per links shard (`map_shards`); harvest partitions links by domain, so a host
belongs to exactly one task and its politeness needs no coordination between tasks. Shards
start in order of their politeness floor (largest host's URLs x delay), longest first, and
reserve `fetch.task_cpus` (< 1 by default) so a task waiting on its last large host does
not hold a core. Inside a task a `Crawler` schedules every URL of the shard at once (ready
hosts, largest backlog first; waiting hosts by the time they may be contacted again) while
the task's main thread runs extraction on the pages as they arrive.

Resume: results are cut, in the order they finish, into chunks of `fetch.checkpoint_every`;
each leaves `warc/part-NNNNN-CCCCC.warc.gz` and then
`_work/crawl/part-NNNNN-<shard fingerprint>/chunk-CCCCC.parquet` (both atomic, the chunk
with each row's links index), so a killed task restarts with the URLs no chunk holds and
refetches nothing it stored. The final `pages/part-NNNNN.parquet` is the chunks' rows
sorted by canonical_url: the same rows in the same order wherever the task was killed, and
a Ray retry overwrites, never duplicates. `_work/crawl/done/part-NNNNN.json` records the
shard fingerprint (the fetch and extract settings that decide results, not PACE_KEYS;
digest of the links file): a shard whose links or those settings changed is crawled again.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines._ray import map_shards, ray_session
from webtext.config import Config, ConfigError
from webtext.io import (
    StageMarker,
    clean_temp_files,
    combine_fingerprint,
    file_digest,
    read_json,
    shard_name,
    write_json_atomic,
    write_parquet_atomic,
)
from webtext.layout import migrate_layout
from webtext.paths import RunPaths
from webtext.progress import count, log
from webtext.schemas import (
    FETCH_STATUSES,
    LINKS_SCHEMA,
    PAGES_SCHEMA,
    PROVENANCE_FIELDS,
    with_url_original,
)

STAGE = "crawl"
_PART = re.compile(r"^part-(\d+)\.parquet$")
PROVENANCE = [f.name for f in PROVENANCE_FIELDS]


# settings that change how fast or in what pieces a shard is crawled, never what it yields:
# changing them does not make crawled shards stale (a resumed crawl may also slow down)
PACE_KEYS = {
    "fetch": {
        "concurrency", "per_host_concurrency", "per_host_delay", "backoff_base", "backoff_max",
        "max_retry_after", "max_crawl_delay", "checkpoint_every", "task_cpus",
    },
    "extract": {"worker_max_pages"},
}  # fmt: skip


def results_config_fingerprint(cfg: Config) -> str:
    """The fetch and extract settings that decide what pages/ holds (PACE_KEYS left out);
    the archive settings too, when archives are used (their rates and concurrency are pace)."""
    settings = {
        section: {
            key: value
            for key, value in getattr(cfg, section).model_dump(mode="json").items()
            if key not in PACE_KEYS[section]
        }
        for section in PACE_KEYS
    }
    if cfg.fetch.mode == "live":  # as before archives existed: live crawls stay current
        settings["fetch"].pop("mode", None)
    else:
        archive = cfg.archive.model_dump(mode="json")
        for source in archive["sources"]:
            source.pop("rate_per_s", None)
            source.pop("concurrency", None)
        settings["archive"] = archive
    return combine_fingerprint(settings)


def fingerprint(cfg: Config, shard_fps: dict[int, str]) -> str:
    """The stage's: every shard's fingerprint (config + the bytes of its links file)."""
    return combine_fingerprint(results_config_fingerprint(cfg), sorted(shard_fps.items()))


def shard_fingerprint(cfg: Config, links_path: str | Path) -> str:
    """What pages/part-N depends on: the result-deciding fetch and extract settings and its
    links file's bytes (harvest writes the same bytes for the same links, so a harvest rerun
    that changes nothing in this shard leaves it crawled)."""
    return combine_fingerprint(results_config_fingerprint(cfg), file_digest(links_path))


def _done_path(paths: RunPaths, index: int) -> Path:
    return paths.work / STAGE / "done" / shard_name(index, ".json")


def shard_is_current(paths: RunPaths, index: int, shard_fp: str) -> bool:
    """pages/part-N exists and was crawled from the same links with the same config."""
    done = read_json(_done_path(paths, index))
    return (
        (paths.pages / shard_name(index)).exists()
        and done is not None
        and done.get("fingerprint") == shard_fp
    )


def _remove_orphan_pages(paths: RunPaths, indexes: set[int]) -> None:
    """pages (and their WARCs) of links shards that no longer exist (fewer partitions)."""
    if not paths.pages.is_dir():
        return
    for path in paths.pages.glob("part-*.parquet"):
        match = _PART.match(path.name)
        if match and int(match.group(1)) not in indexes:
            index = int(match.group(1))
            path.unlink()
            _done_path(paths, index).unlink(missing_ok=True)
            for warc in paths.warc.glob(f"part-{index:05d}-*.warc.gz"):
                warc.unlink()


def links_files(paths: RunPaths) -> list[tuple[int, Path]]:
    if not paths.links.is_dir():
        raise ConfigError(f"no links at {paths.links}: run `webtext harvest` first")
    found = []
    for path in sorted(paths.links.iterdir()):
        match = _PART.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found


def run(cfg: Config) -> dict[str, Any]:
    paths = RunPaths.of(cfg.run_dir)
    migrate_layout(paths)  # a run written before the layout change
    marker = StageMarker(cfg.run_dir, STAGE)
    shards = links_files(paths)
    shard_fps = {i: shard_fingerprint(cfg, p) for i, p in shards}
    fp = fingerprint(cfg, shard_fps)
    if marker.is_done(fp):
        log.info("crawl: already done (fingerprint %s)", fp)
        return (marker.read() or {}).get("stats", {})
    _remove_orphan_pages(paths, set(shard_fps))
    todo = [
        (i, str(p), shard_fps[i]) for i, p in shards if not shard_is_current(paths, i, shard_fps[i])
    ]
    log.info("crawl: %d link shards, %d to crawl", len(shards), len(todo))
    results: list[dict[str, Any]] = []
    if todo:
        floors = {i: politeness_floor(p, cfg.fetch.per_host_delay) for i, p, _ in todo}
        pages = {i: pq.ParquetFile(p).metadata.num_rows for i, p, _ in todo}
        with ray_session(cfg.ray) as ray:
            slots = int(ray.cluster_resources().get("CPU", 1) / cfg.fetch.task_cpus)
            groups = group_shards(todo, floors, pages, max(1, slots))
            log.info("crawl: %d tasks (%d task slots)", len(groups), slots)
            results = map_shards(
                crawl_group, groups, desc="crawl", unit="task", num_cpus=cfg.fetch.task_cpus,
                records=("urls", sum(pages.values())), cfg=cfg,
            )  # fmt: skip
    stats = collect_stats(paths)
    write_json_atomic(paths.pages_stats, stats)
    flat = {
        "shards": len(shards),
        "shards_crawled": len(todo),
        "urls": stats["total"],
        "tasks": len(results),
        "fetched_now": sum(r["fetched"] for r in results),
        "requests_now": sum(r["requests"] for r in results),
        "cpu_s_now": round(sum(r["cpu_s"] for r in results), 3),
        **{f"status.{k}": v for k, v in stats["by_status"].items()},
    }
    marker.mark_done(fp, flat)
    log.info(
        "crawl: %d URLs, %d ok, %d fetched in this run",
        flat["urls"],
        stats["by_status"].get("ok", 0),
        flat["fetched_now"],
    )
    return flat


def group_shards(
    todo: list[tuple], floors: dict[int, float], pages: dict[int, int], slots: int
) -> list[list[tuple]]:
    """At most `slots` tasks that all run at once, each crawling its shards together.

    A shard lasts at least its politeness floor (largest host's URLs x delay) however
    idle the task is meanwhile; one task per shard would queue long-floor shards behind
    each other when they outnumber the slots. Shards go longest floor first, each to the
    task with the fewest URLs so far: the long floors land in different tasks, the rest
    evens out the CPU work. A host stays in exactly one task (harvest partitions links by
    domain), so politeness needs no coordination between tasks.
    """
    ordered = sorted(todo, key=lambda item: (-floors[item[0]], -pages[item[0]], item[0]))
    groups: list[list[tuple]] = [[] for _ in range(min(slots, len(ordered)))]
    load = [0] * len(groups)
    for item in ordered:
        k = min(range(len(groups)), key=lambda g: (load[g], g))
        groups[k].append(item)
        load[k] += pages[item[0]]
    return [g for g in groups if g]


# ---------------------------------------------------------------- one task
def crawl_shard(item: tuple, cfg: Config) -> dict[str, Any]:
    """Crawl one links shard into pages/part-N.parquet and warc/part-N-*.warc.gz.

    `item` = (N, links file[, shard fingerprint]). A shard crawled before from other links
    or another config is crawled again; its old chunks and WARCs are dropped.
    """
    return crawl_group([item], cfg)


def crawl_group(items: list[tuple], cfg: Config) -> dict[str, Any]:
    """Crawl several links shards in one task, their URLs scheduled together by one
    `Crawler` (one Fetcher, one extraction worker); each shard is finished (pages file,
    done record) as soon as its last URL is."""
    paths = RunPaths.of(cfg.run_dir)
    jobs = [_ShardJob(item, cfg, paths) for item in items]
    jobs = [job for job in jobs if not job.current]  # a retried task: some may be done
    urls: list[str] = []
    owner: list[tuple[_ShardJob, int]] = []
    for job in jobs:
        for row in job.todo:
            urls.append(job.urls[row])
            owner.append((job, row))
    fetched = requests = 0
    cpu_start = _cpu_seconds()
    if urls:
        from webtext.extract import Extractor
        from webtext.fetch import Crawler, Fetcher
        from webtext.takedown import load_lists

        takedown = load_lists(cfg.optout.lists)  # a redirect into a list is not followed
        with Fetcher(cfg.fetch, takedown) as fetcher, Extractor(cfg.extract) as extractor:
            archive = _archive_fetcher(fetcher, cfg, paths)
            recovery = _Recovery(archive, extractor, cfg) if archive is not None else None
            try:
                if recovery is not None and cfg.fetch.mode == "archive":
                    for job, row in owner:
                        recovery.add(job, row, None, None, "")
                else:
                    crawler = Crawler(fetcher, cfg.fetch, seed=min(job.index for job in jobs))
                    for pos, result in crawler.run(urls):
                        job, row = owner[pos]
                        record = page_record(result, extractor, cfg.extract.min_chars)
                        why = dead_link(result, record, cfg) if recovery is not None else None
                        if why:  # live_then_archive: the row waits for the archives
                            recovery.add(job, row, result, record, why)
                        else:
                            job.add(row, [result], record)
                if recovery is not None:
                    recovery.flush()
            except BaseException:
                for job in jobs:
                    job.sink.abort()
                raise
            fetched = len(urls)
            requests = fetcher.requests_made + (archive.requests_made if archive else 0)
    for job in jobs:
        if not job.finished:  # nothing left to fetch (every chunk was stored)
            job.finish()
    cpu = round(_cpu_seconds() - cpu_start, 3)
    return {
        "shards": [job.index for job in jobs],
        "fetched": fetched,
        "requests": requests,
        "cpu_s": cpu,
    }


class _ShardJob:
    """One shard inside a task: what is left to fetch, its chunk sink, its final write."""

    def __init__(self, item: tuple, cfg: Config, paths: RunPaths):
        self.index, self.links_path = item[0], item[1]
        self.fp = item[2] if len(item) > 2 else shard_fingerprint(cfg, self.links_path)
        self.paths = paths
        self.finished = False
        self.current = shard_is_current(paths, self.index, self.fp)
        if self.current:
            return
        self.links = read_links(self.links_path)
        self.urls = self.links.column("url").to_pylist()
        self.work = paths.work / STAGE / f"part-{self.index:05d}-{self.fp}"
        for stale in (paths.work / STAGE).glob(f"part-{self.index:05d}-*"):
            if stale != self.work:  # chunks of other links or another config
                shutil.rmtree(stale, ignore_errors=True)
        clean_temp_files(self.work)
        _drop_orphan_warcs(paths.warc, self.index, self.work)
        chunks = sorted(self.work.glob("chunk-*.parquet")) if self.work.is_dir() else []
        done: set[int] = set()
        for path in chunks:
            done.update(pq.read_table(path, columns=[ROW]).column(ROW).to_pylist())
        self.todo = [i for i in crawl_order(self.links) if i not in done]
        self.left = len(self.todo)
        first = 1 + max((_chunk_number(p) for p in chunks), default=-1)
        self.sink = _ChunkSink(paths, self.index, self.work, self.links, first, cfg)

    def add(self, row: int, results: list, record: dict[str, Any]) -> None:
        self.sink.add(row, results, record)
        count(1, "urls")  # progress: URLs done (fetched, recovered or given up on)
        self.left -= 1
        if self.left == 0:
            self.finish()

    def finish(self) -> None:
        """pages/part-N from every chunk, sorted; the done record; chunks removed."""
        self.sink.flush()
        chunks = sorted(self.work.glob("chunk-*.parquet")) if self.work.is_dir() else []
        parts = [pq.read_table(p).drop_columns([ROW]) for p in chunks]
        table = pa.concat_tables(parts) if parts else PAGES_SCHEMA.empty_table()
        table = table.sort_by([("canonical_url", "ascending"), ("url", "ascending")])
        write_parquet_atomic(self.paths.pages / shard_name(self.index), table.cast(PAGES_SCHEMA))
        write_json_atomic(
            _done_path(self.paths, self.index),
            {"fingerprint": self.fp, "links": self.links_path},
        )
        shutil.rmtree(self.work, ignore_errors=True)
        self.finished = True


ROW = "_row"  # a chunk row's index in the links file: which URLs a resumed task skips


class _ChunkSink:
    """Results in the order they finish, cut every `fetch.checkpoint_every` into a WARC chunk
    and then its parquet chunk (both atomic): a checkpoint never waits for a slow URL."""

    def __init__(self, paths: RunPaths, index: int, work: Path, links, first: int, cfg: Config):
        self.paths, self.index, self.work, self.links, self.cfg = paths, index, work, links, cfg
        self.chunk = first
        self.rows: list[int] = []
        self.records: list[dict[str, Any]] = []
        self.writer = None

    def add(self, row: int, results: list, record: dict[str, Any]) -> None:
        if self.cfg.fetch.warc:
            if self.writer is None:
                from webtext.fetch import WarcChunkWriter

                warc = self.paths.warc / shard_name(self.index, f"-{self.chunk:05d}.warc.gz")
                self.writer = WarcChunkWriter(warc)
            errors = [e for e in (write_exchanges(self.writer, r) for r in results) if e]
            if errors:
                record.update(fetch_status="warc_error", error="; ".join(errors))
        self.rows.append(row)
        self.records.append(record)
        if len(self.rows) >= self.cfg.fetch.checkpoint_every:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        table = chunk_table(self.links, self.rows, self.records)
        write_parquet_atomic(_chunk_path(self.work, self.chunk), table)
        self.chunk += 1
        self.rows, self.records = [], []

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


def _cpu_seconds() -> float:
    """CPU time of this process plus its reaped children (the extraction worker)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def read_links(path: str | Path) -> pa.Table:
    table = with_url_original(pq.read_table(path))
    missing = [n for n in LINKS_SCHEMA.names if n not in table.column_names]
    if missing:
        raise ConfigError(f"{path}: links file lacks columns {missing}")
    return table.select(LINKS_SCHEMA.names).cast(LINKS_SCHEMA)


def url_hosts(urls: pa.ChunkedArray | pa.Array) -> pa.Array:
    """scheme://netloc of each URL, lower-cased (the crawler's politeness key), vectorised."""
    import pyarrow.compute as pc

    lowered = pc.utf8_lower(pc.fill_null(urls, ""))
    found = pc.extract_regex(lowered, r"^(?P<host>[a-z][a-z0-9+.-]*://[^/?#]*)")
    return pc.struct_field(found, [0])


def _archive_fetcher(fetcher, cfg: Config, paths: RunPaths):
    """The task's archive client (fetch.mode archive / live_then_archive), else None."""
    if cfg.fetch.mode == "live":
        return None
    from webtext.fetch.archive import ArchiveFetcher

    return ArchiveFetcher(fetcher, cfg.archive, paths.work / "archive")


class _Recovery:
    """Rows waiting for the web archives (fetch.mode archive, or dead live links in
    live_then_archive), asked for in batches of `fetch.checkpoint_every`; each row then
    goes to its shard's chunk with the live and the archive exchanges together."""

    def __init__(self, archive, extractor, cfg: Config):
        self.archive, self.extractor, self.cfg = archive, extractor, cfg
        self.pending: list[tuple] = []  # (job, row, live result, live record, why)

    def add(self, job, row: int, result, record, why: str) -> None:
        if result is not None and result.http_status is not None:  # the live host answered:
            self.archive.live_answered.add(job.urls[row])  # its signals decide (consent.py)
        self.pending.append((job, row, result, record, why))
        if len(self.pending) >= self.cfg.fetch.checkpoint_every:
            self.flush()

    def flush(self) -> None:
        from webtext.fetch.archive import target_time
        from webtext.fetch.archive.step import archive_pass

        batch, self.pending = self.pending, []
        if not batch:
            return
        todo = []
        for k, (job, row, _, _, _) in enumerate(batch):
            created = job.links.column("first_created_utc")[row].as_py()
            todo.append((k, job.urls[row], target_time(created, self.cfg.archive)))
        for k, archived in archive_pass(self.archive, todo):
            job, row, live, live_record, why = batch[k]
            record = page_record(archived, self.extractor, self.cfg.extract.min_chars)
            merged = merge_archived(live_record, record, archived, why)
            job.add(row, [r for r in (live, archived) if r is not None], merged)


def crawl_order(links: pa.Table) -> list[int]:
    """Row indices ordered by canonical_url (then url): deterministic. The crawler groups
    them by host and schedules the largest hosts first."""
    keys = links.column("canonical_url").to_pylist()
    urls = links.column("url").to_pylist()
    return sorted(range(len(urls)), key=lambda i: (keys[i] or "", urls[i] or ""))


def politeness_floor(links_path: str | Path, delay: float) -> float:
    """Seconds the shard needs at least: its largest host's URL count x per-host delay."""
    import pyarrow.compute as pc

    urls = pq.read_table(links_path, columns=["url"]).column("url")
    if len(urls) == 0:
        return 0.0
    hosts = pc.drop_null(url_hosts(urls))
    if len(hosts) == 0:
        return 0.0
    return float(pc.max(pc.value_counts(hosts).field("counts")).as_py()) * delay


def chunk_table(links: pa.Table, rows: list[int], records: list[dict[str, Any]]) -> pa.Table:
    """pages rows of `rows` (links row indices) with their crawl `records`, plus ROW."""
    table = links.take(pa.array(rows, pa.int64()))
    columns: dict[str, Any] = {
        "url": table.column("url"),
        "canonical_url": table.column("canonical_url"),
    }
    for name in ("final_url", "fetch_status", "http_status", "content_type", "bytes"):
        columns[name] = [r[name] for r in records]
    for name in ("fetch_ms", "title", "text", "extractor"):
        columns[name] = [r[name] for r in records]
    for name in PROVENANCE:
        columns[name] = table.column(name)
    columns["error"] = [r["error"] for r in records]
    columns["url_original"] = table.column("url_original")
    for name in ("source", "capture_time", "archive_url"):
        columns[name] = [r[name] for r in records]
    pages = pa.table(columns, schema=PAGES_SCHEMA)
    return pages.append_column(ROW, pa.array(rows, pa.int64()))


def write_exchanges(writer, result) -> str | None:
    """The result's WARC records; a record that cannot be written is the page's error,
    never the task's (the rest of the chunk and the run go on)."""
    from webtext.fetch.warc import WarcWriteError

    errors = []
    for exchange in result.exchanges:
        try:
            writer.write(exchange)
        except WarcWriteError as exc:
            log.warning("crawl: WARC record of %s not written: %s", exchange.url, exc)
            errors.append(f"WARC record of {exchange.url} not written: {exc}")
    return "; ".join(errors) if errors else None


_BOTWALL: dict[tuple, Any] = {}


def dead_link(result, record: dict[str, Any], cfg: Config) -> str | None:
    """Why a live result counts as a dead link for live_then_archive (None: it does not)."""
    from webtext.fetch.archive import dead_reason

    botwall = None
    if cfg.clean.botwall:
        from webtext.clean.botwall import Botwall

        key = (cfg.clean.botwall_max_fraction, cfg.clean.botwall_title_max_words)
        botwall = _BOTWALL.get(key) or _BOTWALL.setdefault(key, Botwall(*key))
    return dead_reason(record["fetch_status"], result.http_status, record, botwall)


def merge_archived(live: dict[str, Any] | None, archived: dict[str, Any], result,
                   why: str) -> dict[str, Any]:  # fmt: skip
    """The row of a URL the archives were asked for: the capture when one was usable;
    `archive_miss` when none exists (a live page that was only a wall stays as it was, for
    clean to judge); the live row, with the archive's failure noted, when an archive could
    not answer."""
    if live is None:  # fetch.mode archive: nothing else to say
        return archived
    if result.status == "ok":
        if archived["error"] is None:
            archived["error"] = f"recovered from {result.source}; live: {why}"
        return archived
    if result.status.startswith("optout:") or result.status == "robots_disallowed":
        return archived  # the archived copy itself, or its site's robots.txt, says no
    if live["fetch_status"] in ("ok", "extract_empty"):
        return live
    merged = dict(live)
    merged["error"] = f"live: {live['error'] or why}; archive: {result.error}"
    if result.status == "archive_miss":  # no copy anywhere: no provenance either
        merged.update(fetch_status="archive_miss", source=None, capture_time=None)
    return merged


def page_record(result, extractor, min_chars: int) -> dict[str, Any]:
    record = {
        "final_url": result.final_url,
        "fetch_status": result.status,
        "http_status": result.http_status,
        "content_type": result.content_type,
        "bytes": result.bytes,
        "fetch_ms": result.fetch_ms,
        "title": None,
        "text": None,
        "extractor": None,
        "error": result.error,
        "source": result.source,
        "capture_time": result.capture_time,
        "archive_url": result.archive_url,
    }
    if result.status == "ok":
        record.update(extract_fields(extractor, result.html or "", result.final_url, min_chars))
    return record


def extract_fields(extractor, html: str, url: str, min_chars: int) -> dict[str, Any]:
    """text/title/extractor/fetch_status/error of an HTML page: ok or extract_empty."""
    res = extractor.extract(html, url)
    text = (res.text or "").strip()
    fields = {"title": res.title, "text": text, "extractor": res.extractor, "error": res.error}
    if res.error is not None or len(text) < max(min_chars, 1):
        fields["fetch_status"] = "extract_empty"
        fields["error"] = res.error or f"extracted text shorter than {max(min_chars, 1)} chars"
    else:
        fields["fetch_status"] = "ok"
    return fields


def _chunk_path(work: Path, chunk: int) -> Path:
    return work / f"chunk-{chunk:05d}.parquet"


def _chunk_number(path: Path) -> int:
    return int(path.stem.split("-")[1])


def _drop_orphan_warcs(warc_dir: Path, index: int, work: Path) -> None:
    """A WARC chunk without its parquet chunk belongs to a killed attempt: refetched."""
    if not warc_dir.is_dir():
        return
    prefix = f"part-{index:05d}-"
    for tmp in warc_dir.glob(f".{prefix}*.tmp"):  # only this shard's: others run beside it
        tmp.unlink(missing_ok=True)
    for path in warc_dir.glob(f"{prefix}*.warc.gz"):
        chunk = path.name[len(prefix) : -len(".warc.gz")]
        if not chunk.isdigit() or not _chunk_path(work, int(chunk)).exists():
            path.unlink(missing_ok=True)


# ------------------------------------------------------------------------ stats
def collect_stats(paths: RunPaths) -> dict[str, Any]:
    """Counts per fetch_status overall and per domain, from every pages/ file."""
    by_status: Counter = Counter()
    by_domain: dict[str, Counter] = defaultdict(Counter)
    files = sorted(paths.pages.glob("part-*.parquet")) if paths.pages.is_dir() else []
    for path in files:
        table = pq.read_table(path, columns=["fetch_status", "domain"])
        for status, domain in zip(
            table.column("fetch_status").to_pylist(),
            table.column("domain").to_pylist(),
            strict=True,
        ):
            by_status[status] += 1
            by_domain[domain or ""][status] += 1
    ordered = {s: by_status[s] for s in FETCH_STATUSES if by_status[s]}
    return {
        "total": sum(by_status.values()),
        "files": len(files),
        "by_status": ordered,
        "by_domain": {d: dict(sorted(c.items())) for d, c in sorted(by_domain.items())},
    }
