"""Serve a MiniWeb on 127.0.0.x: one threaded HTTP server per host, all on one port, and
its local web archive on `web.archive_host` (same port)."""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from webtext.demo.archive import ArchiveHandler, read_archive_warc, write_archive_warc
from webtext.demo.miniweb import MiniWeb, Response

NOT_FOUND = Response(
    404, b"<html><body><h1>404 Not Found</h1></body></html>", {"Content-Type": "text/html"}
)


class _Handler(BaseHTTPRequestHandler):
    server_version = "webtext-demo/1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        site: dict[str, Response] = self.server.site  # type: ignore[attr-defined]
        self.server.hits += 1  # type: ignore[attr-defined]
        resp = site.get(self.path.split("?", 1)[0], NOT_FOUND)
        self.send_response(resp.status)
        for key, value in resp.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        self.wfile.write(resp.body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _bind(host: str, port: int, handler) -> _Server:
    try:
        return _Server((host, port), handler)
    except OSError as exc:
        raise RuntimeError(
            f"cannot serve the demo web on {host}:{port} ({exc}); choose another port with --port"
        ) from exc


@contextlib.contextmanager
def serve_miniweb(web: MiniWeb, archive_dir: str | Path | None = None) -> Iterator[list[_Server]]:
    """Bind every host of `web` on its port, and its archive (a WARC file written under
    `archive_dir`, or a temporary folder); a busy port is a clear error."""
    servers: list[_Server] = []
    with contextlib.ExitStack() as stack:
        try:
            for host in web.hosts:
                server = _bind(host, web.port, _Handler)
                server.site = web.pages[host]  # type: ignore[attr-defined]
                server.hits = 0  # type: ignore[attr-defined]
                threading.Thread(target=server.serve_forever, daemon=True).start()
                servers.append(server)
            if web.captures:
                folder = Path(archive_dir or stack.enter_context(tempfile.TemporaryDirectory()))
                warc = folder / "demo-archive.warc.gz"
                write_archive_warc(warc, web.captures)
                server = _bind(web.archive_host, web.port, ArchiveHandler)
                server.index = read_archive_warc(warc)  # type: ignore[attr-defined]
                threading.Thread(target=server.serve_forever, daemon=True).start()
                servers.append(server)
            yield servers
        finally:
            for server in servers:
                server.shutdown()
                server.server_close()
