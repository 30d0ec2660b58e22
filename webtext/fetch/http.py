"""A requests session whose sockets connect only to addresses the guard allows.

`GuardedHTTPConnection._new_conn` resolves the host itself, vets every address with the
`AddressGuard` and connects to a vetted IP, keeping the URL's host for the Host header and
TLS SNI/certificate checks. There is no second resolution between check and connect.

The `Watchdog` enforces the total per-URL deadline: it shuts down the sockets a request
registered when the deadline passes, so a server that drips a byte a second (in the
headers or in the body) cannot hold a worker past the deadline.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from webtext.fetch.guard import AddressGuard, BlockedAddress

_current = threading.local()


class Deadline:
    """One URL's total time budget; sockets opened under it are closed when it passes."""

    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds
        self.expired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._socks.append(sock)
            if not self.expired:
                return
        _shutdown(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            socks, self._socks = self._socks, []
        for sock in socks:
            _shutdown(sock)

    def __enter__(self) -> Deadline:
        self._outer = getattr(_current, "deadline", None)  # robots.txt nests in a page fetch
        _current.deadline = self
        return self

    def __exit__(self, *exc: object) -> None:
        _current.deadline = self._outer
        with self._lock:
            self._socks.clear()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def current_deadline() -> Deadline | None:
    """The deadline this thread is working under, if any (a page fetch's, around the
    robots.txt of a host it was redirected to)."""
    return getattr(_current, "deadline", None)


def _register(sock: socket.socket | None) -> None:
    deadline = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.add(sock)


class Watchdog:
    """One thread per fetcher that expires `Deadline`s when their time comes."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="fetch-watchdog", daemon=True)
        self._thread.start()

    def watch(self, seconds: float) -> Deadline:
        deadline = Deadline(seconds)
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._counter), deadline))
            self._cond.notify()
        return deadline

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, _, deadline = heapq.heappop(self._heap)
                    deadline.expire()
                wait = self._heap[0][0] - now if self._heap else None
                # bounded: Condition.wait overflows past threading.TIMEOUT_MAX
                self._cond.wait(None if wait is None else min(wait, 3600.0))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=5)


class _GuardedMixin:
    guard: AddressGuard

    def _new_conn(self) -> socket.socket:  # type: ignore[override]
        host = self._dns_host  # type: ignore[attr-defined]
        try:
            addresses = self.guard.resolve(host, self.port)  # type: ignore[attr-defined]
        except BlockedAddress:
            raise
        except OSError as exc:
            raise NewConnectionError(self, f"cannot resolve {host}: {exc}") from exc  # type: ignore[arg-type]
        last: Exception | None = None
        for family, ip in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                for opt in self.socket_options or ():  # type: ignore[attr-defined]
                    sock.setsockopt(*opt)
                sock.settimeout(self.timeout)  # type: ignore[attr-defined]
                _register(sock)
                sock.connect((ip, self.port))  # type: ignore[attr-defined]
                return sock
            except TimeoutError as exc:
                sock.close()
                last = ConnectTimeoutError(self, f"connect to {host} ({ip}) timed out")
                last.__cause__ = exc
            except OSError as exc:
                sock.close()
                last = NewConnectionError(self, f"cannot connect to {host} ({ip}): {exc}")  # type: ignore[arg-type]
        assert last is not None
        raise last

    def getresponse(self):  # type: ignore[no-untyped-def]
        _register(self.sock)  # type: ignore[attr-defined]  # a reused keep-alive socket
        return super().getresponse()  # type: ignore[misc]


class _ManualRedirectSession(requests.Session):
    """The fetcher follows redirects itself (each hop vetted, its Location parsed by
    webtext.uri). requests would still parse every Location to prepare a `next` request,
    even with allow_redirects=False, and raise on one that is not UTF-8: it never looks."""

    def get_redirect_target(self, resp):  # type: ignore[no-untyped-def]
        return None


def guarded_session(guard: AddressGuard, pool_size: int) -> requests.Session:
    """A session (no proxies from the environment) that connects only through `guard`."""
    conn_http = type("GuardedHTTPConnection", (_GuardedMixin, HTTPConnection), {"guard": guard})
    conn_https = type("GuardedHTTPSConnection", (_GuardedMixin, HTTPSConnection), {"guard": guard})
    pool_http = type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": conn_http})
    pool_https = type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": conn_https})

    adapter = HTTPAdapter(
        pool_connections=max(pool_size, 10), pool_maxsize=pool_size, max_retries=0
    )
    adapter.poolmanager.pool_classes_by_scheme = {"http": pool_http, "https": pool_https}
    session = _ManualRedirectSession()
    session.trust_env = False  # an HTTP(S)_PROXY from the environment would bypass the guard
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
