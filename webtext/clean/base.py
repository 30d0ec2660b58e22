"""The filter interface of the clean stage.

A filter looks at one page (a dict row of pages/ plus annotations earlier filters added) and
either keeps it (returns None) or drops it with a short detail string. Its `name` is the
reason recorded in the ledger as `clean:<name>` (e.g. `clean:language`, `clean:wikipedia`).
Heavy state (models, Bloom filters) is loaded in `setup()`, called once per worker, so a
filter object stays cheap to pickle to Ray tasks.
"""

from __future__ import annotations

from typing import Any

Page = dict[str, Any]


class Filter:
    name: str = "filter"

    def setup(self) -> None:
        """Load heavy state; called once in the process that runs `check`."""

    def check(self, page: Page) -> str | None:
        """None to keep the page, else a human-readable detail of why it is dropped."""
        raise NotImplementedError
