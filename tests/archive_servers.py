"""Real web archives for tests: pywb serving a collection built from WARC files the test
writes (CDX server API + `id_` replay), and a Common Crawl-style pair of servers: a CDX
index server answering `/{index}-index?url=..&output=json` from the CDXJ index pywb's own
indexer built, and a file server honouring HTTP Range over the WARC files.

pywb pins old packages (gevent, ...), so it lives in its own virtualenv (`.venv-pywb`,
made by `.ci/run`; or `WEBTEXT_PYWB_BIN` naming the folder of its `wayback` and
`wb-manager`) and runs as a subprocess. Every server binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.web_server import Handler, WebServer

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Snap:
    """One archived HTTP response: URL, capture time (UTC seconds), status line, type."""

    url: str
    when: int
    status: str = "200 OK"
    content_type: str = "text/html; charset=utf-8"
    body: bytes = b""
    location: str | None = None


def stamp(seconds: int) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(seconds))


def write_warc(path: Path, snaps: list[Snap]) -> None:
    """A gzip WARC with one response record (and its request) per snap, dated as given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for snap in snaps:
            headers = [("Content-Type", snap.content_type), ("Content-Length", str(len(snap.body)))]
            if snap.location:
                headers.append(("Location", snap.location))
            http = StatusAndHeaders(snap.status, headers, protocol="HTTP/1.1")
            date = datetime.fromtimestamp(snap.when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            record = writer.create_warc_record(
                snap.url, "response", payload=io.BytesIO(snap.body), http_headers=http,
                warc_headers_dict={"WARC-Date": date},
            )  # fmt: skip
            writer.write_record(record)


# ------------------------------------------------------------------------- pywb
def pywb_bin() -> Path | None:
    """The folder holding pywb's `wayback` and `wb-manager`, or None."""
    candidates = [os.environ.get("WEBTEXT_PYWB_BIN"), str(REPO / ".venv-pywb" / "bin")]
    for folder in candidates:
        if (
            folder
            and (Path(folder) / "wayback").exists()
            and (Path(folder) / "wb-manager").exists()
        ):
            return Path(folder)
    found = shutil.which("wayback")
    if found and shutil.which("wb-manager"):
        return Path(found).parent
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Pywb:
    """A real pywb `wayback` over one collection built with `wb-manager` from WARC files."""

    def __init__(self, root: Path, collections: dict[str, list[Path]], coll: str):
        """Build every collection of `collections` (name -> WARC files) with wb-manager;
        `coll` is the one the properties below point at."""
        self.bin = pywb_bin()
        if self.bin is None:
            raise RuntimeError("pywb is not installed (.venv-pywb; see .ci/run)")
        self.root, self.coll = root, coll
        root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        run = dict(cwd=root, env=env, check=True, capture_output=True, timeout=120)
        manager = str(self.bin / "wb-manager")
        for name, warcs in collections.items():
            subprocess.run([manager, "init", name], **run)
            subprocess.run([manager, "add", name, *map(str, warcs)], **run)
        self.log_path = root / "wayback.log"
        self.proc: subprocess.Popen | None = None
        for _ in range(3):  # a free port can be taken between the check and the bind
            self.port = free_port()
            self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
            self.proc = subprocess.Popen(
                [str(self.bin / "wayback"), "-p", str(self.port), "-b", "127.0.0.1", "-t", "8"],
                cwd=root, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"pywb did not start; log:\n{self.log_path.read_text()[-2000:]}")

    def _wait_ready(self, seconds: float = 60) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                requests.get(f"{self.origin}/{self.coll}/cdx?url=ready.invalid/", timeout=2)
                return True
            except requests.RequestException:
                time.sleep(0.2)
        return False

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def index_of(self, coll: str) -> Path:
        """The CDXJ index wb-manager (pywb's indexer) built for `coll`."""
        return self.root / "collections" / coll / "indexes" / "index.cdxj"

    def archive_of(self, coll: str) -> Path:
        return self.root / "collections" / coll / "archive"

    @property
    def cdx_url(self) -> str:
        return f"{self.origin}/{self.coll}/cdx"

    @property
    def replay_url(self) -> str:
        return f"{self.origin}/{self.coll}"

    def requests_seen(self) -> list[str]:
        """Request lines of external requests, from pywb's own access log."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        lines = re.findall(r'"(GET [^"]+) HTTP/1\.[01]"', text)
        prefix = f"GET /{self.coll}/"
        return [ln for ln in lines if ln.startswith(prefix) and "url=ready.invalid" not in ln]

    def cdx_requests(self) -> int:
        return sum(1 for ln in self.requests_seen() if ln.startswith(f"GET /{self.coll}/cdx?"))

    def replay_requests(self) -> int:
        return sum(1 for ln in self.requests_seen() if "id_/" in ln)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        self._log.close()


# ----------------------------------------------------------- Common Crawl-style
def read_cdxj(path: Path) -> list[dict]:
    """Entries of a CDXJ index (`urlkey timestamp {json}`) as Common Crawl's index serves
    them: one JSON object with urlkey and timestamp."""
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            key, ts, blob = line.split(" ", 2)
            rows.append({"urlkey": key, "timestamp": ts, **json.loads(blob)})
    return rows


def cc_index_route(
    indexes: dict[str, list[dict]], throttle: Callable[[], float | None] | None = None
):
    """`GET /{index}-index?url=U&output=json&from=F&to=T`: matching entries as JSON lines,
    404 with a message when none (as index.commoncrawl.org). `throttle()` returning a
    number answers 429 with that Retry-After instead."""

    def route(h: Handler) -> None:
        parts = urlsplit(h.path)
        name = parts.path.strip("/")
        if throttle is not None:
            wait = throttle()
            if wait is not None:
                body = b'{"message": "slow down"}'
                h.send_response(429)
                h.send_header("Retry-After", str(int(wait)))
                h.send_header("Content-Length", str(len(body)))
                h.end_headers()
                h.wfile.write(body)
                return
        if not name.endswith("-index") or name[: -len("-index")] not in indexes:
            return _reply(h, 404, b'{"message": "no such index"}')
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        url = query.get("url", "")
        lo, hi = query.get("from", "0"), query.get("to", "9")
        found = [
            e for e in indexes[name[: -len("-index")]]
            if _same(e["url"], url) and lo <= e["timestamp"][: len(lo)]
            and e["timestamp"][: len(hi)] <= hi
        ]  # fmt: skip
        if not found:
            return _reply(h, 404, json.dumps({"message": f"No Captures found for: {url}"}).encode())
        _reply(h, 200, b"".join(json.dumps(e).encode() + b"\n" for e in found))

    return route


def _same(a: str, b: str) -> bool:
    strip = re.compile(r"^https?://")
    return strip.sub("", a).rstrip("/") == strip.sub("", b).rstrip("/")


def _reply(h: Handler, code: int, body: bytes, ctype: str = "application/json") -> None:
    h.send_response(code)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def range_route(root: Path):
    """Files under `root`, honouring `Range: bytes=a-b` with 206 Partial Content."""

    def route(h: Handler) -> None:
        path = (root / urlsplit(h.path).path.lstrip("/")).resolve()
        if root.resolve() not in path.parents or not path.is_file():
            return _reply(h, 404, b"not found", "text/plain")
        data = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", h.headers.get("Range", "") or "")
        if not match:
            return _reply(h, 200, data, "application/octet-stream")
        start = int(match.group(1))
        end = min(int(match.group(2)) if match.group(2) else len(data) - 1, len(data) - 1)
        if start >= len(data) or end < start:
            h.send_response(416)
            h.send_header("Content-Range", f"bytes */{len(data)}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        part = data[start : end + 1]
        h.send_response(206)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        h.send_header("Content-Length", str(len(part)))
        h.end_headers()
        h.wfile.write(part)

    return route


class CommonCrawlLike:
    """An index server and a data server (both real HTTP servers) over WARC files."""

    def __init__(self, index_name: str, entries: list[dict], data_root: Path,
                 throttle: Callable[[], float | None] | None = None):  # fmt: skip
        self.index_name = index_name
        self.index = WebServer().start()
        self.index.default = cc_index_route({index_name: entries}, throttle)
        self.data = WebServer().start()
        self.data.default = range_route(data_root)

    def source(self, rate_per_s: float = 50.0, concurrency: int = 4) -> dict:
        return {
            "kind": "commoncrawl", "cdx_url": self.index.origin, "indexes": [self.index_name],
            "data_url": self.data.origin, "rate_per_s": rate_per_s, "concurrency": concurrency,
        }  # fmt: skip

    def request_times(self) -> list[float]:
        with self.index.lock, self.data.lock:
            return sorted([t for _, t, _ in self.index.log] + [t for _, t, _ in self.data.log])

    def stop(self) -> None:
        self.index.stop()
        self.data.stop()
