"""A killable extraction subprocess: the per-page time limit and crash isolation.

The parent (`WorkerProcess`) starts `python -c "...child_main()"` and talks to it over its
stdin/stdout pipes with length-prefixed pickle frames (one request, one reply per page; the
HTML crosses one pipe, the text the other: a copy or two of a few hundred KB, tens of
microseconds). Every wait on the child has a deadline; on a timeout, a crash or a broken
pipe the child is SIGKILLed and reaped at once and a fresh one is started in the background,
ready for the next page. Neither a hang nor a segfault nor a memory blow-up inside lxml can
take the caller down with it.

The child:
- cannot use the network: an audit hook refuses every socket connect and DNS lookup and
  counts the attempts (reported back in each reply, see `Extractor.stats`);
- dies with its parent: it exits on EOF of its stdin, and on Linux it asks the kernel for
  SIGKILL when the parent goes (`PR_SET_PDEATHSIG`), so a worker hung in C code cannot be
  orphaned by a parent killed with SIGKILL (e.g. a Ray task that was cancelled);
- optionally runs under an address-space limit (`RLIMIT_AS`), so a memory bomb fails there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_HEADER = struct.Struct("!Q")
_CHILD_CMD = "from webtext.extract.worker import child_main; child_main()"
_BLOCKED_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.sendto",
        "socket.sendmsg",
    }
)


class WorkerTimeout(Exception):
    """The child did not answer before the deadline."""


class WorkerDied(Exception):
    """The child exited or closed its pipe."""


# ----------------------------------------------------------------------- framing
def _write_all(fd: int, data: bytes, deadline: float | None) -> None:
    view = memoryview(data)
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    while view:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                raise WorkerTimeout
        try:
            sent = os.write(fd, view)
        except BlockingIOError:
            continue
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise WorkerDied("worker pipe closed") from exc
        view = view[sent:]


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while got < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                raise WorkerTimeout
        try:
            chunk = os.read(fd, min(size - got, 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise WorkerDied("worker exited")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def send_frame(fd: int, obj: Any, deadline: float | None = None) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    _write_all(fd, _HEADER.pack(len(payload)) + payload, deadline)


def recv_frame(fd: int, deadline: float | None = None) -> Any:
    (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    return pickle.loads(_read_exact(fd, size, deadline))


def _widen(fd: int, size: int = 1 << 20) -> None:
    """Grow a pipe's buffer (Linux; 64 KiB by default) so a typical page crosses in one
    write instead of a ping-pong of 64 KiB chunks between the two processes."""
    if hasattr(fcntl, "F_SETPIPE_SZ"):
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)


# ------------------------------------------------------------------------ parent
class WorkerProcess:
    """One child process running `spec` (a method name or `module:function`).

    `call(html, url, timeout)` returns `(text, title)` or raises `WorkerTimeout`,
    `WorkerDied` (the child is then already killed and reaped) or `RuntimeError` with the
    child's exception message (the child lives on).
    """

    def __init__(
        self,
        spec: str,
        options: dict[str, Any] | None = None,
        memory_mb: int = 0,
        startup_timeout: float = 120.0,
    ):
        self.spec = spec
        self.options = dict(options or {})
        self.memory_mb = memory_mb
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self._ready = False
        self._blocked_done = 0  # network attempts refused by children already gone
        self._blocked_now = 0
        self.starts = 0

    # lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """Spawn the child without waiting for it (its imports overlap the caller's work)."""
        if self.proc is not None:
            return
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # so the child imports this webtext
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD_CMD],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
                close_fds=True,
                env=env,
            )
        except OSError as exc:  # e.g. no more processes or memory
            raise WorkerDied(f"cannot start the extract worker: {exc}") from exc
        self.starts += 1
        self._ready = False
        for pipe in (self.proc.stdin, self.proc.stdout):
            _widen(pipe.fileno())
        os.set_blocking(self.proc.stdin.fileno(), False)
        init = {
            "spec": self.spec,
            "options": self.options,
            "memory_mb": self.memory_mb,
            "parent": os.getpid(),
        }
        try:
            send_frame(self.proc.stdin.fileno(), init, time.monotonic() + self.startup_timeout)
        except (WorkerDied, WorkerTimeout):
            self._ready = False  # reported by the next call's wait_ready

    def wait_ready(self) -> None:
        self.start()
        if self._ready:
            return
        try:
            reply = recv_frame(self.proc.stdout.fileno(), time.monotonic() + self.startup_timeout)
        except (WorkerDied, WorkerTimeout) as exc:
            self.kill()
            raise WorkerDied(f"extract worker failed to start ({type(exc).__name__})") from None
        if reply[0] != "ready":
            self.kill()
            raise WorkerDied(f"extract worker failed to start: {reply[1]}")
        self._ready = True

    def kill(self) -> int | None:
        """SIGKILL and reap the child (no zombie), close the pipes; its exit code."""
        proc, self.proc, self._ready = self.proc, None, False
        if proc is None:
            return None
        self._blocked_done += self._blocked_now
        self._blocked_now = 0
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        return proc.returncode

    def close(self, grace: float = 2.0) -> None:
        """Ask the child to exit (EOF on its stdin); kill it if it does not within `grace`."""
        proc = self.proc
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
        self.kill()

    @property
    def network_blocked(self) -> int:
        """Socket connects and DNS lookups the children refused, all children together."""
        return self._blocked_done + self._blocked_now

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    # work ---------------------------------------------------------------------
    def call(self, html: str, url: str, timeout: float) -> tuple[str, str | None]:
        if self.proc is not None and self.proc.poll() is not None:
            self.kill()  # died while idle (e.g. killed from outside): not this page's fault
        self.wait_ready()
        deadline = time.monotonic() + timeout
        try:
            send_frame(self.proc.stdin.fileno(), (html, url), deadline)
            reply = recv_frame(self.proc.stdout.fileno(), deadline)
        except (WorkerTimeout, WorkerDied, EOFError, pickle.UnpicklingError) as exc:
            code = self.kill()
            with contextlib.suppress(WorkerDied):
                self.start()  # the next page finds a warm worker
            if isinstance(exc, WorkerTimeout):
                raise
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            raise WorkerDied(f"worker died ({how})") from None
        self._blocked_now = reply[-1]
        if reply[0] == "ok":
            return reply[1], reply[2]
        raise RuntimeError(reply[1])


