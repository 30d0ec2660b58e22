"""Running stages from tests the way users do, in this process (no Ray)."""

from __future__ import annotations

from typing import Any

from webtext.config import Config


def crawl_and_extract(cfg: Config) -> dict[str, Any]:
    """The crawl stage then the extract stage (pages/ as `webtext run` leaves it), through
    the one driver with its in-process executor; their stats merged (extract's statuses)."""
    from pipelines import crawl, extract

    stats = crawl.run(cfg, executor="local")
    return {**stats, **extract.run(cfg, executor="local")}
