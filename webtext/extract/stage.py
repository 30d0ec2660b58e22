"""One extract task, Ray-free: fetched/part-N (+ warc/, + the crawl's inline text) -> pages/part-N.

A row whose fetch came back (`fetch_status == "ok"` in fetched/) gets its title, text,
extractor, status (`ok` or `extract_empty`) and error from extraction; other rows are copied
as they are. When the crawl extracted the shard while fetching with the same settings
(`_work/crawl-extract/part-N.parquet`, tagged with them), its fields are used as they are:
no WARC is read. Otherwise each response is read back from warc/part-N-*.warc.gz (bodies as
received, decompressed here under `fetch.max_bytes`, decoded with the crawl's header ->
meta -> detection charset rules) and extracted again, without the network. A response
missing from the WARC (a crawl with `fetch.warc: false`) keeps the crawl's text when there
is any, else becomes `extract_empty` naming why; both are counted as `missing_warc`.
A fetched page whose final URL a takedown list (`optout.lists`) names becomes
`optout:list` without text, as the crawl makes a redirect into a list: a list that grew
after the crawl applies without a request (dedup matches documents by the link's URL only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from webtext.config import ExtractConfig
from webtext.io import write_parquet_atomic
from webtext.progress import count
from webtext.schemas import PAGES_SCHEMA, with_url_original

EXTRACTED = ("fetch_status", "title", "text", "extractor", "error")
INLINE_KEY = b"webtext.extract_settings"  # the settings the crawl's inline text was made with


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


def read_inline(path: str | Path, settings: str, rows: int) -> pa.Table | None:
    """The crawl's inline text of a shard if it was made with `settings`, else None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException):
        return None
    tag = (table.schema.metadata or {}).get(INLINE_KEY, b"").decode()
    if tag != settings or table.num_rows != rows or list(table.column_names) != list(EXTRACTED):
        return None
    return table


def drop_listed(table: pa.Table, takedown_lists: list[str]) -> pa.Table:
    """Fetched pages whose final URL a takedown list names -> `optout:list`, no text."""
    if not takedown_lists:
        return table
    from webtext.fetch.optout import OPTOUT_LIST
    from webtext.takedown import load_lists

    takedown = load_lists(takedown_lists)
    rows = table.to_pylist()
    for row in rows:
        if row["fetch_status"] in ("ok", "extract_empty") and takedown.match_url(row["final_url"]):
            row.update(fetch_status=OPTOUT_LIST, title=None, text=None, extractor=None,
                       error=f"a takedown list (optout.lists) names {row['final_url']}")  # fmt: skip
    return pa.Table.from_pylist(rows, schema=table.schema)


def extract_shard(item: dict[str, Any], *, extract: ExtractConfig, max_bytes: int,
                  settings: str, takedown_lists: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """pages/part-N from fetched/part-N; `item`: fetched, inline, pages, warcs (paths)."""
    fetched = with_url_original(pq.read_table(item["fetched"])).cast(PAGES_SCHEMA)
    inline = read_inline(item["inline"], settings, fetched.num_rows)
    counts = {"rows": fetched.num_rows, "from_crawl": 0, "reextracted": 0, "missing_warc": 0}
    if inline is not None:
        table = fetched
        for name in EXTRACTED:
            at = table.schema.get_field_index(name)
            table = table.set_column(at, table.schema.field(at), inline.column(name))
        counts["from_crawl"] = fetched.num_rows
    else:
        table = _reextract(fetched, item, extract, max_bytes, counts)
    table = drop_listed(table.cast(PAGES_SCHEMA), takedown_lists or [])
    write_parquet_atomic(item["pages"], table)
    count(fetched.num_rows, "urls")
    return counts


def _reextract(fetched: pa.Table, item: dict[str, Any], extract: ExtractConfig, max_bytes: int,
               counts: dict[str, int]) -> pa.Table:  # fmt: skip
    from webtext.extract import Extractor
    from webtext.fetch.body import decode_body
    from webtext.fetch.charset import decode_html

    stale = None
    if Path(item["inline"]).is_file():  # other settings: only a fallback for lost responses
        stale = pq.read_table(item["inline"])
        if stale.num_rows != fetched.num_rows:
            stale = None
    responses = read_responses([Path(p) for p in item["warcs"]])
    rows = fetched.to_pylist()
    with Extractor(extract) as extractor:
        for k, row in enumerate(rows):
            if row["fetch_status"] != "ok":
                continue
            found = responses.get(row.get("archive_url") or row["final_url"])
            if found is None:
                counts["missing_warc"] += 1
                if stale is not None:
                    row.update({name: stale.column(name)[k].as_py() for name in EXTRACTED})
                else:
                    row.update(fetch_status="extract_empty", text="",
                               error="response not in the WARC files (fetch.warc off?)")  # fmt: skip
                continue
            headers, raw = found
            try:
                body = decode_body(raw, headers.get("content-encoding"), max_bytes)
            except Exception as exc:  # the crawl read it; a corrupt WARC is recorded
                row.update(fetch_status="extract_empty", text="", error=f"WARC body: {exc}")
                continue
            html, _ = decode_html(body, headers.get("content-type"))
            fields = extract_fields(extractor, html, row["final_url"], extract.min_chars)
            if fields["fetch_status"] == "ok":  # the fetch's note (e.g. recovered from) stays
                fields["error"] = row["error"]
            row.update(fields)
            counts["reextracted"] += 1
    return pa.Table.from_pylist(rows, schema=PAGES_SCHEMA)


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
