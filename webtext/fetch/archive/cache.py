"""CDX answers kept on disk in the run, one file per request, so a rerun asks nothing again.

The key is the whole lookup request (archive endpoint, index, URL, window): a changed
`archive.target_date` or window asks again, the same crawl rerun does not. Only final
answers are kept (200, and 404 "no captures"); errors and rate-limit answers are not.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from webtext.io import atomic_path


class CdxCache:
    def __init__(self, root: str | Path | None):
        self.root = Path(root) if root is not None else None
        self.hits = 0

    def _path(self, request_url: str) -> Path:
        assert self.root is not None
        key = hashlib.sha256(request_url.encode("utf-8")).hexdigest()
        return self.root / key[:2] / f"{key}.json"

    def get(self, request_url: str) -> tuple[int, str] | None:
        if self.root is None:
            return None
        path = self._path(request_url)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("request") != request_url:  # a hash collision, or a foreign file
            return None
        self.hits += 1
        return int(data["status"]), str(data["body"])

    def put(self, request_url: str, status: int, body: str) -> None:
        if self.root is None:
            return
        path = self._path(request_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            Path(tmp).write_text(
                json.dumps({"request": request_url, "status": status, "body": body}),
                encoding="utf-8",
            )
