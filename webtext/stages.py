"""The Python API: every stage, the whole run, and the exports, callable beside the CLI.

    import webtext

    cfg = webtext.load_config("configs/mini-crawl.yaml", ["run_dir=runs/x", "ray.num_cpus=4"])
    stats = webtext.run(cfg)                      # all stages, skipping finished work
    webtext.stages.clean(cfg)                     # one stage (same as `webtext clean`)
    webtext.export(cfg.run_dir, "packed", "out/packed", seq_len=1024)

A config argument is a `Config` (from `load_config` / `build_config`), a dict of sections, or
the path of a YAML file. Stage functions return the stage's stats dict, as the CLI prints it.
Stages that use Ray start a local Ray for the call unless `ray.address` names a cluster (or
Ray is already initialised in the process, which they then use). Each stage runs the driver
the installed package registers for it (`webtext.registry`), as the CLI does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from webtext.config import Config, ConfigError, build_config, load_config
from webtext.registry import driver

STAGE_NAMES = ("harvest", "crawl", "extract", "clean", "dedup", "tokenize", "train")


def as_config(config: Config | dict[str, Any] | str | Path) -> Config:
    """A validated Config from a Config, a dict of sections or a YAML path."""
    if isinstance(config, Config):
        return config
    if isinstance(config, dict):
        return build_config(config)
    if isinstance(config, (str, Path)):
        return load_config(config)
    raise ConfigError(f"config must be a Config, a dict or a YAML path, not {type(config)}")


def run_stage(name: str, config: Config | dict[str, Any] | str | Path) -> dict[str, Any]:
    """Run one stage (or "run" for all of them) as its CLI command does."""
    if name not in (*STAGE_NAMES, "run", "plan"):
        raise ConfigError(f"unknown stage {name!r}; one of {', '.join(STAGE_NAMES)}, run or plan")
    cfg = as_config(config)
    if name == "train":
        from webtext.train import require_torch

        require_torch()
    return driver(name)(cfg)


def run(config: Config | dict[str, Any] | str | Path) -> dict[str, Any]:
    """Every stage in order (train too when the config has a train section), then the
    ledger, stats.json and report.html; finished work is skipped. Returns stats.json."""
    return run_stage("run", config)


def plan(config: Config | dict[str, Any] | str | Path) -> dict[str, Any]:
    """What `run` would do now and why (`webtext plan`): per stage, tasks done / to do /
    stale and the setting keys or inputs that changed; touches nothing."""
    return run_stage("plan", config)


def harvest(config: Config | dict[str, Any] | str | Path) -> dict[str, Any]:
    """Reddit submissions -> links/."""
    return run_stage("harvest", config)


def crawl(config: Config | dict[str, Any] | str | Path) -> dict[str, Any]:
    """links/ -> pages/ and warc/."""
    return run_stage("crawl", config)


def extract(config: Config | dict[str, Any] | str | Path) -> dict[str, Any]:
    """Re-run main-text extraction from warc/ (no network)."""
    return run_stage("extract", config)


def clean(config: Config | dict[str, Any] | str | Path) -> dict[str, Any]:
    """pages/ -> cleaned/."""
    return run_stage("clean", config)


def dedup(config: Config | dict[str, Any] | str | Path) -> dict[str, Any]:
    """cleaned/ -> documents/."""
    return run_stage("dedup", config)


def tokenize(config: Config | dict[str, Any] | str | Path) -> dict[str, Any]:
    """documents/ -> shards/."""
    return run_stage("tokenize", config)


def train(config: Config | dict[str, Any] | str | Path) -> dict[str, Any]:
    """shards/ -> train/ (needs the train extra)."""
    return run_stage("train", config)


def export(
    run_dir: str | Path,
    format: str,
    out: str | Path,
    *,
    overwrite: bool = False,
    seq_len: int | None = None,
    shard_tokens: int = 100_000_000,
) -> dict[str, int]:
    """`webtext export` from Python: nanogpt, llmc, packed (needs seq_len) or jsonl.
    Returns tokens (documents for jsonl) per file written."""
    import argparse

    from webtext.outdir import fresh_output_dir, run_inputs
    from webtext.tokenize.cli_export import FORMATS, export_into

    if format not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if format == "packed" and seq_len is None:
        raise ConfigError("format packed needs seq_len")
    args = argparse.Namespace(
        run_dir=str(run_dir), format=format, seq_len=seq_len, shard_tokens=shard_tokens
    )
    with fresh_output_dir(out, overwrite=overwrite, inputs=run_inputs(run_dir)) as tmp:
        written = export_into(args, tmp)
    from webtext.tokenize.exports_log import record_export

    record_export(run_dir, out, format, list(written))  # as the CLI: verify tells stale ones
    return written


def export_hf(checkpoint: str | Path, out: str | Path, *, overwrite: bool = False) -> Path:
    """`webtext export-hf` from Python: a checkpoint -> an offline-loadable HF GPT-2 folder."""
    from webtext.train import require_torch

    require_torch()
    from webtext.train.hf import export_hf as _export_hf

    return _export_hf(checkpoint, out, overwrite=overwrite)
