"""A small Reddit-compatible HTTP API on 127.0.0.1 (port 0) that praw talks to for real.

Endpoints: `POST /api/v1/access_token` (client credentials, HTTP basic auth),
`GET /r/<sub>/{top,new,hot,controversial}` (with `t`, `limit`, `after`) and
`GET /r/<sub>/search` (`q`, `sort`, `t`, `limit`, `after`). Every API response carries
`x-ratelimit-remaining/used/reset`; the budget per window is `ratelimit_budget`, so a test can
make praw run out of it and sleep. Every request is recorded (time, path, query, auth).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TIME_WINDOWS = {"hour": 3600, "day": 86400, "week": 7 * 86400, "month": 31 * 86400}
TIME_WINDOWS["year"] = 366 * 86400
TOKEN = "test-access-token"


@dataclass
class Recorded:
    at: float
    method: str
    path: str
    query: dict[str, str]
    authorization: str


@dataclass
class RedditApiServer:
    client_id: str
    client_secret: str
    subreddits: dict[str, list[dict[str, Any]]]
    now: float = field(default_factory=time.time)  # "now" of the time filters
    ratelimit_budget: int = 600  # requests per window before remaining hits 0
    # seconds until the window resets (x-ratelimit-reset); prawcore spreads the remaining
    # budget over it, so a long reset with a big budget would pace every request
    ratelimit_reset: int = 60
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._used = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> RedditApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def api_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/r/")]

    # ---------------------------------------------------------------- responses
    def token(self, authorization: str) -> tuple[int, dict[str, Any]]:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if authorization != f"Basic {expected}":
            return 401, {"message": "Unauthorized", "error": 401}
        return 200, {
            "access_token": TOKEN,
            "token_type": "bearer",
            "expires_in": 3600,
            "scope": "*",
        }

    def listing(self, sub: str, kind: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        items = list(self.subreddits.get(sub.lower(), []))
        if kind == "search":
            words = query.get("q", "").lower().split()
            items = [s for s in items if all(w in s.get("title", "").lower() for w in words)]
        window = TIME_WINDOWS.get(query.get("t", "all"))
        if window is not None and kind in {"top", "controversial", "search"}:
            items = [s for s in items if s["created_utc"] >= self.now - window]
        if kind == "top" or (kind == "search" and query.get("sort") == "top"):
            items.sort(key=lambda s: (-s["score"], s["id"]))
        elif kind == "new" or (kind == "search" and query.get("sort") == "new"):
            items.sort(key=lambda s: (-s["created_utc"], s["id"]))
        elif kind == "controversial":
            items.sort(key=lambda s: (-s.get("num_comments", 0), s["id"]))
        start = 0
        after = query.get("after")
        if after:
            names = [f"t3_{s['id']}" for s in items]
            start = names.index(after) + 1 if after in names else len(items)
        limit = max(1, min(int(query.get("limit", 25)), 100))
        page = items[start : start + limit]
        more = start + limit < len(items)
        data = {
            "after": f"t3_{page[-1]['id']}" if page and more else None,
            "before": None,
            "dist": len(page),
            "children": [{"kind": "t3", "data": {**s, "name": f"t3_{s['id']}"}} for s in page],
        }
        return 200, {"kind": "Listing", "data": data}

    def ratelimit_headers(self) -> dict[str, str]:
        with self._lock:
            self._used += 1
            remaining = self.ratelimit_budget - self._used
            headers = {
                "x-ratelimit-remaining": str(max(remaining, 0)),
                "x-ratelimit-used": str(self._used),
                "x-ratelimit-reset": str(self.ratelimit_reset),
            }
            if remaining <= 0:  # the client must now wait for the window to reset
                self._used = 0
            return headers

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(raw)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(raw)

            def _record(self) -> tuple[str, dict[str, str]]:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                auth = self.headers.get("Authorization", "")
                server.requests.append(
                    Recorded(time.monotonic(), self.command, parts.path, query, auth)
                )
                return parts.path, query

            def do_POST(self) -> None:  # noqa: N802
                path, _ = self._record()
                length = int(self.headers.get("Content-Length", 0))
                self.rfile.read(length)
                if path.rstrip("/") != "/api/v1/access_token":
                    self._send(404, {"error": 404}, {})
                    return
                status, body = server.token(self.headers.get("Authorization", ""))
                self._send(status, body, {})

            def do_GET(self) -> None:  # noqa: N802
                path, query = self._record()
                headers = server.ratelimit_headers()
                if self.headers.get("Authorization") != f"bearer {TOKEN}":
                    self._send(401, {"message": "Unauthorized", "error": 401}, headers)
                    return
                parts = [p for p in path.split("/") if p]
                kinds = {"top", "new", "hot", "controversial", "search"}
                if (
                    len(parts) != 3
                    or parts[0] != "r"
                    or parts[2].removesuffix(".json") not in kinds
                ):
                    self._send(404, {"message": "Not Found", "error": 404}, headers)
                    return
                status, body = server.listing(parts[1], parts[2].removesuffix(".json"), query)
                self._send(status, body, headers)

        return Handler


def make_submission(
    sid: str, url: str, score: int, created_utc: float, subreddit: str, **extra: Any
) -> dict[str, Any]:
    """A t3 `data` object with the fields praw and the harvest read."""
    record = {
        "id": sid,
        "url": url,
        "score": score,
        "created_utc": float(created_utc),
        "subreddit": subreddit,
        "subreddit_name_prefixed": f"r/{subreddit}",
        "title": f"title {sid}",
        "is_self": False,
        "over_18": False,
        "domain": urlsplit(url).hostname or f"self.{subreddit}",
        "permalink": f"/r/{subreddit}/comments/{sid}/x/",
        "author": "someone",
        "num_comments": 0,
    }
    record.update(extra)
    return record
