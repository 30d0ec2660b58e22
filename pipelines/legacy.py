"""Runs made before the stage engine: their harvest and crawl are adopted, never redone.

Such a run has `_state/<stage>.json` markers with the old fingerprints, crawl's
`_work/crawl/done/part-N.json` records and pages/ with the text extracted during the crawl,
but no fetched/. Rereading the dumps would cost hours and refetching would lose pages whose
sites have gone, so: a harvest whose old marker matches the current config (the old
formula) is recorded as done; a crawl shard whose old record matches (fetch and extract
settings, links bytes: the old formula) gets fetched/part-N and the inline text derived
from pages/part-N and is recorded as done, so extract rebuilds the same pages/ without a
request. Extract, clean, dedup and tokenize then run once more (no network; same bytes).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.engine import StageRun, Task, mark_stage_done
from webtext.config import Config
from webtext.io import (
    StageMarker,
    combine_fingerprint,
    file_digest,
    read_json,
    stat_identity,
    write_parquet_atomic,
)
from webtext.progress import log
from webtext.schemas import PAGES_SCHEMA

_OLD_PACE = {
    "fetch": {
        "concurrency", "per_host_concurrency", "per_host_delay", "backoff_base", "backoff_max",
        "max_retry_after", "max_crawl_delay", "checkpoint_every", "task_cpus",
    },
    "extract": {"worker_max_pages"},
}  # fmt: skip


# the keys of each section when runs were made before the stage engine (commit f199945): a
# key added since, at its default, is left out of the old fingerprints, or adoption would
# stop matching (and the crawl would fetch every page again) the day a config key is added
_OLD_KEYS = {
    "source": {"pushshift", "reddit_api", "strict", "malformed_sample"},
    "reddit_api": {"subreddits", "listing", "time_filter", "limit", "query", "oauth_url",
                   "reddit_url", "search_sort", "client_id", "client_secret"},
    "harvest": {"min_score", "karma", "after", "before", "include_self", "include_nsfw",
                "domain_blocklist", "extension_blocklist", "num_partitions", "spill_partitions"},
    "fetch": {"user_agent", "concurrency", "per_host_concurrency", "per_host_delay",
              "connect_timeout", "read_timeout", "deadline", "max_retries", "backoff_base",
              "backoff_max", "max_retry_after", "max_crawl_delay", "max_bytes", "max_redirects",
              "allow_networks", "resolve", "respect_robots", "optout_agents", "warc",
              "checkpoint_every", "mode", "task_cpus"},
    "archive": {"sources", "target_date", "max_distance_days"},
    "archive_source": {"kind", "cdx_url", "replay_url", "indexes", "data_url", "rate_per_s",
                       "concurrency"},
    "extract": {"extractor", "timeout", "min_chars", "isolation", "ensemble_voters",
                "worker_max_pages", "worker_memory_mb"},
}  # fmt: skip


def old_view(model: Any, data: dict[str, Any], old_keys: set[str]) -> dict[str, Any]:
    """`data` (the JSON dump of `model`) without the keys added since, where they hold their
    default (a new key set otherwise is a setting the old run did not have: no match)."""
    out = {}
    for key, value in data.items():
        if key not in old_keys:
            field = type(model).model_fields[key]
            default = type(model).model_construct(**{key: field.get_default(call_default_factory=True)})
            if json.loads(default.model_dump_json(include={key})).get(key) == value:
                continue
        out[key] = value
    return out


def _old_dump(cfg: Config, section: str, mode_json: bool) -> dict[str, Any]:
    """A section's dump as the old code made it (`mode_json`: model_dump(mode="json"), else
    model_dump_json), keys added since left out."""
    model = getattr(cfg, section)
    data = model.model_dump(mode="json") if mode_json else json.loads(model.model_dump_json())
    data = old_view(model, data, _OLD_KEYS[section])
    if section == "source" and model.reddit_api is not None and data.get("reddit_api"):
        data["reddit_api"] = old_view(model.reddit_api, data["reddit_api"], _OLD_KEYS["reddit_api"])
    if section == "archive":
        data["sources"] = [old_view(s, d, _OLD_KEYS["archive_source"])
                           for s, d in zip(model.sources, data["sources"], strict=True)]  # fmt: skip
    return data


def _old_config_fingerprint(cfg: Config, *sections: str) -> str:
    """`Config.fingerprint(*sections)` as the old code computed it."""
    data = {name: _old_dump(cfg, name, mode_json=False) for name in sections}
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _is_legacy(run: StageRun) -> dict[str, Any] | None:
    marker = StageMarker(run.paths.root, run.stage.name).read()
    return marker if marker and "settings_fingerprint" not in marker else None


def adopt_harvest(run: StageRun, dry: bool = False) -> bool:
    """Whether the old harvest fits the config (and, unless `dry`, record it as done)."""
    from pipelines.harvest import _lists_digest, source_dumps

    marker = _is_legacy(run)
    if marker is None:
        return False
    cfg = run.cfg
    lists = _lists_digest(cfg)
    old = combine_fingerprint(_old_config_fingerprint(cfg, "source", "harvest"),
                              stat_identity(source_dumps(cfg)), *([lists] if lists else []))  # fmt: skip
    if marker.get("fingerprint") != old:
        return False
    if not dry:
        mark_stage_done(run, marker.get("stats", {}))
        log.info("harvest: adopted the links of a run made before the stage engine")
    return True


def _old_crawl_settings(cfg: Config) -> str:
    settings = {
        section: {k: v for k, v in _old_dump(cfg, section, mode_json=True).items()
                  if k not in _OLD_PACE[section]}
        for section in _OLD_PACE
    }  # fmt: skip
    if cfg.fetch.mode == "live":
        settings["fetch"].pop("mode", None)
    else:
        archive = _old_dump(cfg, "archive", mode_json=True)
        for source in archive["sources"]:
            source.pop("rate_per_s", None)
            source.pop("concurrency", None)
        settings["archive"] = archive
    return combine_fingerprint(settings)


def adopt_crawl(run: StageRun, tasks: list[Task], extract_settings: str,
                dry: bool = False) -> set[str]:  # fmt: skip
    """Crawl shards of an old run -> fetched/ + inline text + the engine's done records;
    returns the keys of the tasks adopted (with `dry`, of those that would be)."""
    from webtext.extract.stage import EXTRACTED, INLINE_KEY

    done_dir = run.paths.work / "crawl" / "done"
    if not done_dir.is_dir():
        return set()
    settings = _old_crawl_settings(run.cfg)
    adopted: set[str] = set()
    for task in tasks:
        old = read_json(done_dir / f"{task.key}.json")
        pages = run.paths.pages / f"{task.key}.parquet"
        fetched = Path(task.outputs[0])
        if old is None or fetched.exists() or not pages.exists():
            continue
        if old.get("fingerprint") != combine_fingerprint(settings, file_digest(task.inputs[0])):
            continue  # other settings or links: the old code would have crawled it again
        adopted.add(task.key)
        if dry:
            continue
        table = pq.read_table(pages).cast(PAGES_SCHEMA)
        inline = table.select(list(EXTRACTED))
        inline = inline.replace_schema_metadata({INLINE_KEY: extract_settings.encode()})
        write_parquet_atomic(run.paths.inline_extract / pages.name, inline)
        status = table["fetch_status"]
        was_fetched = pc.is_in(status, pa.array(["ok", "extract_empty"]))
        empty = pc.equal(status, "extract_empty")
        nulls = pa.nulls(table.num_rows, pa.string())
        for name, value in (
            ("fetch_status", pc.if_else(was_fetched, "ok", status)),
            ("error", pc.if_else(empty, nulls, table["error"])),  # the extraction's
            ("title", nulls), ("text", nulls), ("extractor", nulls),
        ):  # fmt: skip
            at = table.schema.get_field_index(name)
            table = table.set_column(at, table.schema.field(at), value)
        write_parquet_atomic(fetched, table)
        run.record("crawl", task, {"shard": task.payload["index"], "urls": table.num_rows,
                                   "fetched": 0, "requests": 0, "cpu_s": 0.0, "adopted": True})  # fmt: skip
        (done_dir / f"{task.key}.json").unlink()
    if adopted and not dry:
        log.info("crawl: adopted %d shard(s) of a run made before the stage engine", len(adopted))
    return adopted
