"""Taking documents out of a finished run: `webtext forget`, and takedown lists at dedup.

`remove_documents` is the one place a document leaves documents/ on a takedown: dedup runs
it with `optout.lists` (and the entries of `forget.log`, so a re-dedup never brings a
forgotten page back), `webtext forget` with its --url/--domain/--list. A document goes
when its canonical URL matches; a matching URL merged into another document (a near
duplicate on another site) is taken out of that document's `urls` provenance, and the
document, whose text came from elsewhere, stays.

`forget_run` then rewrites only the token shards that held a removed document (the
layout of webtext/tokenize/shards.py keeps every other shard's bytes and mtime),
index.json, the stage markers, the ledger and stats.json, and appends what it removed,
when and why to `forget.log` (ids and URLs, never text). A pending-removal file written
before anything changes makes a killed forget resumable: the next run finishes it. New
shards are written beside the old ones and moved in only once the plan is in that file, so
the shards never disagree with index.json (tests/test_forget.py stops a forget before each
of its file replaces in turn).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webtext.io import (
    StageMarker,
    combine_fingerprint,
    file_digest,
    output_files,
    read_json,
    stage_fingerprint,
    write_json_atomic,
    write_parquet_atomic,
)
from webtext.paths import RunPaths, part_files
from webtext.takedown import Takedown

FORGET_LOG = "forget.log"
PENDING = "forget-pending.json"


@dataclass
class Removal:
    """What a takedown took out of documents/."""

    documents: list[dict[str, str]] = field(default_factory=list)  # id, url, canonical_url, file
    merged_urls: list[dict[str, str]] = field(default_factory=list)  # document_id, url

    @property
    def ids(self) -> set[str]:
        return {d["id"] for d in self.documents}


def forget_log_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / FORGET_LOG


def read_forget_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every entry of `forget.log` (one JSON object per line), oldest first."""
    path = forget_log_path(run_dir)
    if not path.is_file():
        return []
    entries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                entries.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not a JSON line: {exc}") from None
    return entries


def forgotten_urls(run_dir: str | Path) -> set[str]:
    """Canonical URLs that `webtext forget` removed (documents and merged copies)."""
    out: set[str] = set()
    for entry in read_forget_log(run_dir):
        out.update(d["canonical_url"] for d in entry.get("removed", []) if d.get("canonical_url"))
        out.update(
            m["canonical_url"] for m in entry.get("merged_urls", []) if m.get("canonical_url")
        )
    return out


def forgotten_takedown(run_dir: str | Path) -> Takedown:
    """The forget.log's URLs as a takedown, so a rerun of dedup keeps them out."""
    takedown = Takedown()
    for canonical in forgotten_urls(run_dir):
        takedown.add_canonical(canonical)
    return takedown


