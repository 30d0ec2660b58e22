"""`webtext dedup`: cleaned/ -> documents/ (exact and MinHash-LSH near duplicates merged).

`dedup.execution` picks the in-process execution (`local`), Ray (`ray`), or by corpus size
(`auto`: Ray from `dedup.ray_min_documents` documents). Both run the same task functions of
`dedup.stage` and give the same bytes. Work files live in `<run_dir>/dedup/work-<fp>/`
(the fingerprint of the config the output depends on), so an interrupted run resumes
where it stopped and a changed config never mixes with old work; after success only the
signatures (`sig/sig-N.npy`, datasketch-compatible uint32 [docs, num_perm]) are kept.
"""

from __future__ import annotations

import re
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from dedup.minhash import MinHashParams, optimal_bands
from dedup.stage import Shard, local_executor, run_dedup
from webtext.config import Config, ConfigError, DedupConfig
from webtext.io import StageMarker, clean_temp_files, combine_fingerprint, file_digest
from webtext.layout import migrate_layout
from webtext.paths import RunPaths
from webtext.progress import log

STAGE = "dedup"
_PART = re.compile(r"part-(\d+)\.parquet")
# keys that change how dedup runs, not what it outputs
_EXECUTION_KEYS = {"execution", "ray_min_documents", "batch_size"}


@lru_cache(maxsize=32)
def _bands(threshold: float, num_perm: int, fn_weight: float) -> tuple[int, int]:
    return optimal_bands(threshold, num_perm, 1 - fn_weight, fn_weight)


