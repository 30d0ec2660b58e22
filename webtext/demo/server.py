"""Serve a MiniWeb on 127.0.0.x: one threaded HTTP server per host, all on one port."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


@contextlib.contextmanager
def serve_miniweb(web: MiniWeb) -> Iterator[list[_Server]]:
    """Bind every host of `web` on its port; a busy port is a clear error."""
    servers: list[_Server] = []
    try:
        for host in web.hosts:
            try:
                server = _Server((host, web.port), _Handler)
            except OSError as exc:
                raise RuntimeError(
                    f"cannot serve the demo web on {host}:{web.port} ({exc}); "
                    "choose another port with --port"
                ) from exc
            server.site = web.pages[host]  # type: ignore[attr-defined]
            server.hits = 0  # type: ignore[attr-defined]
            threading.Thread(target=server.serve_forever, daemon=True).start()
            servers.append(server)
        yield servers
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
