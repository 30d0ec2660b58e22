"""The dedup stage as four kinds of small, idempotent tasks joined by files.

1. `signature_task`, one per cleaned shard: MinHash signatures (`sig-S.npy`, uint32
   [docs, num_perm], written through a memory map), per-document metadata (`meta-S.npy`),
   and band keys plus exact-text keys appended to hash-partitioned bucket files
   (`buckets/P/near-S.npy`, `buckets/P/exact-S.npy`).
2. `edge_task`, one per bucket partition: documents sharing a key become candidate pairs;
   near pairs are kept when their estimated Jaccard (read from the memory-mapped
   signatures) reaches the threshold, exact pairs when their 128-bit text hashes agree.
3. `cluster` (the driver): union-find over the edges, the survivor of each cluster, one
   small assignment file per shard (only documents that have duplicates appear in it).
4. `provenance_task` then `write_task`, one per shard: duplicates send their URL and
   Reddit provenance to their survivor's shard; each shard writes its documents.

The in-process and the Ray execution call exactly these functions (`run_dedup`), so they
produce the same bytes. Documents are numbered globally (`gid` = shard offset + row).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from dedup.lsh import band_keys, bucket_pairs, estimated_jaccard
from dedup.minhash import MinHashParams, text_signatures
from dedup.shingles import exact_key_texts
from dedup.unionfind import UnionFind, choose_survivors
from webtext.io import atomic_path, write_parquet_atomic
from webtext.progress import Progress, count
from webtext.schemas import DOCUMENTS_SCHEMA, document_id

REASON_EXACT = "dedup:exact_duplicate"
REASON_NEAR = "dedup:near_duplicate"
_KEEP, _EXACT, _NEAR = 0, 1, 2
_REASONS = {_EXACT: REASON_EXACT, _NEAR: REASON_NEAR}
META_DTYPE = np.dtype(
    [("score", "<i8"), ("created", "<i8"), ("key", "<u8"), ("ex_lo", "<u8"), ("ex_hi", "<u8"),
     ("live", "<i1")]  # live: 1 unless the text came from an archive capture
)  # fmt: skip
DROPPED_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string()),
        pa.field("canonical_url", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("merged_into", pa.string()),
    ]
)
_PROV_SCHEMA = pa.schema(
    [
        pa.field("survivor", pa.int64()),
        pa.field("gid", pa.int64()),
        pa.field("url", pa.string()),
        pa.field("subreddits", pa.list_(pa.string())),
        pa.field("submission_ids", pa.list_(pa.string())),
    ]
)
_EDGE_CHUNK = 16_384  # candidate pairs verified at once (2 x 16k x 512 B of signatures)

Executor = Callable[..., list[Any]]


@dataclass(frozen=True)
class Shard:
    """One cleaned input shard: its index, path, first global id and row count."""

    index: int
    path: str
    offset: int
    rows: int


@dataclass(frozen=True)
class Layout:
    """File names under the stage's work folder."""

    root: Path

    def sig(self, s: int) -> Path:
        return self.root / "sig" / f"sig-{s:05d}.npy"

    def meta(self, s: int) -> Path:
        return self.root / "sig" / f"meta-{s:05d}.npy"

    def bucket(self, p: int, kind: str, s: int) -> Path:
        return self.root / "buckets" / f"{p:05d}" / f"{kind}-{s:05d}.bin"

    def edges(self, p: int) -> Path:
        return self.root / "edges" / f"edges-{p:05d}.npz"

    def assign(self, s: int) -> Path:
        return self.root / "assign" / f"assign-{s:05d}.npz"

    def prov(self, to: int, frm: int) -> Path:
        return self.root / "prov" / f"to-{to:05d}" / f"from-{frm:05d}.parquet"

    def dropped(self, s: int) -> Path:
        return self.root / "dropped" / f"dropped-{s:05d}.parquet"


def local_executor(fn: Callable[..., Any], items: Sequence[Any], *, desc: str, **kw: Any):
    """Run `fn(item, **kw)` for each item in this process (the in-process execution)."""
    out = []
    with Progress(len(items), desc, "task") as bar:
        for item in items:
            out.append(fn(item, **kw))
            bar.update()
    return out


def _doc_key(canonical_url: str | None) -> int:
    return int(document_id(canonical_url or ""), 16)


