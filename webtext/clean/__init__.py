"""The clean stage's library: filters (`base.Filter`), the default chain (`chain`), and the
per-shard work (`stage.clean_shard`) that `pipelines/clean.py` runs as Ray tasks.

Modules import lazily from here on purpose: a worker that only needs `base` does not load
langdetect or the GPT-2 encoding.
"""
