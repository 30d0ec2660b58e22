"""`webtext harvest`: Reddit submissions -> one row per canonical link in links/.

1. map: one Ray task per dump file (and the praw source, in the driver) filters submissions
   and spills link rows into hash-partitioned files under `_work/harvest/<fingerprint>/`;
2. reduce: one Ray task per links file de-duplicates canonical URLs bucket by bucket,
   applies `harvest.karma` and writes `links/part-NNNNN.parquet` (every index, even empty),
   and `optout/part-NNNNN.parquet` for the links a takedown list kept from the crawl;
3. `stats/links.json` and the stage marker.

Finished map and reduce outputs are reused on a rerun; a finished stage returns at once.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from webtext.config import Config, ConfigError
from webtext.io import (
    StageMarker,
    clean_temp_files,
    combine_fingerprint,
    read_json,
    shard_name,
    stat_identity,
    write_json_atomic,
)
from webtext.layout import migrate_layout
from webtext.paths import RunPaths
from webtext.progress import log

STAGE = "harvest"


def fingerprint(cfg: Config, dumps: list[Path]) -> str:
    """The config and the dumps as they are on disk (path, size, mtime: too big to hash)."""
    from webtext.takedown import TakedownError, lists_digest

    try:
        lists = lists_digest(cfg.optout.lists)
    except TakedownError as exc:
        raise ConfigError(str(exc)) from None
    return combine_fingerprint(
        cfg.fingerprint("source", "harvest"), stat_identity(dumps), *([lists] if lists else [])
    )


def source_dumps(cfg: Config) -> list[Path]:
    """The dump files `source.pushshift` names; a bad pattern is a ConfigError."""
    from webtext.reddit.dumps import expand_sources

    try:
        return expand_sources(cfg.source.pushshift)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def _harvest_api(cfg: Config, spill_root: Path) -> dict[str, Any]:
    """The praw source, in the driver (one client, one rate-limit budget)."""
    from webtext.reddit.api import iter_api_records
    from webtext.reddit.dumps import ReadReport, Submission
    from webtext.reddit.spill import spill_records

    api = cfg.source.reddit_api
    key = hashlib.blake2b(api.model_dump_json().encode(), digest_size=4).hexdigest()
    final_dir = spill_root / f"reddit_api-{key}"
    done = read_json(final_dir / "stats.json")
    if done is not None:
        return {**done, "skipped": True, "spill_dir": str(final_dir)}
    report = ReadReport("reddit_api", strict=cfg.source.strict)
    log.info(
        "harvest: reading r/%s (%s) from the Reddit API", "+".join(api.subreddits), api.listing
    )

    def blocks(size: int = 1000):
        numbers: list[int] = []
        subs: list[Submission] = []
        for i, record in enumerate(iter_api_records(api), 1):
            report.lines += 1
            numbers.append(i)
            subs.append(Submission.from_dict(record))
            if len(subs) == size:
                yield numbers, subs
                numbers, subs = [], []
        yield numbers, subs

    stats = spill_records(blocks(), report, final_dir, cfg.harvest)
    return {**stats, "skipped": False, "spill_dir": str(final_dir)}


def _map_dumps(cfg: Config, dumps: list[Path], spill_root: Path) -> list[dict[str, Any]]:
    from pipelines._ray import map_shards
    from webtext.reddit.dumps import MalformedInputError
    from webtext.reddit.spill import spill_dump

    try:
        return map_shards(
            spill_dump,
            [str(p) for p in dumps],
            desc="harvest: read dumps",
            unit="dump",
            records=("bytes", sum(p.stat().st_size for p in dumps)),
            spill_root=str(spill_root),
            cfg=cfg.harvest,
            strict=cfg.source.strict,
            sample_size=cfg.source.malformed_sample,
        )
    except MalformedInputError as exc:  # Ray re-raises the task's error as its own subclass
        message = str(exc).strip().splitlines()[-1]
        if "MalformedInputError: " in message:
            message = message.split("MalformedInputError: ", 1)[1]
        raise MalformedInputError(message) from None


def _remove_stale_links(folder: Path, num_partitions: int) -> None:
    """Drop part files beyond num_partitions (left by a run with more partitions)."""
    for path in folder.glob("part-*.parquet") if folder.is_dir() else []:
        try:
            index = int(path.stem.split("-")[1])
        except (IndexError, ValueError):
            continue
        if index >= num_partitions:
            path.unlink()


def _drop_empty_dir(folder: Path) -> None:
    """optout/ with no file left goes: an empty folder is no dataset (load_dataset fails)."""
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def summarize(maps: list[dict[str, Any]], reduces: list[dict[str, Any]]) -> dict[str, Any]:
    dropped: Counter[str] = Counter()
    malformed_reasons: Counter[str] = Counter()
    samples: list[str] = []
    for m in maps:
        dropped.update(m["dropped"])
        malformed_reasons.update(m["malformed_reasons"])
        samples.extend(m["malformed_sample"])
    for r in reduces:
        dropped["duplicate_submission"] += r["duplicate_submission"]
        dropped["low_karma"] += r["low_karma"]
        dropped["optout:list"] += r.get("optout_list", 0)
    dropped = Counter({k: v for k, v in dropped.items() if v})
    return {
        "sources": len(maps),
        "records_read": sum(m["records"] for m in maps),
        "malformed": sum(m["malformed"] for m in maps),
        "malformed_reasons": dict(sorted(malformed_reasons.items())),
        "malformed_sample": samples,  # at most source.malformed_sample per source
        "truncated_files": [m["source"] for m in maps if m["truncated"]],
        "dropped": dict(sorted(dropped.items())),
        "submissions_kept": sum(m["submissions_kept"] for m in maps),
        "urls_kept": sum(r["urls_kept"] for r in reduces),
        "num_partitions": len(reduces),
        "urls_per_partition": [r["urls_kept"] for r in reduces],
        "per_source": {
            m["source"]: {
                "records": m["records"],
                "malformed": m["malformed"],
                "kept": m["submissions_kept"],
            }
            for m in maps
        },
    }


def run(cfg: Config) -> dict[str, Any]:
    from pipelines._ray import map_shards, ray_session
    from webtext.reddit.spill import reduce_partition

    paths = RunPaths.of(cfg.run_dir)
    migrate_layout(paths)  # a run written before the layout change
    if not cfg.source.pushshift and cfg.source.reddit_api is None:
        raise ConfigError("harvest needs a source: set source.pushshift and/or source.reddit_api")
    dumps = source_dumps(cfg)
    fp = fingerprint(cfg, dumps)
    marker = StageMarker(cfg.run_dir, STAGE)
    if marker.is_done(fp):
        log.info("harvest: already done (fingerprint %s), %s", fp, paths.links)
        return marker.read()["stats"]
    from webtext.takedown import TakedownError, load_lists

    try:
        load_lists(cfg.optout.lists)  # a bad list is an error before any work
    except TakedownError as exc:
        raise ConfigError(str(exc)) from None
    work = paths.work / STAGE / fp
    spill_root, done_dir = work / "spill", work / "reduce"
    spill_root.mkdir(parents=True, exist_ok=True)
    paths.links.mkdir(parents=True, exist_ok=True)
    clean_temp_files(paths.links)
    for folder in (paths.links, paths.optout):
        _remove_stale_links(folder, cfg.harvest.num_partitions)
    if paths.optout.is_dir():
        clean_temp_files(paths.optout)
    log.info(
        "harvest: %d dump file(s)%s -> %d links file(s)",
        len(dumps),
        " + Reddit API" if cfg.source.reddit_api else "",
        cfg.harvest.num_partitions,
    )

    maps: list[dict[str, Any]] = []
    if cfg.source.reddit_api is not None:
        maps.append(_harvest_api(cfg, spill_root))
    with ray_session(cfg.ray):
        maps += _map_dumps(cfg, dumps, spill_root)
        reduces = map_shards(
            reduce_partition,
            list(range(cfg.harvest.num_partitions)),
            desc="harvest: dedup links",
            unit="partition",
            spill_dirs=[m["spill_dir"] for m in maps],
            links_dir=str(paths.links),
            optout_dir=str(paths.optout),
            done_dir=str(done_dir),
            cfg=cfg.harvest,
            takedown_lists=list(cfg.optout.lists),
        )
    stats = summarize(maps, reduces)
    stats["work_skipped"] = {
        "sources": sum(bool(m.get("skipped")) for m in maps),
        "partitions": sum(bool(r.get("skipped")) for r in reduces),
    }
    rss = [m.get("peak_rss_mb", 0) for m in maps] + [r.get("peak_rss_mb", 0) for r in reduces]
    stats["peak_task_rss_mb"] = round(max(rss, default=0.0), 1)
    stats["task_cpu_s"] = round(sum(x.get("cpu_s", 0.0) for x in maps + reduces), 2)
    missing = [
        i for i in range(cfg.harvest.num_partitions) if not (paths.links / shard_name(i)).exists()
    ]
    if missing:  # pragma: no cover - reduce_partition always writes its file
        raise RuntimeError(f"harvest: links files missing for partitions {missing}")
    _drop_empty_dir(paths.optout)
    write_json_atomic(paths.links_stats, stats)
    marker.mark_done(fp, stats)
    log.info(
        "harvest: %d records, %d malformed, %d submissions kept -> %d URLs; dropped %s",
        stats["records_read"],
        stats["malformed"],
        stats["submissions_kept"],
        stats["urls_kept"],
        json.dumps(stats["dropped"], sort_keys=True),
    )
    return stats
