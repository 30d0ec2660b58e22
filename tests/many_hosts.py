"""One local server playing thousands of web hosts (127.a.b.c), and a web-shaped dump.

The whole 127.0.0.0/8 range is loopback on Linux, so one asyncio process listening on many
127.a.b.c addresses (one port) is thousands of distinct hosts to a crawler. Each host
serves `/robots.txt` and an article-like page, unique per URL, at any `/news/...` path
(404 elsewhere, `/.well-known/tdmrep.json` included);
the server notes when every request to a host started and ended (parsed headers ->
response written), which is what politeness is judged on: requests in flight at once and
the gap between one request's end and the next one's start, per host.

It runs in its own process (`ManyHostServer`: start, then `stop()` returns the summary), so
its CPU is measured apart from the crawler's and its event loop shares no GIL with it:

    python -m tests.many_hosts SUMMARY.json HOST [HOST ...]   # prints "PORT n", stops on EOF

`zipf_sizes` and `write_dump` build the Pushshift-style dump of N URLs over H hosts.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import subprocess
import sys
import threading
import time
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

ROBOTS = b"User-agent: *\nDisallow: /private/\n"
KINDS = {"/robots.txt": "robots", "/.well-known/tdmrep.json": "tdmrep"}


# ------------------------------------------------------------------ web shape
def zipf_sizes(n: int, hosts: int, exponent: float) -> list[int]:
    """URLs per host, largest first: n x r^-exponent / sum(k^-exponent) rounded by largest
    remainder, every host at least 1, summing to n."""
    if hosts > n:
        raise ValueError(f"{hosts} hosts cannot share {n} URLs (each needs one)")
    weights = [r**-exponent for r in range(1, hosts + 1)]
    total = sum(weights)
    exact = [n * w / total for w in weights]
    sizes = [max(1, int(x)) for x in exact]
    left = n - sum(sizes)
    order = sorted(range(hosts), key=lambda r: int(exact[r]) - exact[r])  # largest remainder
    for r in order[:left]:
        sizes[r] += 1
    r = 0
    while sum(sizes) > n:  # the floor of 1 overshot: take back from the largest hosts
        if sizes[r] > 1:
            sizes[r] -= 1
        r = (r + 1) % hosts
    return sizes


def host_names(count: int, seed: int) -> list[str]:
    """`count` distinct 127.a.b.c addresses (a picked by `seed`, so runs rarely collide)."""
    a = 16 + random.Random(seed).randrange(200)
    return [f"127.{a}.{i // 254}.{i % 254 + 1}" for i in range(count)]


def site_urls(hosts: list[str], sizes: list[int], port: int) -> list[str]:
    return [
        f"http://{host}:{port}/news/{k}/story-{k}.html"
        for host, size in zip(hosts, sizes, strict=True)
        for k in range(size)
    ]


def write_dump(path: Path, urls: list[str], seed: int = 0) -> None:
    """A Pushshift-format submissions dump (NDJSON), one submission per URL, karma >= 3."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for n, url in enumerate(urls):
            sub = {
                "id": f"z{n:07x}",
                "url": url,
                "score": rng.randint(3, 500),
                "created_utc": 1_500_000_000 + n,
                "subreddit": rng.choice(["news", "worldnews", "science", "technology"]),
                "is_self": False,
                "over_18": False,
                "title": f"Submission {n}",
                "author": f"user{rng.randint(1, 999)}",
                "num_comments": rng.randint(0, 50),
                "permalink": f"/r/news/comments/z{n:07x}/",
            }
            fh.write(json.dumps(sub) + "\n")


def article_page(host: str, path: str) -> bytes:
    """An article-like page (~22 KB: inline script, a 120-link menu, 8-14 paragraphs,
    related links, comments), the same bytes for the same URL, different for every URL."""
    from webtext.demo.miniweb import ADJECTIVES, NOUNS, article_text, render_article

    rng = random.Random(zlib.crc32(f"{host}{path}".encode()))
    title = f"Story {path.rsplit('/', 1)[-1]} from {host}"
    page = render_article(host, title, article_text(rng, rng.randint(8, 14)), rng)
    menu = "".join(
        f'<li class="menu-item"><a href="/section/{rng.choice(NOUNS)}/{k}">'
        f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS)}</a></li>"
        for k in range(120)
    )
    comments = "".join(
        f'<div class="comment"><span class="author">user{rng.randint(1, 999)}</span>'
        f'<p>{article_text(rng, 1)[0]}</p><a href="#reply">Reply</a></div>'
        for _ in range(8)
    )
    script = ",".join(f'"k{k}": {rng.randint(0, 10**6)}' for k in range(300))
    page = page.replace(
        "<body>", f"<body><script>var cfg = {{{script}}};</script><div class='mega-menu'><ul>"
        f"{menu}</ul></div>", 1,
    ).replace(
        "</main>", f"<section class='comments'><h3>Comments</h3>{comments}</section></main>", 1
    )  # fmt: skip
    return page.encode("utf-8")


