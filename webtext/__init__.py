"""webtext: WebText-style pretraining corpora from Reddit links, and the GPT-2 that learns from them.

Python API (the CLI's commands, callable; see `webtext.stages`):

    import webtext
    cfg = webtext.load_config("config.yaml", ["harvest.min_score=5"])
    webtext.run(cfg)                    # every stage, skipping finished work
    webtext.stages.dedup(cfg)           # one stage
    webtext.export(cfg.run_dir, "jsonl", "out/jsonl")
"""

from __future__ import annotations

from webtext import stages
from webtext.config import Config, ConfigError, build_config, load_config
from webtext.stages import export, export_hf, run, run_stage

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "build_config",
    "export",
    "export_hf",
    "load_config",
    "run",
    "run_stage",
    "stages",
]
