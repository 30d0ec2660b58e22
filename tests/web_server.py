"""A real local web server for tests and benchmarks: threaded, port 0, scripted routes.

    with WebServer() as srv:                       # 127.0.0.1, a free port
        srv.route("/a", page("<html>...</html>"))
        srv.url("/a")                              # http://127.0.0.1:PORT/a
        srv.hits("/a"), srv.connections            # what the server saw

Routes are functions of the request handler; the helpers below build the common ones
(pages, redirects, slow and dripping servers, bombs, flaky 5xx, 429 with Retry-After).
"""

from __future__ import annotations

import gzip
import http.server
import socket
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable

Handler = http.server.BaseHTTPRequestHandler
Route = Callable[[Handler], None]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        # clients that hang up early (caps, deadlines, closed keep-alives) are expected
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def get_request(self):  # type: ignore[no-untyped-def]
        conn = super().get_request()
        with self.owner.lock:
            self.owner.connections += 1
        return conn


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        owner = self.server.owner
        path = self.path.split("?")[0]
        with owner.lock:
            owner.log.append((path, time.monotonic(), dict(self.headers)))
        route = owner.routes.get(self.path) or owner.routes.get(path) or owner.default
        try:
            route(self)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


class WebServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.routes: dict[str, Route] = {}
        self.default: Route = status(404)
        self.log: list[tuple[str, float, dict]] = []
        self.connections = 0
        self.lock = threading.Lock()
        self._server = _Server((host, port), _RequestHandler)
        self._server.owner = self  # type: ignore[attr-defined]
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def route(self, path: str, handler: Route) -> WebServer:
        self.routes[path] = handler
        return self

    def hits(self, path: str | None = None) -> int:
        with self.lock:
            if path is None:
                return len(self.log)
            return sum(1 for p, _, _ in self.log if p == path)

    def times(self, path: str) -> list[float]:
        with self.lock:
            return [t for p, t, _ in self.log if p == path]

    def counts(self) -> Counter:
        with self.lock:
            return Counter(p for p, _, _ in self.log)


def can_bind(host: str) -> bool:
    """127.0.0.2 and friends exist on Linux loopback, not everywhere (macOS)."""
    try:
        with socket.socket() as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


# ---------------------------------------------------------------- route builders
def _send(h: Handler, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    h.send_response(code)
    headers = dict(headers or {})
    headers.setdefault("Content-Type", "text/html; charset=utf-8")
    headers.setdefault("Content-Length", str(len(body)))
    for k, v in headers.items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(body)


def page(body: str | bytes, content_type: str = "text/html; charset=utf-8", **headers) -> Route:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return lambda h: _send(h, 200, data, {"Content-Type": content_type, **headers})


def status(code: int, body: bytes = b"", **headers: str) -> Route:
    return lambda h: _send(h, code, body, {k.replace("_", "-"): v for k, v in headers.items()})


def redirect(location: str, code: int = 302) -> Route:
    return lambda h: _send(h, code, b"", {"Location": location})


def slow(delay: float, body: str = "<html><body>late</body></html>") -> Route:
    def route(h: Handler) -> None:
        time.sleep(delay)
        _send(h, 200, body.encode())

    return route


def drip(interval: float = 1.0, total: int = 1000, in_headers: bool = False) -> Route:
    """One byte every `interval` seconds: in the body, or already in the header block."""

    def route(h: Handler) -> None:
        if in_headers:
            h.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for _ in range(total):
                h.wfile.write(b"X")
                h.wfile.flush()
                time.sleep(interval)
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", str(total))
        h.end_headers()
        h.wfile.write(b"<html><body>")
        for _ in range(total - 12):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(interval)

    return route


def big(size: int, chunked: bool = False) -> Route:
    """An HTML body of `size` bytes; chunked without Content-Length when asked."""
    filler = b"<p>" + b"a" * 1000 + b"</p>\n"

    def route(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(size))
        h.end_headers()
        sent = 0
        while sent < size:
            part = filler[: size - sent]
            if chunked:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            else:
                h.wfile.write(part)
            sent += len(part)
        if chunked:
            h.wfile.write(b"0\r\n\r\n")

    return route


def gzip_bomb(expanded: int) -> Route:
    """A small gzip body that expands to `expanded` bytes of HTML-ish text."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * (1 << 20)
    parts = [comp.compress(b"<html><body>")]
    for _ in range(expanded // len(block)):
        parts.append(comp.compress(block))
    parts.append(comp.flush())
    data = b"".join(parts)
    return lambda h: _send(h, 200, data, {"Content-Type": "text/html", "Content-Encoding": "gzip"})


def gzipped(body: str) -> Route:
    data = gzip.compress(body.encode("utf-8"))
    return lambda h: _send(
        h, 200, data, {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"}
    )


def flaky(failures: int, then: Route, code: int = 503, **headers: str) -> Route:
    """`code` for the first `failures` requests, then `then`."""
    state = {"n": 0}
    lock = threading.Lock()

    def route(h: Handler) -> None:
        with lock:
            state["n"] += 1
            n = state["n"]
        if n <= failures:
            status(code, **headers)(h)
        else:
            then(h)

    return route
