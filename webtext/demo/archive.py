"""The demo's local web archive: captures of the mini-web's dead links, stored as a WARC
file, answering the Wayback CDX server API and `id_` replay (the `wayback` source kind).

    GET /demo/cdx?url=U&output=json&from=F&to=T   one JSON object per capture (as pywb)
    GET /demo/{timestamp}id_/{url}                the capture's original response

Captures are written with warcio and indexed by reading the WARC back, so the demo reads
what an archive holds, in the format archives hold it. The tests use a real pywb instead.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from webtext.io import atomic_path

COLLECTION = "demo"


@dataclass(frozen=True)
class Capture:
    url: str
    when: int  # UTC seconds
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def timestamp(self) -> str:
        return time.strftime("%Y%m%d%H%M%S", time.gmtime(self.when))


def write_archive_warc(path: Path, captures: list[Capture]) -> None:
    """The captures as WARC response records dated at their capture time (atomic)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for cap in captures:
            reason = {200: "OK", 301: "Moved Permanently", 404: "Not Found"}.get(cap.status, "")
            headers = [*cap.headers, ("Content-Length", str(len(cap.body)))]
            http = StatusAndHeaders(f"{cap.status} {reason}", headers, protocol="HTTP/1.1")
            date = datetime.fromtimestamp(cap.when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            writer.write_record(writer.create_warc_record(
                cap.url, "response", payload=io.BytesIO(cap.body), http_headers=http,
                warc_headers_dict={"WARC-Date": date},
            ))  # fmt: skip


def read_archive_warc(path: Path) -> dict[str, list[Capture]]:
    """URL -> its captures (time order), read back from the WARC file."""
    index: dict[str, list[Capture]] = {}
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type != "response" or rec.http_headers is None:
                continue
            url = rec.rec_headers.get_header("WARC-Target-URI")
            date = rec.rec_headers.get_header("WARC-Date")
            when = int(datetime.strptime(date, "%Y-%m-%dT%H:%M:%SZ")
                       .replace(tzinfo=timezone.utc).timestamp())  # fmt: skip
            headers = tuple((k, v) for k, v in rec.http_headers.headers
                            if k.lower() != "content-length")  # fmt: skip
            status = int(rec.http_headers.get_statuscode())
            index.setdefault(url, []).append(
                Capture(url, when, status, headers, rec.content_stream().read())
            )
    for caps in index.values():
        caps.sort(key=lambda c: c.when)
    return index


class ArchiveHandler(BaseHTTPRequestHandler):
    server_version = "webtext-demo-archive/1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        index: dict[str, list[Capture]] = self.server.index  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        prefix = f"/{COLLECTION}/"
        if parts.path == f"{prefix}cdx":
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            lo, hi = query.get("from", "0"), query.get("to", "9")
            lines = [
                json.dumps(
                    {
                        "urlkey": c.url,
                        "timestamp": c.timestamp,
                        "url": c.url,
                        "mime": dict(c.headers).get("Content-Type", "unk").split(";")[0],
                        "status": str(c.status),
                    }
                )  # fmt: skip
                for c in index.get(query.get("url", ""), [])
                if lo <= c.timestamp[: len(lo)] and c.timestamp[: len(hi)] <= hi
            ]
            return self._send(200, [("Content-Type", "text/x-ndjson")],
                              "".join(line + "\n" for line in lines).encode())  # fmt: skip
        target = self.path[len(prefix) :] if self.path.startswith(prefix) else ""
        stamp, _, url = target.partition("id_/")
        for cap in index.get(url, []):
            if cap.timestamp == stamp:
                return self._send(cap.status, list(cap.headers), cap.body)
        self._send(404, [("Content-Type", "text/plain")], b"not in the archive")

    def _send(self, code: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(code)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass
