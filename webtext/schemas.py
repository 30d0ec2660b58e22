"""Arrow schemas of the files stages hand to each other: the contracts between stages.

Columns named in the issues are public; add columns at the end, never rename.
"""

from __future__ import annotations

import pyarrow as pa

PROVENANCE_FIELDS = [
    pa.field("domain", pa.string()),  # registered domain (tldextract), e.g. bbc.co.uk
    pa.field("score", pa.int64()),  # karma under harvest.karma semantics
    pa.field("num_submissions", pa.int64()),
    pa.field("submission_ids", pa.list_(pa.string())),
    pa.field("subreddits", pa.list_(pa.string())),
    pa.field("first_created_utc", pa.int64()),
]

# links/part-NNNNN.parquet: one row per canonical URL, partitioned by registered-domain hash
# the URL as submitted (an IRI: raw non-ASCII, minus fragment and userinfo) when it differs
# from `url`, its ASCII URI form (webtext.uri); null when the submission was already a URI
URL_ORIGINAL = pa.field("url_original", pa.string())

LINKS_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string()),  # the URI to fetch (webtext.uri: ASCII, no userinfo)
        pa.field("canonical_url", pa.string()),  # the key that decides duplicates
        *PROVENANCE_FIELDS,
        URL_ORIGINAL,
    ]
)

FETCH_STATUSES = (
    "ok",
    "robots_disallowed",
    "blocked_address",
    "timeout",
    "too_large",
    "not_html",
    "http_error",
    "too_many_redirects",
    "connection_error",
    "extract_empty",
    "warc_error",  # fetched, but its WARC records could not be written (error says why)
    "optout:robots_ai",  # robots.txt disallows the URL for an AI-training crawler token
    "optout:tdmrep",  # TDMRep reservation: header, meta tag or /.well-known/tdmrep.json
    "optout:noai",  # noai in X-Robots-Tag or <meta name="robots">
    "optout:list",  # a redirect led to a URL on a takedown list (optout.lists)
    "archive_miss",  # fetch.mode archive / live_then_archive: no usable capture in any archive
    "internal_error",  # a bug in the crawler's own code (its traceback is in the log)
)

# where a page's bytes came from (`source` column): the web today or one of the archives
SOURCES = ("live", "wayback", "commoncrawl")

# provenance of the fetched copy, on pages/, documents/ and the ledger
CAPTURE_FIELDS = [
    pa.field("source", pa.string()),  # one of SOURCES
    # UTC seconds of the archive's capture; null for live copies, so that outputs stay
    # byte-identical between runs (the live fetch's time is the WARC record's WARC-Date)
    pa.field("capture_time", pa.int64()),
    pa.field("archive_url", pa.string()),  # what was requested from the archive (null: live)
]

# pages/part-NNNNN.parquet: one row per URL attempted
PAGES_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string()),
        pa.field("canonical_url", pa.string()),
        pa.field("final_url", pa.string()),
        pa.field("fetch_status", pa.string()),  # one of FETCH_STATUSES
        pa.field("http_status", pa.int32()),
        pa.field("content_type", pa.string()),
        pa.field("bytes", pa.int64()),
        pa.field("fetch_ms", pa.int64()),
        pa.field("title", pa.string()),
        pa.field("text", pa.string()),
        pa.field("extractor", pa.string()),
        *PROVENANCE_FIELDS,
        pa.field("error", pa.string()),  # human-readable detail for non-ok statuses
        URL_ORIGINAL,
        *CAPTURE_FIELDS,
    ]
)


def with_url_original(table: pa.Table) -> pa.Table:
    """Links or pages written before `url_original` existed: the column, all null."""
    if "url_original" in table.column_names:
        return table
    return table.append_column(URL_ORIGINAL, pa.nulls(table.num_rows, pa.string()))


# documents/part-NNNNN.parquet: the final corpus
DOCUMENTS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),  # stable: derived from the canonical URL
        pa.field("url", pa.string()),
        pa.field("title", pa.string()),
        pa.field("text", pa.string()),
        pa.field("score", pa.int64()),
        pa.field("lang", pa.string()),
        pa.field("subreddits", pa.list_(pa.string())),
        pa.field("submission_ids", pa.list_(pa.string())),
        pa.field("urls", pa.list_(pa.string())),
        pa.field("cluster_size", pa.int64()),
        pa.field("domain", pa.string()),
        pa.field("canonical_url", pa.string()),
        pa.field("first_created_utc", pa.int64()),
        *CAPTURE_FIELDS,
    ]
)


def document_id(canonical_url: str) -> str:
    """Stable document id: the first 16 hex digits of sha1(canonical URL)."""
    import hashlib

    return hashlib.sha1(canonical_url.encode("utf-8")).hexdigest()[:16]
