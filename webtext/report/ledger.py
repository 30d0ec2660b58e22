"""The per-URL ledger: one row per harvested canonical URL and what became of it.

Built from the files the stages already wrote (links, pages, cleaned/dropped, dedup/dropped,
documents) with Arrow joins, one ledger file per link partition, so it scales like the run.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webtext.fetch.optout import OPTOUT_FORGOTTEN, OPTOUT_LIST
from webtext.io import write_parquet_atomic
from webtext.paths import RunPaths
from webtext.schemas import CAPTURE_FIELDS

LEDGER_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string()),
        pa.field("canonical_url", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("score", pa.int64()),
        pa.field("fetch_status", pa.string()),  # "" when never fetched
        pa.field("fate", pa.string()),  # kept | <stage>:<reason> | optout:<kind> | pending
        pa.field("merged_into", pa.string()),  # kept document id a duplicate merged into
        pa.field("document_id", pa.string()),  # the corpus document carrying this URL
        *CAPTURE_FIELDS,  # where the fetched copy came from (null when never fetched)
    ]
)


def _read(path: Path, columns: list[str]) -> pa.Table | None:
    if not path.exists():
        return None
    return pq.read_table(path, columns=columns)


def _read_many(paths: list[Path], columns: list[str]) -> pa.Table | None:
    tables = [pq.read_table(p, columns=columns) for p in paths]
    tables = [t for t in tables if t.num_rows]
    return pa.concat_tables(tables) if tables else None


def _lookup(
    keys: pa.Array, table: pa.Table | None, column: str, type_: pa.DataType = pa.string()
) -> pa.Array:
    """For each key, `table[column]` of the row with that canonical_url (null if none)."""
    if table is None or table.num_rows == 0 or column not in table.column_names:
        return pa.nulls(len(keys), type_)
    idx = pc.index_in(keys, value_set=table["canonical_url"])
    return pc.take(table[column], idx)


def build_ledger(run_dir: str | Path) -> dict[str, int]:
    """Write `ledger/part-NNNNN.parquet` for every links file; returns counts per fate."""
    paths = RunPaths.of(run_dir)
    from webtext.layout import migrate_layout

    migrate_layout(paths)  # reads optout/ and dropped/: an old run's files move there first
    documents = _read_many(sorted(paths.documents.glob("part-*.parquet")), ["canonical_url", "id"])
    dedup_dropped = _read(
        paths.dedup_work / "dropped.parquet", ["canonical_url", "reason", "merged_into"]
    )
    from webtext.forget import forgotten_urls

    forgotten = forgotten_urls(run_dir)
    fates: dict[str, int] = {}
    for optout_file in sorted(paths.optout.glob("part-*.parquet")):
        _takedown_ledger(paths, optout_file, fates)
    for links_file in sorted(paths.links.glob("part-*.parquet")):
        name = links_file.name
        links = pq.read_table(links_file, columns=["url", "canonical_url", "domain", "score"])
        keys = links["canonical_url"].combine_chunks()
        pages = _read_pages(paths.pages / name)
        cleaned_kept = _read(paths.cleaned / name, ["canonical_url"])
        clean_dropped = _read(paths.dropped / name, ["canonical_url", "reason"])

        status = _lookup(keys, pages, "fetch_status").to_pylist()
        clean_reason = _lookup(keys, clean_dropped, "reason").to_pylist()
        dedup_reason = _lookup(keys, dedup_dropped, "reason").to_pylist()
        merged = _lookup(keys, dedup_dropped, "merged_into").to_pylist()
        doc_id = _lookup(keys, documents, "id").to_pylist()
        in_clean = (
            pc.is_in(keys, value_set=cleaned_kept["canonical_url"]).to_pylist()
            if cleaned_kept is not None
            else [False] * len(keys)
        )
        fate_col, carrier = [], []
        for i in range(len(keys)):
            fate, carried_by = _fate(
                status[i], clean_reason[i], in_clean[i], dedup_reason[i], merged[i], doc_id[i]
            )
            if forgotten and keys[i].as_py() in forgotten:
                fate, carried_by = OPTOUT_FORGOTTEN, None
            fate_col.append(fate)
            carrier.append(carried_by)
            fates[fate] = fates.get(fate, 0) + 1
        table = pa.table(
            {
                "url": links["url"],
                "canonical_url": links["canonical_url"],
                "domain": links["domain"],
                "score": links["score"],
                "fetch_status": pa.array([s or "" for s in status], pa.string()),
                "fate": pa.array(fate_col, pa.string()),
                "merged_into": pa.array(merged, pa.string()),
                "document_id": pa.array(carrier, pa.string()),
                **{
                    f.name: _lookup(keys, pages, f.name, f.type).cast(f.type)
                    for f in CAPTURE_FIELDS
                },
            },
            schema=LEDGER_SCHEMA,
        )
        write_parquet_atomic(paths.ledger / name, table)
    _remove_stale(paths)
    return dict(sorted(fates.items()))


def _remove_stale(paths: RunPaths) -> None:
    """Ledger files of links or optout files that are gone (fewer partitions, a takedown
    list no longer listing anything there): they would count their links twice."""
    wanted = {p.name for p in paths.links.glob("part-*.parquet")}
    wanted |= {f"optout-{p.name.removeprefix('part-')}" for p in paths.optout.glob("part-*.parquet")}
    for path in paths.ledger.glob("*.parquet") if paths.ledger.is_dir() else []:
        if path.name not in wanted:
            path.unlink()


def _takedown_ledger(paths: RunPaths, optout_file: Path, fates: dict[str, int]) -> None:
    """optout/part-N.parquet (links a takedown list kept from the crawl) -> ledger rows."""
    links = pq.read_table(optout_file, columns=["url", "canonical_url", "domain", "score"])
    n = links.num_rows
    table = pa.table(
        {
            "url": links["url"],
            "canonical_url": links["canonical_url"],
            "domain": links["domain"],
            "score": links["score"],
            "fetch_status": pa.array([""] * n, pa.string()),
            "fate": pa.array([OPTOUT_LIST] * n, pa.string()),
            "merged_into": pa.nulls(n, pa.string()),
            "document_id": pa.nulls(n, pa.string()),
            **{f.name: pa.nulls(n, f.type) for f in CAPTURE_FIELDS},
        },
        schema=LEDGER_SCHEMA,
    )
    # ledger/optout-N.parquet: beside ledger/part-N.parquet (same schema, other links)
    write_parquet_atomic(paths.ledger / f"optout-{optout_file.name.removeprefix('part-')}", table)
    if n:
        fates[OPTOUT_LIST] = fates.get(OPTOUT_LIST, 0) + n


def _read_pages(path: Path) -> pa.Table | None:
    """fetch_status and provenance of a pages file (pages from before archives: no
    provenance columns, read as nulls)."""
    if not path.exists():
        return None
    names = set(pq.read_schema(path).names)
    wanted = ["canonical_url", "fetch_status", *(f.name for f in CAPTURE_FIELDS)]
    return pq.read_table(path, columns=[n for n in wanted if n in names])


def _fate(status, clean_reason, in_clean, dedup_reason, merged, doc_id) -> tuple[str, str | None]:
    if not status:
        return "pending", None
    if status.startswith("optout:"):
        return status, None  # the fetch_status is the fate: optout:robots_ai, ...
    if status != "ok":
        return f"crawl:{status}", None
    if clean_reason:
        return clean_reason, None
    if dedup_reason:
        return dedup_reason, merged
    if doc_id:
        return "kept", doc_id
    return "pending", None
