"""Crawl + extract stages (fetch with extraction alongside, then pages/) on Ray vs bare
trafilatura on the same HTML, in one run.

Serves the real article pages of ../shared/data/aeb-dev/html (decompressed in memory)
repeated under many URLs on several loopback hosts (127.0.0.1-8, where bindable), crawls
them with `webtext crawl` then `webtext extract` (the default extractor unless --extractor,
2 Ray CPUs; the crawl extracts while it fetches, extract then writes pages/ from that) and
extracts the same HTML with bare `trafilatura.extract` in this process. Prints pages/s of
both and the ratio (target >= 0.8 on 2 cores); writes bench/results/crawl.json.

    .venv/bin/python bench/bench_crawl.py [--repeats 2] [--hosts 8] [--shards 2] [--extractor X]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from tests.web_server import WebServer, can_bind, page, status  # noqa: E402
from webtext.schemas import LINKS_SCHEMA  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "aeb-dev" / "html"


def load_pages() -> list[bytes]:
    return [gzip.decompress(p.read_bytes()) for p in sorted(SHARED.glob("*.html.gz"))]


def start_servers(pages: list[bytes], hosts: int) -> list[WebServer]:
    servers = []
    for h in range(1, 256):
        if len(servers) == hosts:
            break
        host = f"127.0.0.{h}"
        if not can_bind(host):
            continue
        srv = WebServer(host)
        srv.route("/robots.txt", page("User-agent: *\nDisallow: /private/\n", "text/plain"))
        for i, body in enumerate(pages):
            srv.route(f"/article/{i}", page(body, "text/html; charset=utf-8"))
        srv.default = status(404)
        servers.append(srv.start())
    return servers


def write_links(run_dir: Path, servers: list[WebServer], n_pages: int, repeats: int, shards: int):
    rows: list[list[dict]] = [[] for _ in range(shards)]
    for s, srv in enumerate(servers):
        for r in range(repeats):
            for i in range(n_pages):
                url = srv.url(f"/article/{i}?r={r}")
                rows[s % shards].append(
                    {
                        "url": url,
                        "canonical_url": url,
                        "domain": srv.host,
                        "score": 3,
                        "num_submissions": 1,
                        "submission_ids": [f"t3_{s}_{r}_{i}"],
                        "subreddits": ["bench"],
                        "first_created_utc": 1_500_000_000,
                    }
                )
    links = run_dir / "links"
    links.mkdir(parents=True)
    for k, part in enumerate(rows):
        table = pa.Table.from_pylist(part, schema=LINKS_SCHEMA)
        pq.write_table(table, links / f"part-{k:05d}.parquet")
    return sum(len(p) for p in rows)


def bare(pages: list[bytes], n: int) -> tuple[float, int]:
    import trafilatura

    htmls = [p.decode("utf-8", errors="replace") for p in pages]
    start, cpu = time.perf_counter(), time.process_time()
    for k in range(n):
        trafilatura.extract(htmls[k % len(htmls)])
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="copies of each page per host")
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--shards", type=int, default=2, help="links files (Ray tasks)")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--extractor", default=None, help="extract.extractor (default: default)")
    args = parser.parse_args()
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} is absent")
        return 0
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from pipelines import crawl, extract
    from webtext.config import build_config

    pages = load_pages()
    servers = start_servers(pages, args.hosts)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        n = write_links(run_dir, servers, len(pages), args.repeats, args.shards)
        cfg = build_config(
            {
                "run_dir": str(run_dir),
                "ray": {"num_cpus": args.cpus},
                "fetch": {
                    "allow_networks": ["127.0.0.0/8"],
                    "per_host_delay": 0.0,
                    "concurrency": 16,
                },
                "extract": {"extractor": args.extractor} if args.extractor else {},
            }
        )
        ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR")
        # warm the workers (imports), as a long crawl amortises them
        ray.get(
            [ray.remote(lambda: __import__("trafilatura") and 1).remote() for _ in range(args.cpus)]
        )

        # bare before and after the crawl, averaged: other load on the machine drifts
        bare_before, cpu_before = bare(pages, n // 2)
        start = time.perf_counter()
        fetch_stats = crawl.run(cfg)
        fetch_s = time.perf_counter() - start
        stats = {**fetch_stats, **extract.run(cfg)}  # statuses after extraction
        crawl_s = time.perf_counter() - start
        ray.shutdown()
        bare_after, cpu_after = bare(pages, n - n // 2)
        bare_s = bare_before + bare_after
        bare_cpu = cpu_before + cpu_after
    requests = sum(s.hits() for s in servers)
    for srv in servers:
        srv.stop()
    result = {
        "extractor": cfg.extract.extractor,
        "load_average_at_end": os.getloadavg(),
        "pages": n,
        "hosts": len(servers),
        "shards": args.shards,
        "cpus": args.cpus,
        "bare_trafilatura_s": round(bare_s, 3),
        "bare_pages_per_s": round(n / bare_s, 2),
        "bare_pages_per_s_before_after": [
            round((n // 2) / bare_before, 2),
            round((n - n // 2) / bare_after, 2),
        ],
        "crawl_s": round(crawl_s, 3),
        "of_which_crawl_stage_s": round(fetch_s, 3),  # the rest: the extract stage
        "crawl_pages_per_s": round(n / crawl_s, 2),
        "crawl_ok": stats.get("status.ok", 0),
        "crawl_status": {k: v for k, v in stats.items() if k.startswith("status.")},
        "server_requests": requests,
        "ratio_crawl_over_bare": round((n / crawl_s) / (n / bare_s), 3),
        # load-independent view: CPU seconds per page, bare vs crawl (task process +
        # extraction worker; Ray's own daemons and the test server not counted)
        "bare_cpu_ms_per_page": round(1000 * bare_cpu / n, 2),
        "crawl_cpu_ms_per_page": round(1000 * fetch_stats["cpu_s_now"] / n, 2),
        "cpu_efficiency_bare_over_crawl": round(bare_cpu / fetch_stats["cpu_s_now"], 3),
        "extract_from_crawl_text": stats.get("from_crawl"),
        "target_ratio": 0.8,
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    out = REPO / "bench" / "results" / "crawl.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
