"""One crawl task, Ray-free: links shards -> fetch records (fetched/), WARC chunks and the
text extracted while fetching (`pipelines/crawl.py` declares the stage; the driver runs it).

Resume: results are cut, in the order they finish, into chunks of `fetch.checkpoint_every`;
each leaves `warc/part-NNNNN-CCCCC.warc.gz` and then `chunk-CCCCC.parquet` in the task's
scratch folder (both atomic, the chunk with each row's links index), so a killed task
restarts with the URLs no chunk holds and refetches nothing it stored. The final
`fetched/part-NNNNN.parquet` is the chunks' rows sorted by canonical_url: the same rows in
the same order wherever the task was killed.

A row of fetched/ is a pages/ row without the extraction: `fetch_status` is the fetch's
(`ok` when a page came back), title/text/extractor are null. The text extracted during the
crawl (status `ok`/`extract_empty`, title, text, extractor, error) goes, row for row, to
`_work/crawl-extract/part-N.parquet`, tagged with the extract settings it was made with.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from webtext.config import Config, ConfigError
from webtext.extract.stage import EXTRACTED, INLINE_KEY, extract_fields
from webtext.io import clean_temp_files, write_parquet_atomic
from webtext.paths import RunPaths, part_files, part_name
from webtext.progress import count, log
from webtext.schemas import (
    FETCH_STATUSES,
    LINKS_SCHEMA,
    PAGES_SCHEMA,
    PROVENANCE_FIELDS,
    with_url_original,
)

PROVENANCE = [f.name for f in PROVENANCE_FIELDS]
INLINE = "extracted_"  # prefix of the extraction's fields (EXTRACTED) in a chunk
INLINE_SCHEMA = pa.schema([PAGES_SCHEMA.field(name) for name in EXTRACTED])


def chunk_schema() -> pa.Schema:
    fields = [*PAGES_SCHEMA, *(pa.field(INLINE + f.name, f.type) for f in INLINE_SCHEMA)]
    return pa.schema([*fields, pa.field(ROW, pa.int64())])


def group_shards(todo: list[Any], floors: dict[str, float], pages: dict[str, int],
                 slots: int) -> list[list[Any]]:  # fmt: skip
    """At most `slots` tasks that all run at once, each crawling its shards together
    (`todo`: objects with a `key`; floors and pages by key).

    A shard lasts at least its politeness floor (largest host's URLs x delay) however
    idle the task is meanwhile; one task per shard would queue long-floor shards behind
    each other when they outnumber the slots. Shards go longest floor first, each to the
    task with the fewest URLs so far: the long floors land in different tasks, the rest
    evens out the CPU work. A host stays in exactly one task (harvest partitions links by
    domain), so politeness needs no coordination between tasks.
    """
    ordered = sorted(todo, key=lambda t: (-floors[t.key], -pages[t.key], t.key))
    groups: list[list[Any]] = [[] for _ in range(min(slots, len(ordered)))]
    load = [0] * len(groups)
    for item in ordered:
        k = min(range(len(groups)), key=lambda g: (load[g], g))
        groups[k].append(item)
        load[k] += pages[item.key]
    return [g for g in groups if g]


# ---------------------------------------------------------------- one task
def crawl_group(items: list[dict[str, Any]], cfg: Config, extract_settings: str
                ) -> list[dict[str, Any]]:  # fmt: skip
    """Crawl several links shards in one task, their URLs scheduled together by one
    `Crawler` (one Fetcher, one extraction worker); each shard's files are written as soon
    as its last URL is. `items`: {"index", "links", "work"} per shard (work: its chunk
    folder, kept by the driver across a killed attempt). Returns one result per shard; the
    group's requests and CPU time are booked on its first shard.

    The text is extracted while the shard is fetched (the extraction worker runs beside
    the fetch threads) and kept beside the fetch records, tagged with `extract_settings`:
    the extract stage uses it when its settings are the same, else re-reads the WARC.
    """
    paths = RunPaths.of(cfg.run_dir)
    jobs = [_ShardJob(item, cfg, paths, extract_settings) for item in items]
    urls: list[str] = []
    owner: list[tuple[_ShardJob, int]] = []
    for job in jobs:
        for row in job.todo:
            urls.append(job.urls[row])
            owner.append((job, row))
    requests = 0
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
                        why = dead_link(result, record[1], cfg) if recovery is not None else None
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
            requests = fetcher.requests_made + (archive.requests_made if archive else 0)
    for job in jobs:
        if not job.finished:  # nothing left to fetch (every chunk was stored)
            job.finish()
    cpu = round(_cpu_seconds() - cpu_start, 3)
    return [
        {"shard": job.index, "urls": len(job.urls), "fetched": len(job.todo),
         "requests": requests if k == 0 else 0, "cpu_s": cpu if k == 0 else 0.0}
        for k, job in enumerate(jobs)
    ]  # fmt: skip


class _ShardJob:
    """One shard inside a task: what is left to fetch, its chunk sink, its final write."""

    def __init__(self, item: dict[str, Any], cfg: Config, paths: RunPaths, extract_settings: str):
        self.index, self.links_path = item["index"], item["links"]
        self.paths, self.extract_settings = paths, extract_settings
        self.finished = False
        self.links = read_links(self.links_path)
        self.urls = self.links.column("url").to_pylist()
        self.work = Path(item["work"])
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

    def add(self, row: int, results: list, record: tuple[dict, dict]) -> None:
        self.sink.add(row, results, record)
        count(1, "urls")  # progress: URLs done (fetched, recovered or given up on)
        self.left -= 1
        if self.left == 0:
            self.finish()

    def finish(self) -> None:
        """fetched/part-N and the inline text from every chunk, sorted by canonical_url.
        The chunks stay until the driver has recorded the task: a task killed in between
        rebuilds the same files from them without fetching."""
        self.sink.flush()
        chunks = sorted(self.work.glob("chunk-*.parquet")) if self.work.is_dir() else []
        parts = [pq.read_table(p).drop_columns([ROW]) for p in chunks]
        table = pa.concat_tables(parts) if parts else chunk_schema().empty_table()
        table = table.sort_by([("canonical_url", "ascending"), ("url", "ascending")])
        fetched = table.select(PAGES_SCHEMA.names).cast(PAGES_SCHEMA)
        inline = pa.table({name: table.column(INLINE + name) for name in EXTRACTED},
                          schema=INLINE_SCHEMA)  # fmt: skip
        inline = inline.replace_schema_metadata({INLINE_KEY: self.extract_settings.encode()})
        write_parquet_atomic(self.paths.inline_extract / part_name(self.index), inline)
        write_parquet_atomic(self.paths.fetched / part_name(self.index), fetched)
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

    def add(self, row: int, results: list, record: tuple[dict, dict]) -> None:
        if self.cfg.fetch.warc:
            if self.writer is None:
                from webtext.fetch import WarcChunkWriter

                warc = self.paths.warc / part_name(self.index, f"-{self.chunk:05d}.warc.gz")
                self.writer = WarcChunkWriter(warc)
            errors = [e for e in (write_exchanges(self.writer, r) for r in results) if e]
            if errors:
                for rec in record:
                    rec.update(fetch_status="warc_error", error="; ".join(errors))
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
            fetch, full = page_record(archived, self.extractor, self.cfg.extract.min_chars)
            merged = (  # the fetch record and the extracted one choose the same copy
                merge_archived(live_record and live_record[0], fetch, archived, why),
                merge_archived(live_record and live_record[1], full, archived, why),
            )
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


def chunk_table(links: pa.Table, rows: list[int], records: list[tuple[dict, dict]]) -> pa.Table:
    """Rows of `rows` (links row indices): the fetch record as a pages row, the extracted
    fields beside it (INLINE prefix), and ROW."""
    table = links.take(pa.array(rows, pa.int64()))
    fetches = [r[0] for r in records]
    columns: dict[str, Any] = {
        "url": table.column("url"),
        "canonical_url": table.column("canonical_url"),
    }
    for name in ("final_url", "fetch_status", "http_status", "content_type", "bytes"):
        columns[name] = [r[name] for r in fetches]
    for name in ("fetch_ms", "title", "text", "extractor"):
        columns[name] = [r[name] for r in fetches]
    for name in PROVENANCE:
        columns[name] = table.column(name)
    columns["error"] = [r["error"] for r in fetches]
    columns["url_original"] = table.column("url_original")
    for name in ("source", "capture_time", "archive_url"):
        columns[name] = [r[name] for r in fetches]
    for name in EXTRACTED:
        columns[INLINE + name] = [r[1][name] for r in records]
    columns[ROW] = rows
    return pa.table(columns, schema=chunk_schema())


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


def page_record(result, extractor, min_chars: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the fetch record, the same with the extracted text) of one fetch result."""
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
    full = dict(record)
    if result.status == "ok":
        full.update(extract_fields(extractor, result.html or "", result.final_url, min_chars))
    return record, full


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
def status_counts(folder: Path) -> dict[str, Any]:
    """Counts per fetch_status overall and per domain, from every part file of a folder
    (fetched/: the fetch's statuses; pages/: after extraction)."""
    by_status: Counter = Counter()
    by_domain: dict[str, Counter] = defaultdict(Counter)
    files = part_files(folder)
    for _, path in files:
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