# ------------------------------------------------------------------------- child
def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent went before the prctl took effect
        os._exit(0)


def _guard_network() -> dict[str, int]:
    counter = {"blocked": 0}

    def hook(event: str, args: tuple) -> None:
        if event in _BLOCKED_EVENTS:
            counter["blocked"] += 1
            raise PermissionError(f"network access is disabled in the extract worker ({event})")

    sys.addaudithook(hook)
    return counter


def _limit_memory(memory_mb: int) -> None:
    if memory_mb > 0:
        import resource

        limit = memory_mb * 1024 * 1024
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def child_main() -> None:
    """Entry point of the worker process (stdin: requests, stdout: replies)."""
    import logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    in_fd = sys.stdin.fileno()
    out_fd = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints cannot corrupt frames
    logging.disable(logging.WARNING)  # trafilatura logs a warning for every empty page
    try:
        init = recv_frame(in_fd)
    except (WorkerDied, EOFError):
        return
    _die_with_parent(init["parent"])
    blocked = _guard_network()
    try:
        from webtext.extract.methods import resolve

        method = resolve(init["spec"], **init["options"])
        _limit_memory(init["memory_mb"])
    except Exception as exc:
        send_frame(out_fd, ("error", f"{type(exc).__name__}: {exc}", blocked["blocked"]))
        return
    with contextlib.suppress(Exception):  # imports and caches before the first real page
        method("<html><body><p>warm up</p></body></html>", "http://example.com/")
    send_frame(out_fd, ("ready", os.getpid(), blocked["blocked"]))
    while True:
        try:
            html, url = recv_frame(in_fd)
        except (WorkerDied, EOFError):
            return  # parent closed the pipe or went away
        try:
            text, title = method(html, url)
            reply = ("ok", text or "", title, blocked["blocked"])
        except Exception as exc:
            reply = ("error", f"{type(exc).__name__}: {str(exc)[:500]}", blocked["blocked"])
        del html
        try:
            send_frame(out_fd, reply)
        except WorkerDied:
            return
