"""The filter interface of the clean stage, and the chain that runs filters in order.

A filter looks at one page (a dict row of pages/ plus annotations earlier filters added) and
either keeps it (returns None) or drops it with a short detail string. Its `name` is the
reason recorded in the ledger as `clean:<name>` (e.g. `clean:language`, `clean:wikipedia`).
Heavy state (models, Bloom filters) is loaded in `setup()`, called once per worker, so a
filter object stays cheap to pickle to Ray tasks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Page = dict[str, Any]
REASON_PREFIX = "clean:"


class Filter:
    name: str = "filter"

    def setup(self) -> None:
        """Load heavy state; called once in the process that runs `check`."""

    def check(self, page: Page) -> str | None:
        """None to keep the page, else a human-readable detail of why it is dropped."""
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()) if k[0] != "_")
        return f"{type(self).__name__}({fields})"


@dataclass(frozen=True)
class Decision:
    """The verdict on one page: kept when `reason` is None, else `clean:<filter name>`."""

    reason: str | None = None
    detail: str = ""

    @property
    def kept(self) -> bool:
        return self.reason is None


class FilterChain:
    """Filters applied in order (cheap first); the first that drops a page decides its reason.

    The chain counts pages seen, kept and dropped per reason, so a worker reports its own
    statistics (one chain per task: nothing is counted twice across workers).
    """

    def __init__(self, filters: Sequence[Filter]):
        names = [f.name for f in filters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"two filters share the reason name(s) {duplicates}")
        self.filters = list(filters)
        self.seen = 0
        self.dropped: Counter[str] = Counter()
        self._ready = False

    def setup(self) -> None:
        if not self._ready:
            for f in self.filters:
                f.setup()
            self._ready = True

    def check(self, page: Page) -> Decision:
        self.setup()
        self.seen += 1
        for f in self.filters:
            detail = f.check(page)
            if detail is not None:
                reason = REASON_PREFIX + f.name
                self.dropped[reason] += 1
                return Decision(reason, detail)
        return Decision()

    @property
    def kept(self) -> int:
        return self.seen - sum(self.dropped.values())

    def reset_counts(self) -> None:
        self.seen = 0
        self.dropped.clear()
        for f in self.filters:
            if hasattr(f, "reset_counts"):
                f.reset_counts()

    def pii_counts(self) -> dict[str, int]:
        """Personal data redacted per kind (email, phone, ipv4, ipv6) since the last reset."""
        out: Counter[str] = Counter()
        for f in self.filters:
            out.update(getattr(f, "counts", None) or {})
        return dict(sorted(out.items()))

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.filters]