def _append_log(run_dir: Path, entry: dict[str, Any]) -> None:
    """One JSON line, appended and fsynced: the log is the record of what was removed."""
    line = json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n"
    fd = os.open(forget_log_path(run_dir), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------- documents/
def remove_documents(
    documents_dir: str | Path,
    takedowns: list[Takedown],
    *,
    ids: set[str] | None = None,
    merged: set[tuple[str, str]] | None = None,
    write: bool = True,
) -> Removal:
    """Rewrite each documents/part-N.parquet that holds a match (others are not touched).

    `ids` and `merged` ((document id, url) pairs) are taken out as well as the matches;
    `write=False` only says what would go (forget records it before changing anything)."""
    from webtext.reddit.canonical import BadUrl, canonicalize

    removal = Removal()
    takedowns = [t for t in takedowns if t]
    ids = ids or set()
    merged = merged or set()
    if not takedowns and not ids and not merged:
        return removal
    for path in sorted(Path(documents_dir).glob("part-*.parquet")):
        table = pq.read_table(path)
        canon = table["canonical_url"].to_pylist()
        doc_ids = table["id"].to_pylist()
        out = [
            i in ids or any(t.match(c) for t in takedowns)
            for i, c in zip(doc_ids, canon, strict=True)
        ]
        urls = table["urls"].to_pylist()
        new_urls, changed = [], False
        for n, lst in enumerate(urls):
            if out[n] or not lst:
                new_urls.append(lst)
                continue
            keep = []
            for u in lst:
                if (doc_ids[n], u) in merged or any(t.match_url(u) for t in takedowns):
                    try:
                        key = canonicalize(u)
                    except BadUrl:
                        key = u
                    removal.merged_urls.append(
                        {"document_id": doc_ids[n], "url": u, "canonical_url": key}
                    )
                else:
                    keep.append(u)
            changed |= len(keep) != len(lst)
            new_urls.append(keep)
        if not any(out) and not changed:
            continue
        for n in np.flatnonzero(out):
            removal.documents.append(
                {
                    "id": doc_ids[n],
                    "url": table["url"][int(n)].as_py(),
                    "canonical_url": canon[n],
                    "file": path.name,
                }  # fmt: skip
            )
        if changed:
            sizes = [
                (c or 0) - (len(old or []) - len(new or []))
                for c, old, new in zip(
                    table["cluster_size"].to_pylist(), urls, new_urls, strict=True
                )  # fmt: skip
            ]
            table = table.set_column(
                table.schema.get_field_index("urls"), table.schema.field("urls"),
                pa.array(new_urls, table.schema.field("urls").type),
            )  # fmt: skip
            table = table.set_column(
                table.schema.get_field_index("cluster_size"),
                table.schema.field("cluster_size"),
                pa.array(sizes, pa.int64()),
            )
        if write:
            table = table.filter(pc.invert(pa.array(out, pa.bool_())))
            write_parquet_atomic(path, table)
    return removal


# ---------------------------------------------------------------------------- shards/
def _split_rows(shards_dir: Path, entries: list[dict[str, Any]]):
    """(readers, ids, lengths, shard number, row) of every row of one split's shards."""
    from webtext.tokenize.reader import ShardReader

    readers, ids, lengths, which, rows = [], [], [], [], []
    for k, entry in enumerate(entries):
        reader = ShardReader(shards_dir / entry["file"])
        readers.append(reader)
        ids.extend(reader.ids.to_pylist())
        lengths.append(np.diff(reader.offsets).astype(np.int64))
        which.append(np.full(len(reader), k, dtype=np.int64))
        rows.append(np.arange(len(reader), dtype=np.int64))
    if not readers:
        empty = np.zeros(0, dtype=np.int64)
        return readers, ids, empty, empty, empty
    return readers, ids, np.concatenate(lengths), np.concatenate(which), np.concatenate(rows)


STAGED = ".forget-new"


def reshard(shards_dir: str | Path, removed: set[str]) -> dict[str, Any]:
    """Plan taking `removed` ids out of the shards; only shards whose rows change are rewritten.

    The new layout is computed exactly as tokenize computes it from the remaining documents
    (`bucket_layout`), so index.json equals a fresh tokenize of the same documents. The new
    shards are written beside the old ones (`*.forget-new`) and nothing the index names
    changes here: `apply_reshard` moves them in once the plan is recorded, so a forget
    killed halfway never leaves shards that disagree with index.json.
    """
    from webtext.tokenize.encode import split_keys
    from webtext.tokenize.reader import read_index
    from webtext.tokenize.shards import (
        SPLITS,
        bucket_layout,
        build_index,
        file_sha256,
        fresh_shard_table,
        shard_entry,
        shard_relpath,
        write_shard,
    )

    shards_dir = Path(shards_dir)
    for leftover in shards_dir.rglob(f"*{STAGED}"):  # from a forget killed before its plan
        leftover.unlink()
    index = read_index(shards_dir)
    shard_tokens, val_fraction = index["shard_tokens"], index["val_fraction"]
    old_buckets = index.get("layout", {}).get("buckets", {})
    entries: list[dict[str, Any]] = []
    buckets: dict[str, int] = {}
    rewritten: list[str] = []
    deleted: list[str] = []
    moves: list[list[str]] = []
    for split in SPLITS:
        mine = [e for e in index["shards"] if e["split"] == split]
        readers, ids, lengths, shard_of, row_of = _split_rows(shards_dir, mine)
        gone = np.fromiter((i in removed for i in ids), dtype=bool, count=len(ids))
        if not gone.any():
            entries += mine
            buckets[split] = int(old_buckets.get(split, 0))
            continue
        keep = np.flatnonzero(~gone)
        keep_ids = [ids[k] for k in keep]
        keys = split_keys(keep_ids)
        count, which = bucket_layout(keys, lengths[keep], shard_tokens)
        buckets[split] = count
        old_by_bucket = {e["bucket"]: k for k, e in enumerate(mine)}
        touched = set(shard_of[gone].tolist())
        new_files = set()
        for bucket in range(count):
            members = keep[which == bucket]
            if not len(members):
                continue
            relpath = shard_relpath(split, bucket)
            new_files.add(relpath)
            old = old_by_bucket.get(bucket)
            same_layout = count == int(old_buckets.get(split, 0))
            if same_layout and old is not None and old not in touched:
                entries.append(mine[old])  # untouched: same file, same bytes, same mtime
                continue
            order = sorted(members.tolist(), key=lambda k: ids[k])
            pieces = []
            for k in order:
                reader = readers[shard_of[k]]
                pieces.append(reader.document(int(row_of[k])))
            doc_lengths = lengths[order]
            staged = relpath + STAGED
            write_shard(
                shards_dir / staged,
                fresh_shard_table([ids[k] for k in order], doc_lengths, np.concatenate(pieces)),
            )
            rewritten.append(relpath)
            moves.append([staged, relpath])
            entries.append(
                shard_entry(split, bucket, len(order), int(doc_lengths.sum()),
                            file_sha256(shards_dir / staged), ids[order[0]], ids[order[-1]])
            )  # fmt: skip
        for reader in readers:
            reader.close()
        for entry in mine:
            if entry["file"] not in new_files:
                deleted.append(entry["file"])
    index = build_index(entries, shard_tokens=shard_tokens, val_fraction=val_fraction,
                        buckets=buckets)  # fmt: skip
    return {"rewritten": rewritten, "deleted": deleted, "moves": moves, "index": index}


def apply_reshard(shards_dir: str | Path, plan: dict[str, Any]) -> None:
    """Move a recorded plan's shards in, delete the emptied ones, write index.json.
    Idempotent: a forget killed during it does it again on the next run."""
    shards_dir = Path(shards_dir)
    for staged, relpath in plan["moves"]:
        if (shards_dir / staged).exists():
            os.replace(shards_dir / staged, shards_dir / relpath)
    for relpath in plan["deleted"]:
        (shards_dir / relpath).unlink(missing_ok=True)
    write_json_atomic(shards_dir / "index.json", plan["index"])


# ------------------------------------------------------------------------------ the run
def _update_tokenize_marker(run_dir: Path, index: dict[str, Any]) -> None:
    """The tokenize stage stays 'done' for the documents as they are now (its fingerprint
    recomputed from the settings it recorded and the documents' digests)."""
    marker = StageMarker(run_dir, "tokenize")
    data = marker.read()
    if not data or "settings_fingerprint" not in data:
        marker.clear()  # a rerun re-plans; with the same documents it writes the same bytes
        return
    paths = RunPaths.of(run_dir)
    digests = {str(p.relative_to(paths.root)): file_digest(p)
               for _, p in part_files(paths.documents)}  # fmt: skip
    fingerprint = stage_fingerprint(data["settings_fingerprint"], list(digests.values()))
    stats = dict(data.get("stats", {}))
    total_rows = total_tokens = 0
    for split, t in index["totals"].items():
        stats[f"{split}_documents"], stats[f"{split}_tokens"] = t["rows"], t["tokens"]
        stats[f"{split}_shards"] = t["shards"]
        total_rows += t["rows"]
        total_tokens += t["tokens"]
    stats["documents"], stats["tokens"] = total_rows, total_tokens
    marker.mark_done(fingerprint, stats, settings_fingerprint=data["settings_fingerprint"],
                     inputs=digests,
                     outputs=output_files(paths.root, [paths.shards]))  # fmt: skip
    run_marker = StageMarker(run_dir, "run")
    run = run_marker.read() or {}
    stages = run.get("stages")
    if stages and stages.get("tokenize") == data["fingerprint"]:  # `webtext run` was done
        stages = {**stages, "tokenize": fingerprint}  # and stays so (run_pipeline's formula)
        run_marker.mark_done(combine_fingerprint(stages), run.get("stats"),
                             identity=run.get("identity"), stages=stages)  # fmt: skip


def _refresh_reports(run_dir: Path) -> None:
    """Ledger, stats.json and report.html, when the run had them."""
    from webtext.report.ledger import build_ledger
    from webtext.report.run_report import build_report, write_stats

    paths = RunPaths.of(run_dir)
    old = read_json(paths.stats)
    if old is None and not paths.ledger.is_dir():
        return
    fates = build_ledger(run_dir)
    stages = dict((old or {}).get("stages", {}))
    tokenize = (StageMarker(run_dir, "tokenize").read() or {}).get("stats")
    if tokenize and "tokenize" in stages:
        stages["tokenize"] = tokenize
    stats = write_stats(run_dir, stages, fates)
    if paths.report.is_file():
        build_report(run_dir, stats)
    run_marker = StageMarker(run_dir, "run")
    done = run_marker.read()
    if done:  # `webtext run` stays done and prints the funnel as it is now
        kept = {k: done[k] for k in ("identity", "stages") if k in done}
        run_marker.mark_done(done["fingerprint"], stats, **kept)


def forget_run(run_dir: str | Path, takedown: Takedown, *, why: str) -> dict[str, Any]:
    """Remove the matching documents from a finished run (see the module docstring)."""
    run_dir = Path(run_dir).resolve()
    paths = RunPaths.of(run_dir)
    if not paths.documents.is_dir():
        raise FileNotFoundError(f"{paths.documents} does not exist: not a finished run")
    from webtext.layout import migrate_layout

    migrate_layout(paths)  # a run written before the layout change
    if paths.shards_index.is_file():
        from webtext.tokenize.reader import read_index

        read_index(paths.shards)  # an index we cannot rewrite fails here, before any change
    pending_path = paths.state / PENDING
    pending = read_json(pending_path) or {}
    result: dict[str, Any] = {"rewritten": [], "deleted": []}
    if pending.get("reshard"):  # a forget killed while moving its shards in
        apply_reshard(paths.shards, pending["reshard"])
        result = pending["reshard"]
    earlier = set(pending.get("ids", []))
    # what goes is recorded before anything changes: a forget killed after rewriting a
    # documents/ file but before the record would lose those ids, and their tokens would
    # stay in the shards
    planned = remove_documents(paths.documents, [takedown], ids=earlier, write=False)
    documents = {d["id"]: d for d in pending.get("removed", []) + planned.documents}
    merged = {
        (m["document_id"], m["url"]): m
        for m in pending.get("merged_urls", []) + planned.merged_urls
    }
    ids = set(documents)
    record = {"ids": sorted(ids), "removed": list(documents.values()),
              "merged_urls": list(merged.values()), "why": why}  # fmt: skip
    write_json_atomic(pending_path, record)
    remove_documents(paths.documents, [takedown], ids=ids, merged=set(merged))
    documents, merged = record["removed"], record["merged_urls"]
    if paths.shards_index.is_file() and ids:
        plan = reshard(paths.shards, ids)
        if plan["moves"] or plan["deleted"]:
            write_json_atomic(pending_path, {**record, "reshard": plan})
            apply_reshard(paths.shards, plan)
            result = plan
        else:
            write_json_atomic(paths.shards_index, plan["index"])
        _update_tokenize_marker(run_dir, read_json(paths.shards_index))
    entry = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "why": why,
        "removed": sorted(documents, key=lambda d: d["id"]),
        "merged_urls": merged,
        "shards_rewritten": result["rewritten"],
        "shards_deleted": result["deleted"],
    }
    if documents or merged:
        _append_log(run_dir, entry)
    pending_path.unlink(missing_ok=True)
    if documents or merged:
        _refresh_reports(run_dir)
    return {
        "documents_removed": len(documents),
        "merged_urls_removed": len(merged),
        "shards_rewritten": result["rewritten"],
        "shards_deleted": result["deleted"],
        "log": str(forget_log_path(run_dir)),
    }