def _gid_shards(gids: np.ndarray, shards: Sequence[Shard]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.array([s.offset for s in shards], dtype=np.int64)
    pos = np.searchsorted(offsets, gids, side="right") - 1
    return pos, gids - offsets[pos]


class _Rows:
    """Random access by gid to rows of per-shard .npy files (signatures or metadata).

    Rows are read with positioned reads, not a memory map, so a process holds only the
    rows it asked for (a memory map would count every touched page of the file).
    """

    def __init__(self, shards: Sequence[Shard], path_of: Callable[[int], Path]):
        self.shards, self.path_of = list(shards), path_of
        self._files: dict[int, tuple[Any, int, np.dtype, tuple[int, ...]]] = {}

    def _open(self, pos: int) -> tuple[Any, int, np.dtype, tuple[int, ...]]:
        if pos not in self._files:
            fh = open(self.path_of(self.shards[pos].index), "rb")  # noqa: SIM115
            version = np.lib.format.read_magic(fh)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read(fh)
            self._files[pos] = (fh, fh.tell(), dtype, tuple(shape[1:]))
        return self._files[pos]

    def take(self, gids: np.ndarray) -> np.ndarray:
        pos, rows = _gid_shards(gids, self.shards)
        out = None
        for p in np.unique(pos):
            sel = np.flatnonzero(pos == p)
            fh, start, dtype, inner = self._open(int(p))
            if out is None:
                out = np.empty((len(gids), *inner), dtype=dtype)
            width = dtype.itemsize * int(np.prod(inner, dtype=np.int64))
            wanted, back = np.unique(rows[sel], return_inverse=True)
            buf = bytearray(width * len(wanted))
            for k, row in enumerate(wanted.tolist()):
                buf[k * width : (k + 1) * width] = os.pread(fh.fileno(), width, start + row * width)
            got = np.frombuffer(buf, dtype=dtype).reshape((len(wanted), *inner))
            out[sel] = got[back]
        return out if out is not None else np.empty(0)

    def close(self) -> None:
        for fh, *_ in self._files.values():
            fh.close()
        self._files.clear()


# ------------------------------------------------------------------ 1. signatures
def signature_task(
    shard: Shard, *, work: str, params: MinHashParams, num_buckets: int, batch_size: int
) -> dict[str, int]:
    """Signatures, metadata and bucket records of one cleaned shard.

    Every output is streamed to its file batch by batch, so the task holds one batch of
    documents, never the shard; the signature file is renamed into place last.
    """
    layout = Layout(Path(work))
    no_shingles = row = 0
    with contextlib.ExitStack() as stack:

        def open_out(path: Path) -> Any:
            return stack.enter_context(open(stack.enter_context(atomic_path(path)), "wb"))

        sig_out = open_out(layout.sig(shard.index))  # entered first: renamed last
        _npy_header(sig_out, np.dtype("<u4"), (shard.rows, params.num_perm))
        meta_out = open_out(layout.meta(shard.index))
        _npy_header(meta_out, META_DTYPE, (shard.rows,))
        near = [open_out(layout.bucket(p, "near", shard.index)) for p in range(num_buckets)]
        exact = [open_out(layout.bucket(p, "exact", shard.index)) for p in range(num_buckets)]
        columns = ["text", "score", "first_created_utc", "canonical_url"]
        has_source = "source" in pq.read_schema(shard.path).names  # older cleaned files: live
        for batch in _batches(shard.path, batch_size, columns + ["source"] * has_source):
            n = batch.num_rows
            texts = batch.column("text")
            sig, has = text_signatures(texts, params)
            sig_out.write(sig.astype("<u4", copy=False).tobytes())
            gids = np.arange(shard.offset + row, shard.offset + row + n, dtype=np.int64)
            keys = band_keys(sig[has], params)
            _route(near, keys.ravel(), np.repeat(gids[has], params.bands))
            digests = [xxhash.xxh3_128_intdigest(t) for t in _as_bytes(exact_key_texts(texts))]
            lo = np.array([d & (2**64 - 1) for d in digests], dtype=np.uint64)
            hi = np.array([d >> 64 for d in digests], dtype=np.uint64)
            _route(exact, lo, gids)
            meta = np.zeros(n, dtype=META_DTYPE)
            meta["score"] = batch.column("score").fill_null(0).to_numpy()
            meta["created"] = batch.column("first_created_utc").fill_null(2**62).to_numpy()
            meta["key"] = [_doc_key(u) for u in batch.column("canonical_url").to_pylist()]
            meta["ex_lo"], meta["ex_hi"] = lo, hi
            if has_source:
                sources = batch.column("source").to_pylist()
                meta["live"] = [s is None or s == "live" for s in sources]
            else:
                meta["live"] = 1
            meta_out.write(meta.tobytes())
            no_shingles += int(n - has.sum())
            row += n
            count(n, "documents")  # progress: documents signed
        if row != shard.rows:
            raise ValueError(f"{shard.path}: expected {shard.rows} rows, read {row}")
    return {"docs": shard.rows, "no_shingles": no_shingles}


def _batches(path: str, batch_size: int, columns: list[str] | None = None):
    """Record batches of a parquet file, streamed: without pre-buffering and with a
    bounded read buffer, memory stays flat whatever the file's row group size (by
    default Arrow buffers whole column chunks, which grows with the row group)."""
    reader = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    yield from reader.iter_batches(batch_size, columns=columns)


def _npy_header(fh: Any, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """Start a .npy file whose rows are written after it (`np.load` reads it back)."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
              "shape": shape}  # fmt: skip
    np.lib.format.write_array_header_2_0(fh, header)


def _route(files: list[Any], keys: np.ndarray, gids: np.ndarray) -> None:
    """Append (key, gid) records to the bucket partition `key % len(files)`."""
    which = keys % np.uint64(len(files))
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(len(files) + 1))
    records = np.stack([keys[order], gids[order].astype(np.uint64)], axis=1).astype("<u8")
    for p in range(len(files)):
        if bounds[p + 1] > bounds[p]:
            files[p].write(records[bounds[p] : bounds[p + 1]].tobytes())


def _records(chunks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(chunks) if chunks else np.zeros((0, 2), dtype=np.uint64)


# ------------------------------------------------------------------------ 2. edges
def edge_task(
    partition: int, *, work: str, shards: Sequence[Shard], params: MinHashParams
) -> dict[str, int]:
    """Verified near and exact edges of one bucket partition."""
    layout = Layout(Path(work))
    out = layout.edges(partition)
    folder = layout.bucket(partition, "near", 0).parent

    def load(kind: str) -> np.ndarray:
        files = sorted(folder.glob(f"{kind}-*.bin"))
        return _records([np.fromfile(f, dtype="<u8").reshape(-1, 2) for f in files])

    near_rec = load("near")
    pairs = bucket_pairs(near_rec[:, 0], near_rec[:, 1].astype(np.int64))
    del near_rec
    sigs = _Rows(shards, layout.sig)
    kept = [np.zeros((0, 2), dtype=np.int64)]
    for c in range(0, len(pairs), _EDGE_CHUNK):
        chunk = pairs[c : c + _EDGE_CHUNK]
        est = estimated_jaccard(sigs.take(chunk[:, 0]), sigs.take(chunk[:, 1]))
        kept.append(chunk[est >= params.threshold])
    exact_rec = load("exact")
    exact_pairs = bucket_pairs(exact_rec[:, 0], exact_rec[:, 1].astype(np.int64))
    if len(exact_pairs):
        meta = _Rows(shards, layout.meta)
        same = meta.take(exact_pairs[:, 0])["ex_hi"] == meta.take(exact_pairs[:, 1])["ex_hi"]
        meta.close()
        exact_pairs = exact_pairs[same]
    sigs.close()
    near = np.concatenate(kept)
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, near=near, exact=exact_pairs, candidates=np.int64(len(pairs)))
    return {"candidates": len(pairs), "near": len(near)}


# ---------------------------------------------------------------------- 3. cluster
def cluster(
    work: str, shards: Sequence[Shard], num_buckets: int, prefer_live: bool = True
) -> dict[str, Any]:
    """Union-find over every edge; survivors (a live copy first when `prefer_live`: of one
    content fetched live and from an archive, only the live one is kept); one assignment
    file per shard."""
    layout = Layout(Path(work))
    everything, exact_only = UnionFind(), UnionFind()
    for p in range(num_buckets):
        with np.load(layout.edges(p)) as z:
            everything.union_edges(z["near"])
            everything.union_edges(z["exact"])
            exact_only.union_edges(z["exact"])
    ids, roots = everything.components()
    meta = np.zeros(0, META_DTYPE)
    if len(ids):
        reader = _Rows(shards, layout.meta)
        meta = reader.take(ids)
        reader.close()
    live = meta["live"] if prefer_live else None
    survivor = choose_survivors(ids, roots, meta["score"], meta["created"], meta["key"], live)
    sizes = Counter(roots.tolist())
    size = np.array([sizes[r] for r in roots.tolist()], dtype=np.int64)
    reason = np.full(len(ids), _NEAR, dtype=np.int8)
    reason[ids == survivor] = _KEEP
    exact_root = {int(i): r for i, r in zip(*exact_only.components(), strict=True)}
    for k in np.flatnonzero(reason == _NEAR):
        a, b = int(ids[k]), int(survivor[k])
        if a in exact_root and exact_root[a] == exact_root.get(b):
            reason[k] = _EXACT
    survivor_key = dict(zip(ids.tolist(), meta["key"].tolist(), strict=True))
    merged_into = np.array([survivor_key[s] for s in survivor.tolist()], dtype=np.uint64)
    pos, rows = _gid_shards(ids, shards)
    for p, shard in enumerate(shards):
        sel = pos == p
        with atomic_path(layout.assign(shard.index)) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                row=rows[sel],
                gid=ids[sel],
                survivor=survivor[sel],
                reason=reason[sel],
                size=size[sel],
                merged_into=merged_into[sel],
            )
    histogram = Counter(sizes.values())
    return {
        "exact_duplicates": int((reason == _EXACT).sum()),
        "near_duplicates": int((reason == _NEAR).sum()),
        "clusters": len(sizes),
        "cluster_size_histogram": {str(k): v for k, v in sorted(histogram.items())},
    }


# ------------------------------------------------------------------ 4. provenance
def provenance_task(
    shard: Shard, *, work: str, shards: Sequence[Shard], batch_size: int = 1024
) -> int:
    """Send each duplicate's URL and provenance to its survivor's shard; list the dropped."""
    layout = Layout(Path(work))
    done = layout.dropped(shard.index)
    with np.load(layout.assign(shard.index)) as z:
        a = {k: z[k] for k in z.files}
    table = _rows_of(shard.path, a["row"], batch_size)
    dest, _ = _gid_shards(a["survivor"], shards)
    for p, target in enumerate(shards):
        sel = dest == p
        if not sel.any():
            continue
        rows = table.take(pa.array(np.flatnonzero(sel)))
        prov = pa.table(
            {
                "survivor": pa.array(a["survivor"][sel], pa.int64()),
                "gid": pa.array(a["gid"][sel], pa.int64()),
                "url": rows.column("url"),
                "subreddits": rows.column("subreddits"),
                "submission_ids": rows.column("submission_ids"),
            },
            schema=_PROV_SCHEMA,
        )
        write_parquet_atomic(layout.prov(target.index, shard.index), prov)
    drop = a["reason"] != _KEEP
    if drop.any():
        rows = table.take(pa.array(np.flatnonzero(drop)))
        dropped = pa.table(
            {
                "url": rows.column("url"),
                "canonical_url": rows.column("canonical_url"),
                "reason": [_REASONS[int(r)] for r in a["reason"][drop]],
                "merged_into": [f"{int(k):016x}" for k in a["merged_into"][drop]],
            },
            schema=DROPPED_SCHEMA,
        )
    else:
        dropped = DROPPED_SCHEMA.empty_table()
    write_parquet_atomic(done, dropped)
    return dropped.num_rows


def _rows_of(path: str, rows: np.ndarray, batch_size: int) -> pa.Table:
    """The provenance columns of `rows` (sorted) of a parquet file, read batch by batch so
    only those rows are held."""
    columns = ["url", "canonical_url", "subreddits", "submission_ids"]
    parts, start = [], 0
    if len(rows):
        for batch in _batches(path, batch_size, columns):
            lo, hi = np.searchsorted(rows, [start, start + batch.num_rows])
            if hi > lo:
                parts.append(pa.Table.from_batches([batch.take(pa.array(rows[lo:hi] - start))]))
            start += batch.num_rows
    if not parts:
        return pa.Table.from_batches([], schema=pq.read_schema(path)).select(columns)
    return pa.concat_tables(parts)


# ----------------------------------------------------------------------- 5. write
def _sorted_unique(values: list[Any]) -> list[str]:
    return sorted({v for v in values if v is not None})


def _merged(layout: Layout, shard: Shard) -> dict[int, dict[str, Any]]:
    """survivor gid -> merged urls, subreddits, submission ids and size of its cluster."""
    folder = layout.prov(shard.index, 0).parent
    files = sorted(folder.glob("from-*.parquet")) if folder.is_dir() else []
    if not files:
        return {}
    prov = pa.concat_tables([pq.read_table(f, schema=_PROV_SCHEMA) for f in files])
    prov = prov.sort_by([("survivor", "ascending"), ("gid", "ascending")]).to_pylist()
    merged: dict[int, dict[str, Any]] = {}
    for rec in prov:
        m = merged.setdefault(rec["survivor"], {"members": []})
        m["members"].append(rec)
    for survivor, m in merged.items():
        members = m.pop("members")
        first = [r for r in members if r["gid"] == survivor]
        others = [r for r in members if r["gid"] != survivor]
        m["urls"] = [r["url"] for r in first + others]
        m["subreddits"] = _sorted_unique([s for r in members for s in r["subreddits"] or []])
        m["submission_ids"] = _sorted_unique(
            [s for r in members for s in r["submission_ids"] or []]
        )
        m["cluster_size"] = len(members)
    return merged


def write_task(shard: Shard, *, work: str, out_dir: str, batch_size: int) -> int:
    """documents/part-S.parquet: the shard's survivors with their clusters' provenance."""
    out = Path(out_dir) / f"part-{shard.index:05d}.parquet"
    layout = Layout(Path(work))
    with np.load(layout.assign(shard.index)) as z:
        dropped_rows = set(z["row"][z["reason"] != _KEEP].tolist())
    merged = _merged(layout, shard)
    written = 0
    with (
        atomic_path(out) as tmp,
        pq.ParquetWriter(tmp, DOCUMENTS_SCHEMA, compression="zstd") as writer,
    ):
        row = 0
        for batch in _batches(shard.path, batch_size):
            docs = []
            for i, rec in enumerate(batch.to_pylist()):
                if row + i not in dropped_rows:
                    docs.append(_document(rec, merged.get(shard.offset + row + i)))
            row += batch.num_rows
            count(batch.num_rows, "documents")  # progress: documents written
            if docs:
                writer.write_table(pa.Table.from_pylist(docs, schema=DOCUMENTS_SCHEMA))
                written += len(docs)
    return written


def _document(rec: dict[str, Any], merged: dict[str, Any] | None) -> dict[str, Any]:
    merged = merged or {
        "urls": [rec["url"]],
        "subreddits": _sorted_unique(rec.get("subreddits") or []),
        "submission_ids": _sorted_unique(rec.get("submission_ids") or []),
        "cluster_size": 1,
    }
    return {
        "id": document_id(rec["canonical_url"] or ""),
        "url": rec["url"],
        "title": rec.get("title"),
        "text": rec["text"],
        "score": rec.get("score"),
        "lang": rec.get("lang"),
        "domain": rec.get("domain"),
        "canonical_url": rec["canonical_url"],
        "first_created_utc": rec.get("first_created_utc"),
        "source": rec.get("source") or "live",
        "capture_time": rec.get("capture_time"),
        "archive_url": rec.get("archive_url"),
        **merged,
    }


# ------------------------------------------------------------------------ driver
def run_dedup(
    shards: Sequence[Shard],
    *,
    work: str,
    documents_dir: str,
    dropped_path: str,
    params: MinHashParams,
    num_buckets: int,
    batch_size: int,
    executor: Executor = local_executor,
    prefer_live: bool = True,
) -> dict[str, Any]:
    """The whole stage over `shards`, each step through `executor` (local or Ray)."""
    start = time.perf_counter()
    shards = list(shards)
    sig_stats = executor(
        signature_task,
        shards,
        desc="dedup signatures",
        work=work,
        params=params,
        num_buckets=num_buckets,
        batch_size=batch_size,
    )
    edge_stats = executor(
        edge_task, list(range(num_buckets)), desc="dedup edges", work=work, shards=shards,
        params=params,
    )  # fmt: skip
    stats = cluster(work, shards, num_buckets, prefer_live)
    executor(
        provenance_task, shards, desc="dedup provenance", work=work, shards=shards,
        batch_size=batch_size,
    )  # fmt: skip
    written = executor(
        write_task, shards, desc="dedup write", work=work, out_dir=documents_dir,
        batch_size=batch_size,
    )  # fmt: skip
    _concat_dropped(Layout(Path(work)), shards, Path(dropped_path))
    docs_in = sum(s.rows for s in shards)
    return {
        "shards": len(shards),
        "docs_in": docs_in,
        "no_shingles": sum(max(s["no_shingles"], 0) for s in sig_stats),
        "candidate_pairs": sum(e["candidates"] for e in edge_stats),
        "near_edges": sum(e["near"] for e in edge_stats),
        **stats,
        "docs_out": int(sum(written)),
        "params": str(params),
        "wall_seconds": round(time.perf_counter() - start, 2),
    }


def _concat_dropped(layout: Layout, shards: Sequence[Shard], path: Path) -> None:
    with (
        atomic_path(path) as tmp,
        pq.ParquetWriter(tmp, DROPPED_SCHEMA, compression="zstd") as writer,
    ):
        for shard in shards:
            table = pq.read_table(layout.dropped(shard.index), schema=DROPPED_SCHEMA)
            if table.num_rows:
                writer.write_table(table)


def _as_bytes(arr: pa.Array) -> list[bytes]:
    return arr.cast(pa.binary()).to_pylist()
