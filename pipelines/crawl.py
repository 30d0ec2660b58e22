"""`webtext crawl`: links/ -> pages/ (one row per URL attempted) + warc/ (raw capture).

One Ray task per links shard (`map_shards`). Inside a task a `Crawler` keeps up to
`fetch.concurrency` requests in flight (politely per host) while the task's main thread
runs extraction on the pages as they arrive.

Resume: the shard's URLs are processed in fixed chunks of `fetch.checkpoint_every`; each
finished chunk leaves `warc/part-NNNNN-CCCCC.warc.gz` and then
`_work/crawl/part-NNNNN-<shard fingerprint>-eE/chunk-CCCCC.parquet` (both atomic), so a
killed task restarts at the first missing chunk and refetches nothing it stored. The final
`pages/part-NNNNN.parquet` is the chunks' rows sorted by canonical_url: the same rows in
the same order wherever the task was killed, and a Ray retry overwrites, never duplicates.
`_work/crawl/done/part-NNNNN.json` records the shard fingerprint (the fetch and extract
settings that decide results, not PACE_KEYS; digest of the links file): a shard whose links
or those settings changed is crawled again.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
from webtext.paths import RunPaths
from webtext.progress import log
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
        "max_retry_after", "max_crawl_delay", "checkpoint_every",
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
        with ray_session(cfg.ray):
            results = map_shards(crawl_shard, todo, desc="crawl", cfg=cfg)
    stats = collect_stats(paths)
    write_json_atomic(paths.pages / "stats.json", stats)
    flat = {
        "shards": len(shards),
        "shards_crawled": len(todo),
        "urls": stats["total"],
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


# ---------------------------------------------------------------- one shard (task)
def crawl_shard(item: tuple, cfg: Config) -> dict[str, Any]:
    """Crawl one links shard into pages/part-N.parquet and warc/part-N-*.warc.gz.

    `item` = (N, links file[, shard fingerprint]). A shard crawled before from other links
    or another config is crawled again; its old chunks and WARCs are dropped.
    """
    index, links_path = item[0], item[1]
    shard_fp = item[2] if len(item) > 2 else shard_fingerprint(cfg, links_path)
    paths = RunPaths.of(cfg.run_dir)
    out = paths.pages / shard_name(index)
    if shard_is_current(paths, index, shard_fp):  # a retried task whose first attempt finished
        return {"shard": index, "fetched": 0, "requests": 0, "cpu_s": 0.0}
    links = read_links(links_path)
    order = interleave_hosts(links.column("url").to_pylist(), links.column("canonical_url"))
    size = cfg.fetch.checkpoint_every
    work = paths.work / STAGE / f"part-{index:05d}-{shard_fp}-e{size}"
    for stale in (paths.work / STAGE).glob(f"part-{index:05d}-*"):
        if stale != work:  # chunks of other links or another config
            shutil.rmtree(stale, ignore_errors=True)
    chunks = [order[i : i + size] for i in range(0, len(order), size)]
    clean_temp_files(work)
    _drop_orphan_warcs(paths.warc, index, work)
    fetched = requests = 0
    cpu_start = _cpu_seconds()
    todo = [c for c in range(len(chunks)) if not _chunk_path(work, c).exists()]
    if todo:
        from webtext.extract import Extractor
        from webtext.fetch import Crawler, Fetcher

        with Fetcher(cfg.fetch) as fetcher, Extractor(cfg.extract) as extractor:
            crawler = Crawler(fetcher, cfg.fetch, seed=index)
            archive = _archive_fetcher(fetcher, cfg, paths)
            for c in todo:
                rows = chunks[c]
                warc_path = paths.warc / shard_name(index, f"-{c:05d}.warc.gz")
                table = crawl_chunk(crawler, extractor, links, rows, warc_path, cfg, archive)
                write_parquet_atomic(_chunk_path(work, c), table)
                fetched += len(rows)
            requests = fetcher.requests_made + (archive.requests_made if archive else 0)
    parts = [pq.read_table(_chunk_path(work, c)) for c in range(len(chunks))]
    table = pa.concat_tables(parts) if parts else PAGES_SCHEMA.empty_table()
    table = table.sort_by([("canonical_url", "ascending"), ("url", "ascending")])
    write_parquet_atomic(out, table.cast(PAGES_SCHEMA))
    write_json_atomic(_done_path(paths, index), {"fingerprint": shard_fp, "links": links_path})
    shutil.rmtree(work, ignore_errors=True)
    cpu = round(_cpu_seconds() - cpu_start, 3)
    return {"shard": index, "fetched": fetched, "requests": requests, "cpu_s": cpu}


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


def interleave_hosts(urls: list[str], canonical: pa.ChunkedArray) -> list[int]:
    """Row indices ordered round-robin over hosts (each host's URLs by canonical_url).

    Deterministic, and each checkpoint chunk spans many hosts, so per-host delays overlap
    inside a chunk instead of one host's queue filling a whole chunk.
    """
    keys = canonical.to_pylist()
    by_host: dict[str, list[int]] = defaultdict(list)
    for i in sorted(range(len(urls)), key=lambda i: (keys[i] or "", urls[i] or "")):
        by_host[(urlsplit(urls[i] or "").hostname or "").lower()].append(i)
    hosts = sorted(by_host)
    order: list[int] = []
    depth = 0
    while len(order) < len(urls):
        for host in hosts:
            if depth < len(by_host[host]):
                order.append(by_host[host][depth])
        depth += 1
    return order


def _archive_fetcher(fetcher, cfg: Config, paths: RunPaths):
    """The task's archive client (fetch.mode archive / live_then_archive), else None."""
    if cfg.fetch.mode == "live":
        return None
    from webtext.fetch.archive import ArchiveFetcher

    return ArchiveFetcher(fetcher, cfg.archive, paths.work / "archive")


def crawl_chunk(crawler, extractor, links: pa.Table, rows: list[int], warc_path, cfg,
                archive=None) -> pa.Table:  # fmt: skip
    from webtext.fetch import WarcChunkWriter

    urls = links.column("url").to_pylist()
    batch_urls = [urls[i] for i in rows]
    records: list[dict[str, Any] | None] = [None] * len(rows)
    writer = WarcChunkWriter(warc_path) if cfg.fetch.warc else None

    def store(result) -> dict[str, Any]:
        warc_error = write_exchanges(writer, result) if writer is not None else None
        record = page_record(result, extractor, cfg.extract.min_chars)
        if warc_error is not None:
            record.update(fetch_status="warc_error", error=warc_error)
        return record

    try:
        if cfg.fetch.mode == "archive":
            dead = {pos: "" for pos in range(len(rows))}
        else:
            dead = {}
            for pos, result in crawler.run(batch_urls):
                records[pos] = store(result)
                if archive is not None:
                    why = dead_link(result, records[pos], cfg)
                    if why:
                        dead[pos] = why
        if archive is not None and dead:
            from webtext.fetch.archive import target_time
            from webtext.fetch.archive.step import archive_pass

            created = links.column("first_created_utc").to_pylist()
            todo = [(p, batch_urls[p], target_time(created[rows[p]], cfg.archive)) for p in dead]
            for pos, result in archive_pass(archive, todo):
                records[pos] = merge_archived(records[pos], store(result), result, dead[pos])
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.close()
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
    return pa.table(columns, schema=PAGES_SCHEMA)


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
    if result.status.startswith("optout:"):  # the archived copy itself says no
        return archived
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