# ------------------------------------------------------------------ the server
class _Log:
    def __init__(self) -> None:
        # per host: (headers read, response write started, written, kind)
        self.requests: dict[str, list[tuple[float, float, float, str]]] = defaultdict(list)
        self.in_flight: dict[str, int] = defaultdict(int)
        self.max_in_flight: dict[str, int] = defaultdict(int)

    def summary(self) -> dict[str, Any]:
        robots = {h: sum(r[3] == "robots" for r in reqs) for h, reqs in self.requests.items()}
        gaps_end_start, gaps_start_start = [], []
        for reqs in self.requests.values():
            ordered = sorted(reqs)
            for prev, nxt in zip(ordered, ordered[1:], strict=False):
                gaps_end_start.append(nxt[0] - prev[1])
                gaps_start_start.append(nxt[0] - prev[0])
        busiest = max(self.requests.values(), key=len, default=[])
        ordered = sorted(busiest)
        pairs = list(zip(ordered, ordered[1:], strict=False))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "hosts_contacted": len(self.requests),
            "requests": sum(len(r) for r in self.requests.values()),
            "page_requests": sum(x[3] == "page" for r in self.requests.values() for x in r),
            "tdmrep_requests": sum(x[3] == "tdmrep" for r in self.requests.values() for x in r),
            "other_requests": sum(x[3] == "other" for r in self.requests.values() for x in r),
            "robots_requests": sum(robots.values()),
            "robots_per_host": {str(k): v for k, v in sorted(_histogram(robots).items())},
            "max_in_flight_per_host": max(self.max_in_flight.values(), default=0),
            "min_gap_end_to_start_s": round(min(gaps_end_start), 4) if gaps_end_start else None,
            "min_gap_start_to_start_s": round(min(gaps_start_start), 4)
            if gaps_start_start
            else None,
            "busiest_host": {  # where the politeness floor is decided
                "requests": len(busiest),
                "first_to_last_s": round(ordered[-1][2] - ordered[0][0], 2) if ordered else 0,
                "mean_service_s": round(sum(r[2] - r[0] for r in busiest) / len(busiest), 4)
                if busiest
                else None,
                "mean_gap_end_to_start_s": round(sum(n[0] - p[1] for p, n in pairs) / len(pairs), 4)
                if pairs
                else None,
            },
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        }


def _histogram(counts: dict[str, int]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for value in counts.values():
        out[value] += 1
    return dict(out)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: _Log) -> None:
    host = writer.get_extra_info("sockname")[0]
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            start = time.monotonic()
            log.in_flight[host] += 1
            log.max_in_flight[host] = max(log.max_in_flight[host], log.in_flight[host])
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1].split("?")[0] if " " in lines[0] else "/"
            close = any(h.lower().replace(" ", "") == "connection:close" for h in lines[1:])
            kind = KINDS.get(path, "page" if path.startswith("/news/") else "other")
            if kind == "robots":
                status, ctype, body = "200 OK", "text/plain", ROBOTS
            elif kind == "page":
                status, ctype, body = "200 OK", "text/html; charset=utf-8", article_page(host, path)
            else:  # tdmrep.json too: most sites have none
                status, ctype, body = "404 Not Found", "text/html", b"<html>not found</html>"
            sent = time.monotonic()  # the response cannot reach the client before this
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n".encode()
                + body
            )
            try:
                await writer.drain()
            finally:
                log.in_flight[host] -= 1
                log.requests[host].append((start, sent, time.monotonic(), kind))
            if close:
                return
    finally:
        writer.close()


async def _serve(hosts: list[str], summary_path: Path) -> None:
    log = _Log()
    servers: list[asyncio.AbstractServer] = []

    async def handle(reader, writer):  # type: ignore[no-untyped-def]
        await _handle(reader, writer, log)

    port = 0
    for attempt in range(10):
        try:
            for host in hosts:
                srv = await asyncio.start_server(handle, host, port, reuse_address=True)
                servers.append(srv)
                port = srv.sockets[0].getsockname()[1]
            break
        except OSError:  # the port is taken on one of the addresses: start again elsewhere
            for srv in servers:
                srv.close()
            servers, port = [], 0
            if attempt == 9:
                raise
    print(f"PORT {port}", flush=True)
    loop = asyncio.get_running_loop()
    eof = loop.create_future()
    threading.Thread(
        target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(eof.set_result, None)),
        daemon=True,
    ).start()
    await eof
    for srv in servers:
        srv.close()
    summary_path.write_text(json.dumps(log.summary(), indent=2))


class ManyHostServer:
    """The server in a child process: `port` once started, `stop()` -> summary dict."""

    def __init__(self, hosts: list[str], summary_path: Path):
        self.hosts, self.summary_path = hosts, Path(summary_path)
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> ManyHostServer:
        repo = Path(__file__).resolve().parents[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.many_hosts", str(self.summary_path), *self.hosts],
            cwd=repo,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"many-host server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def stop(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        return json.loads(self.summary_path.read_text())

    def __enter__(self) -> ManyHostServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[2:], Path(sys.argv[1])))