def minhash_params(cfg: DedupConfig) -> MinHashParams:
    """The seeded MinHash/LSH parameters of a dedup config (bands x rows chosen if unset)."""
    bands, rows = cfg.bands, cfg.rows
    if bands is None or rows is None:
        best_b, best_r = _bands(cfg.threshold, cfg.num_perm, cfg.false_negative_weight)
        if bands is None and rows is None:
            bands, rows = best_b, best_r
        elif bands is None:
            bands = max(1, cfg.num_perm // rows)
        else:
            rows = max(1, cfg.num_perm // bands)
    return MinHashParams(
        num_perm=cfg.num_perm,
        seed=cfg.seed,
        shingle_size=cfg.shingle_size,
        threshold=cfg.threshold,
        bands=bands,
        rows=rows,
        scheme=cfg.scheme,
    )


def fingerprint(cfg: Config) -> str:
    """What the output depends on: the dedup algorithm's config and the bytes of every
    cleaned/part-N (which carry the clean config and their pages' digests)."""
    algo = {k: v for k, v in cfg.dedup.model_dump().items() if k not in _EXECUTION_KEYS}
    paths = RunPaths.of(cfg.run_dir)
    inputs = sorted(paths.cleaned.glob("part-*.parquet")) if paths.cleaned.is_dir() else []
    digests = [[p.name, file_digest(p)] for p in inputs]
    from webtext.takedown import TakedownError, lists_digest

    try:
        lists = lists_digest(cfg.optout.lists)
    except TakedownError as exc:
        raise ConfigError(str(exc)) from None
    return combine_fingerprint(cfg.fingerprint("overlap"), algo, digests, *([lists] if lists else []))


def input_shards(paths: RunPaths) -> list[Shard]:
    """Every cleaned/part-N.parquet (kept pages) by N, with global row offsets."""
    if not paths.cleaned.is_dir():
        raise FileNotFoundError(f"{paths.cleaned} does not exist: run `webtext clean` first")
    found = []
    for path in paths.cleaned.glob("part-*.parquet"):
        match = _PART.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    shards, offset = [], 0
    for index, path in sorted(found):
        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except Exception as exc:  # noqa: BLE001 - name the file, keep the cause
            raise ValueError(f"{path}: not a readable parquet file: {exc}") from exc
        shards.append(Shard(index, str(path), offset, rows))
        offset += rows
    return shards


def _takedown(cfg: Config, paths: RunPaths) -> dict[str, Any]:
    """`optout.lists` again, and forget.log: such pages never stay in documents/ (a list
    may have grown since harvest; a forgotten page must not come back with a re-dedup).
    List removals join dedup/dropped.parquet with reason `optout:list`."""
    import pyarrow as pa

    from dedup.stage import DROPPED_SCHEMA
    from webtext.fetch.optout import OPTOUT_LIST
    from webtext.forget import forgotten_takedown, remove_documents
    from webtext.io import write_parquet_atomic
    from webtext.takedown import TakedownError, load_lists

    try:
        lists = load_lists(cfg.optout.lists)
    except TakedownError as exc:
        raise ConfigError(str(exc)) from None
    listed = remove_documents(paths.documents, [lists])
    forgotten = remove_documents(paths.documents, [forgotten_takedown(cfg.run_dir)])
    if listed.documents or listed.merged_urls:
        rows = [
            {"url": d["url"], "canonical_url": d["canonical_url"], "reason": OPTOUT_LIST,
             "merged_into": None} for d in listed.documents
        ] + [
            {"url": m["url"], "canonical_url": m["canonical_url"], "reason": OPTOUT_LIST,
             "merged_into": None} for m in listed.merged_urls
        ]  # fmt: skip
        dropped_path = paths.dedup_work / "dropped.parquet"
        old = pq.read_table(dropped_path, schema=DROPPED_SCHEMA)
        keys = {r["canonical_url"] for r in rows}
        old = old.filter(pa.array([k not in keys for k in old["canonical_url"].to_pylist()]))
        table = pa.concat_tables([old, pa.Table.from_pylist(rows, schema=DROPPED_SCHEMA)])
        write_parquet_atomic(dropped_path, table.sort_by("canonical_url"))
    return {
        "optout_list": len(listed.documents),
        "optout_list_merged_urls": len(listed.merged_urls),
        "forgotten_reapplied": len(forgotten.documents),
    }


def _use_ray(cfg: Config, docs: int) -> bool:
    if cfg.dedup.execution == "auto":
        return docs >= cfg.dedup.ray_min_documents
    return cfg.dedup.execution == "ray"


def run(cfg: Config) -> dict[str, Any]:
    paths = RunPaths.of(Path(cfg.run_dir).resolve())  # absolute: Ray workers have other cwds
    migrate_layout(paths)  # a run written before the layout change
    fp = fingerprint(cfg)
    marker = StageMarker(cfg.run_dir, STAGE)
    if marker.is_done(fp):
        log.info("dedup: already done (%s)", marker.path)
        return (marker.read() or {}).get("stats", {})
    shards = input_shards(paths)
    params = minhash_params(cfg.dedup)
    work = paths.dedup_work / f"work-{fp}"
    if not work.is_dir():  # a fresh start: outputs of any other config are stale
        marker.clear()
        for old in paths.dedup_work.glob("work-*"):
            shutil.rmtree(old, ignore_errors=True)
        for old in paths.documents.glob("part-*.parquet"):
            old.unlink()
        work.mkdir(parents=True)
    paths.documents.mkdir(parents=True, exist_ok=True)
    clean_temp_files(paths.documents)
    docs = sum(s.rows for s in shards)
    use_ray = _use_ray(cfg, docs)
    kwargs = dict(
        work=str(work),
        documents_dir=str(paths.documents),
        dropped_path=str(paths.dedup_work / "dropped.parquet"),
        params=params,
        num_buckets=cfg.dedup.num_buckets,
        batch_size=cfg.dedup.batch_size,
        prefer_live=cfg.dedup.prefer_live,
    )
    log.info("dedup: %d documents in %d shards, %s, %s", docs, len(shards), params,
             "ray" if use_ray else "in-process")  # fmt: skip
    if use_ray:
        from pipelines._ray import map_shards, ray_session

        with ray_session(cfg.ray):
            stats = run_dedup(shards, executor=map_shards, **kwargs)
    else:
        stats = run_dedup(shards, executor=local_executor, **kwargs)
    stats["execution"] = "ray" if use_ray else "local"
    stats.update(_takedown(cfg, paths))
    for name in ("buckets", "edges", "assign", "prov", "dropped"):
        shutil.rmtree(work / name, ignore_errors=True)
    marker.mark_done(fp, stats)
    log.info(
        "dedup: %d documents in, %d exact and %d near duplicates in %d clusters, %d out",
        stats["docs_in"], stats["exact_duplicates"], stats["near_duplicates"],
        stats["clusters"], stats["docs_out"],
    )  # fmt: skip
    return stats
