"""`webtext extract`: re-run main-text extraction from the WARC files, without the network.

For every pages/part-N.parquet, the responses in warc/part-N-*.warc.gz are read back
(bodies as received: decompressed here under `fetch.max_bytes`, decoded with the same
header -> meta -> detection charset rules as the crawl) and the rows that were fetched
(`ok` or `extract_empty`) get new `text`, `title`, `extractor`, `fetch_status` and
`error` from the configured extractor. Other rows are left as they are. A row whose
response is missing from the WARC (a crawl with `fetch.warc: false`) keeps its old values
and is counted as `missing_warc`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines._ray import map_shards, ray_session
from pipelines.crawl import _PART, collect_stats, extract_fields
from webtext.config import Config, ConfigError
from webtext.io import (
    StageMarker,
    combine_fingerprint,
    write_json_atomic,
    write_parquet_atomic,
)
from webtext.layout import migrate_layout
from webtext.paths import RunPaths
from webtext.progress import log
from webtext.schemas import PAGES_SCHEMA, with_url_original

STAGE = "extract"
REEXTRACT = ("ok", "extract_empty")


def fingerprint(cfg: Config) -> str:
    """The config (fetch.max_bytes bounds decompression) and the crawl it re-extracts: a
    crawl that rewrote pages since makes an earlier extraction stale."""
    crawled = (StageMarker(cfg.run_dir, "crawl").read() or {}).get("fingerprint", "")
    return combine_fingerprint(cfg.fingerprint("fetch", "extract"), crawled)


def run(cfg: Config) -> dict[str, Any]:
    paths = RunPaths.of(cfg.run_dir)
    migrate_layout(paths)  # a run written before the layout change
    marker = StageMarker(cfg.run_dir, STAGE)
    fp = fingerprint(cfg)
    if marker.is_done(fp):
        log.info("extract: already done (fingerprint %s)", fp)
        return (marker.read() or {}).get("stats", {})
    if not paths.pages.is_dir():
        raise ConfigError(f"no pages at {paths.pages}: run `webtext crawl` first")
    shards = []
    for path in sorted(paths.pages.iterdir()):
        match = _PART.match(path.name)
        if match:
            shards.append((int(match.group(1)), str(path)))
    done_dir = paths.work / STAGE / fp
    todo = [s for s in shards if not (done_dir / f"part-{s[0]:05d}.done").exists()]
    results: list[dict[str, int]] = []
    if todo:
        with ray_session(cfg.ray):
            results = map_shards(
                extract_shard, todo, desc="extract", cfg=cfg, done_dir=str(done_dir)
            )
    stats = collect_stats(paths)
    write_json_atomic(paths.pages_stats, stats)
    flat: dict[str, Any] = {"shards": len(shards), "shards_extracted": len(todo)}
    for key in ("reextracted", "changed_status", "missing_warc"):
        flat[key] = sum(r[key] for r in results)
    flat.update({f"status.{k}": v for k, v in stats["by_status"].items()})
    marker.mark_done(fp, flat)
    log.info(
        "extract: %d pages re-extracted, %d missing in WARC",
        flat["reextracted"],
        flat["missing_warc"],
    )
    return flat


def extract_shard(item: tuple[int, str], cfg: Config, done_dir: str) -> dict[str, int]:
    from webtext.extract import Extractor
    from webtext.fetch.body import decode_body
    from webtext.fetch.charset import decode_html

    index, pages_path = item
    paths = RunPaths.of(cfg.run_dir)
    table = with_url_original(pq.read_table(pages_path)).cast(PAGES_SCHEMA)
    responses = read_responses(sorted(paths.warc.glob(f"part-{index:05d}-*.warc.gz")))
    rows = table.to_pylist()
    counts = {"reextracted": 0, "changed_status": 0, "missing_warc": 0}
    with Extractor(cfg.extract) as extractor:
        for row in rows:
            if row["fetch_status"] not in REEXTRACT:
                continue
            found = responses.get(row.get("archive_url") or row["final_url"])
            if found is None:
                counts["missing_warc"] += 1
                continue
            headers, raw = found
            try:
                body = decode_body(raw, headers.get("content-encoding"), cfg.fetch.max_bytes)
            except Exception as exc:  # the crawl read it; a corrupt WARC is recorded
                row.update(fetch_status="extract_empty", text="", error=f"WARC body: {exc}")
                continue
            html, _ = decode_html(body, headers.get("content-type"))
            before = row["fetch_status"]
            row.update(extract_fields(extractor, html, row["final_url"], cfg.extract.min_chars))
            counts["reextracted"] += 1
            counts["changed_status"] += row["fetch_status"] != before
    write_parquet_atomic(pages_path, pa.Table.from_pylist(rows, schema=PAGES_SCHEMA))
    done = Path(done_dir) / f"part-{index:05d}.done"
    done.parent.mkdir(parents=True, exist_ok=True)
    done.write_text("done\n")
    return counts


def read_responses(files: list[Path]) -> dict[str, tuple[dict[str, str], bytes]]:
    """target URI -> (lower-cased HTTP headers, body as received) of its last 2xx response."""
    from warcio.archiveiterator import ArchiveIterator

    found: dict[str, tuple[dict[str, str], bytes]] = {}
    for path in files:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type != "response" or record.http_headers is None:
                    continue
                code = record.http_headers.get_statuscode()
                if not code or not code.startswith("2"):
                    continue
                uri = record.rec_headers.get_header("WARC-Target-URI")
                headers = {k.lower(): v for k, v in record.http_headers.headers}
                found[uri] = (headers, record.raw_stream.read())
    return found
