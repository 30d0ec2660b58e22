"""A hostile web server on raw sockets: it lies about lengths, drips, sends bad status lines
and raw UTF-8 headers, things `http.server` will not do.

    with HostileServer() as srv:                    # 127.0.0.1, a port from the OS
        srv.route("/a", respond(200, b"<html>..</html>", reason="Ça va"))
        srv.url("/a"), srv.hits("/a"), srv.requests  # what it saw, raw request heads included

A route is a function of (socket, Request) that writes whatever bytes it likes. Routes are
matched on the raw request target (bytes as sent, decoded as ISO-8859-1), then on its path.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Request:
    method: str
    target: str  # raw, ISO-8859-1 decoded
    head: bytes  # the whole request head as received
    headers: dict[str, str]


Route = Callable[[socket.socket, Request], None]


class HostileServer:
    def __init__(self, host: str = "127.0.0.1"):
        self.routes: dict[str, Route] = {}
        self.default: Route = respond(404, b"")
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(64)
        self.host, self.port = self._sock.getsockname()[:2]
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=2)

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def route(self, target: str, handler: Route) -> HostileServer:
        self.routes[target] = handler
        return self

    def hits(self, target: str | None = None) -> int:
        with self.lock:
            if target is None:
                return len(self.requests)
            return sum(1 for r in self.requests if r.target.split("?")[0] == target)

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
            method, target = (lines[0].split(" ") + ["", ""])[:2]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            request = Request(method, target, head, headers)
            with self.lock:
                self.requests.append(request)
            route = self.routes.get(target) or self.routes.get(target.split("?")[0]) or self.default
            route(conn, request)
        except OSError:
            pass  # the client hung up: caps and deadlines do that on purpose
        finally:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


# ---------------------------------------------------------------- route builders
HTML_TYPE = b"text/html; charset=utf-8"


def raw(data: bytes) -> Route:
    """Exactly these bytes, then close."""
    return lambda conn, req: conn.sendall(data)


def respond(
    code: int,
    body: bytes,
    *,
    reason: str | bytes = "OK",
    headers: list[tuple[bytes | str, bytes | str]] | None = None,
    content_type: bytes | None = HTML_TYPE,
    length: int | None | bool = True,
) -> Route:
    """A response; `length=True`: the true Content-Length, an int: a lie, None: no length
    (the body ends when the connection closes). Non-ASCII text is sent as raw UTF-8."""

    def enc(value: bytes | str) -> bytes:
        return value if isinstance(value, bytes) else value.encode("utf-8")

    head = [b"HTTP/1.1 %d %s" % (code, enc(reason))]
    if content_type is not None:
        head.append(b"Content-Type: " + content_type)
    if length is True:
        head.append(b"Content-Length: %d" % len(body))
    elif isinstance(length, int) and length is not False:
        head.append(b"Content-Length: %d" % length)
    head += [enc(k) + b": " + enc(v) for k, v in headers or []]
    head.append(b"Connection: close")
    data = b"\r\n".join(head) + b"\r\n\r\n" + body
    return lambda conn, req: conn.sendall(data)


def page(html: str, **kw) -> Route:
    return respond(200, html.encode("utf-8"), **kw)


def redirect(location: str | bytes, code: int = 302, reason: str | bytes = "Found") -> Route:
    """A redirect whose Location is sent as raw bytes (UTF-8 for a str)."""
    return respond(code, b"", reason=reason, headers=[(b"Location", location)])


def drip(
    prefix: bytes, interval: float, total: int, *, length: bool, content_type: bytes = HTML_TYPE
) -> Route:
    """A 200 whose body starts with `prefix` then drips one byte every `interval` seconds."""

    def route(conn: socket.socket, req: Request) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type + b"\r\n"
        if length:
            head += b"Content-Length: %d\r\n" % (len(prefix) + total)
        conn.sendall(head + b"Connection: close\r\n\r\n" + prefix)
        for _ in range(total):
            conn.sendall(b"x")
            time.sleep(interval)

    return route


def stall_after(data: bytes, seconds: float) -> Route:
    """Send `data`, then say nothing for `seconds` (a body cut short of its length)."""

    def route(conn: socket.socket, req: Request) -> None:
        conn.sendall(data)
        time.sleep(seconds)

    return route
