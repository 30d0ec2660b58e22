"""The crawl at the web's shape: N URLs over H Zipf-sized hosts, polite, on one machine.

One local server process (tests/many_hosts.py) plays H hosts 127.a.b.c, each with a
robots.txt and article-like pages unique per URL. A Pushshift-style dump of N URLs (host
sizes Zipf with `--exponent`, every host at least one URL) goes through `webtext harvest`
and `webtext crawl` (extract.extractor=trafilatura, per_host_delay 0.5 s, other fetch
settings at their defaults) on a local Ray, or with `--cluster` on a real two-node Ray
cluster on 127.0.0.1 (`ray start --head` + `ray start --address`, own ports and temp dir,
stopped by pid afterwards). Reported, into bench/results/crawl_scale.json under `--label`:

- wall time of the crawl stage, pages/s, CPU seconds per page of the process tree (driver,
  Ray daemons and workers, extraction workers; sampled every 0.25 s) and its peak RSS;
- at the server: robots.txt requests per host, most requests in flight to one host, the
  smallest gap between a request's end and the same host's next request, and the server's
  own CPU seconds (it runs on the same cores as the crawl);
- the floors no crawler beats here: politeness (largest host's URLs x delay) and CPU
  (N x bare trafilatura CPU per page on the same pages / cores); efficiency =
  max(floors) / wall;
- machine load (os.getloadavg) and the CPU other processes used meanwhile (the machine
  may be shared: the CPU floor assumes the cores are ours).

    .venv/bin/python bench/bench_crawl_scale.py [--urls 20000] [--hosts N/5]
        [--exponent 0.8] [--cluster] [--label NAME]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from tests.many_hosts import (  # noqa: E402
    ManyHostServer,
    article_page,
    host_names,
    site_urls,
    write_dump,
    zipf_sizes,
)

RESULTS = REPO / "bench" / "results" / "crawl_scale.json"


# ------------------------------------------------------------------ measuring
class TreeSampler:
    """Peak RSS and CPU seconds of a set of process trees, sampled in a thread."""

    def __init__(self, roots, exclude: set[int], interval: float = 0.25):
        self.roots, self.exclude, self.interval = roots, exclude, interval
        self.cpu: dict[tuple[int, float], float] = {}  # (pid, create_time) -> last cpu s
        self.base: dict[tuple[int, float], float] = {}
        self.peak_rss = 0
        self.peak_parts: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _procs(self) -> list[psutil.Process]:
        seen: dict[int, psutil.Process] = {}
        for root in self.roots():
            try:
                for proc in [root, *root.children(recursive=True)]:
                    if proc.pid not in self.exclude:
                        seen[proc.pid] = proc
            except psutil.Error:
                continue
        return list(seen.values())

    def sample(self) -> None:
        rss = 0
        parts: dict[str, int] = {}
        for proc in self._procs():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    key = (proc.pid, proc.create_time())
                    self.cpu[key] = times.user + times.system
                    mem = proc.memory_info().rss
                    name = _short_name(proc.cmdline())
            except psutil.Error:
                continue
            rss += mem
            parts[name] = parts.get(name, 0) + mem
        if rss > self.peak_rss:
            self.peak_rss = rss
            self.peak_parts = {k: round(v / 2**20) for k, v in sorted(parts.items())}

    def mark(self) -> None:
        """CPU counted from here on (processes alive now count only their further CPU)."""
        self.sample()
        self.base = dict(self.cpu)
        self.peak_rss = 0

    def cpu_seconds(self) -> float:
        return sum(v - self.base.get(k, 0.0) for k, v in self.cpu.items())

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> TreeSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def _short_name(cmdline: list[str]) -> str:
    """'ray::crawl_group', 'raylet', 'extraction worker', ... for the RSS breakdown."""
    text = " ".join(cmdline)
    if "child_main" in text:
        return "extraction worker"
    if "bench_crawl_scale" in text:
        return "driver"
    first = (cmdline[0] if cmdline else "?").split("/")[-1]
    if first.startswith("python") and len(cmdline) > 1:
        first = cmdline[1].split("/")[-1]
    return first[:40]


def busy_cpu_seconds() -> float:
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def bare_cpu_per_page(urls: list[str], sample: int) -> float:
    """CPU seconds of bare trafilatura.extract per page, on `sample` of the crawled pages."""
    from urllib.parse import urlsplit

    import trafilatura

    picked = random.Random(7).sample(urls, min(sample, len(urls)))
    pages = []
    for url in picked:
        parts = urlsplit(url)
        pages.append(article_page(parts.hostname or "", parts.path).decode("utf-8"))
    trafilatura.extract(pages[0])  # warm (imports, caches)
    start = time.process_time()
    for html in pages:
        trafilatura.extract(html)
    return (time.process_time() - start) / len(pages)


# ------------------------------------------------------------------ a Ray cluster
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_ports() -> list[str]:
    low = random.randrange(20_000, 30_000, 200)  # below the ephemeral range free_port uses
    flags = [
        "--node-manager-port",
        "--object-manager-port",
        "--dashboard-agent-listen-port",
        "--dashboard-agent-grpc-port",
        "--runtime-env-agent-port",
        "--metrics-export-port",
    ]
    out: list[str] = []
    for flag in flags:
        out += [flag, str(free_port())]
    return out + ["--min-worker-port", str(low), "--max-worker-port", str(low + 150)]


def set_auth_token() -> None:
    """Ray's token authentication, as a real cluster runs it: every node and the driver
    share the token (this process's environment, before ray is imported: Ray reads it then)."""
    import secrets

    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))


class TwoNodeCluster:
    """`ray start --head` + `ray start --address` on 127.0.0.1, one CPU each; stopped by pid
    (never `ray stop`: other Rays on the machine are not ours)."""

    def __init__(self, cpus_per_node: int = 1):
        self.cpus = cpus_per_node
        if os.environ.get("RAY_AUTH_MODE") != "token":
            raise RuntimeError("set_auth_token() before importing ray")
        self.temp = Path(tempfile.mkdtemp(prefix="rs18-", dir="/tmp"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"

    def _ray(self, *args: str) -> None:
        ray_bin = Path(sys.executable).with_name("ray")
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        proc = subprocess.run([str(ray_bin), "start", *args], env=env, capture_output=True,
                              text=True, timeout=180)  # fmt: skip
        if proc.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray start {' '.join(args)} failed:\n{proc.stderr[-3000:]}")

    def start(self) -> TwoNodeCluster:
        common = ["--node-ip-address", "127.0.0.1", "--num-cpus", str(self.cpus),
                  "--disable-usage-stats"]  # fmt: skip
        self._ray("--head", "--port", str(self.port), "--temp-dir", str(self.temp),
                  "--include-dashboard", "false", "--ray-client-server-port", str(free_port()),
                  *common, *node_ports())  # fmt: skip
        self._ray("--address", self.address, *common, *node_ports())
        return self

    def processes(self) -> list[psutil.Process]:
        mine = []
        for proc in psutil.process_iter(["cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or [])
            if str(self.temp) in cmd or f"127.0.0.1:{self.port}" in cmd:
                mine.append(proc)
        return mine

    def nodes(self) -> int:
        import ray

        return sum(1 for n in ray.nodes() if n["Alive"])

    def stop(self) -> None:
        procs: dict[int, psutil.Process] = {}
        for proc in self.processes():
            procs[proc.pid] = proc
            try:
                for child in proc.children(recursive=True):
                    procs[child.pid] = child
            except psutil.Error:
                pass
        procs.pop(os.getpid(), None)
        for proc in procs.values():
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(list(procs.values()), timeout=10)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        shutil.rmtree(self.temp, ignore_errors=True)


# ------------------------------------------------------------------ one run
def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if args.cluster:
        set_auth_token()
    import ray

    from pipelines import crawl, harvest
    from webtext.config import build_config

    hosts_n = args.hosts or max(1, args.urls // 5)
    sizes = zipf_sizes(args.urls, hosts_n, args.exponent)
    hosts = host_names(hosts_n, seed=os.getpid())
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-crawl-scale-"))
    server = ManyHostServer(hosts, tmp / "server.json").start()
    cluster = TwoNodeCluster().start() if args.cluster else None
    try:
        urls = site_urls(hosts, sizes, server.port)
        dump = tmp / "RS_2019-06.ndjson"
        write_dump(dump, urls)
        bare_before = bare_cpu_per_page(urls, args.bare_sample // 2)
        ray_cfg: dict[str, Any] = {"num_cpus": args.cpus}
        if cluster is not None:
            ray.init(address=cluster.address, logging_level="ERROR")
            ray_cfg = {"address": cluster.address}
        else:
            ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="ERROR")
        cfg = build_config(
            {
                "run_dir": str(tmp / "run"),
                "ray": ray_cfg,
                "source": {"pushshift": [str(dump)]},
                "harvest": {"num_partitions": args.partitions},
                "fetch": {"allow_networks": ["127.0.0.0/8"], "per_host_delay": args.delay},
                "extract": {"extractor": "trafilatura"},
            }
        )
        me = psutil.Process()

        def roots() -> list[psutil.Process]:
            return [me, *(cluster.processes() if cluster else [])]

        sampler = TreeSampler(roots, exclude={server.pid}).start()
        start = time.perf_counter()
        harvest.run(cfg)
        harvest_s = time.perf_counter() - start
        harvest_rss = sampler.peak_rss
        nodes = cluster.nodes() if cluster else 1
        sampler.mark()
        busy0, server_cpu0 = busy_cpu_seconds(), psutil.Process(server.pid).cpu_times()
        start = time.perf_counter()
        stats = crawl.run(cfg)
        wall = time.perf_counter() - start
        sampler.stop()
        busy = busy_cpu_seconds() - busy0
        server_cpu1 = psutil.Process(server.pid).cpu_times()
        server_crawl_cpu = (server_cpu1.user + server_cpu1.system) - (
            server_cpu0.user + server_cpu0.system
        )
        load_after = os.getloadavg()
        ray.shutdown()
    finally:
        seen = server.stop()
        if cluster is not None:
            cluster.stop()
    bare_after = bare_cpu_per_page(urls, args.bare_sample - args.bare_sample // 2)
    shutil.rmtree(tmp, ignore_errors=True)

    cores = os.cpu_count() or 1
    bare = (bare_before + bare_after) / 2
    tree_cpu = sampler.cpu_seconds()
    polite_floor = sizes[0] * args.delay
    cpu_floor = args.urls * bare / cores
    others = max(0.0, busy - tree_cpu - server_crawl_cpu)
    ok = stats.get("status.ok", 0)
    return {
        "urls": args.urls,
        "hosts": hosts_n,
        "zipf_exponent": args.exponent,
        "largest_host_urls": sizes[0],
        "hosts_with_1_or_2_urls": sum(1 for s in sizes if s <= 2),
        "per_host_delay_s": args.delay,
        "link_shards": args.partitions,
        "ray": f"two-node cluster ({nodes} nodes alive)" if cluster else f"local, {args.cpus} CPUs",
        "code": subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),  # fmt: skip
        "crawl_tasks": stats.get("tasks"),
        "harvest_s": round(harvest_s, 1),
        "crawl_wall_s": round(wall, 1),
        "pages_per_s": round(args.urls / wall, 2),
        "status": {k[len("status.") :]: v for k, v in stats.items() if k.startswith("status.")},
        "all_ok": ok == args.urls,
        "crawl_cpu_s_per_page": round(tree_cpu / args.urls, 4),
        "crawl_tree_cpu_s": round(tree_cpu, 1),
        "peak_rss_mb_process_tree_crawl": round(sampler.peak_rss / 2**20),
        "peak_rss_mb_by_process_kind": sampler.peak_parts,
        "peak_rss_mb_process_tree_harvest": round(harvest_rss / 2**20),
        "server": {
            **seen,
            "cpu_s_during_crawl": round(server_crawl_cpu, 1),
            "cpu_s_per_page": round(server_crawl_cpu / args.urls, 4),
        },
        "bare_trafilatura_cpu_s_per_page": round(bare, 4),
        "bare_per_page_before_after": [round(bare_before, 4), round(bare_after, 4)],
        "politeness_floor_s": round(polite_floor, 1),
        "cpu_floor_s": round(cpu_floor, 1),
        "cpu_floor_with_server_s": round(cpu_floor + server_crawl_cpu / cores, 1),
        "efficiency": round(max(polite_floor, cpu_floor) / wall, 3),
        # the machine is shared: the crawl's own CPU over the cores other processes left it
        # is the CPU floor of this run as it ran (a diagnostic, not the floor)
        "crawl_cpu_floor_at_cores_left_s": round(tree_cpu / max(cores - others / wall, 0.1), 1),
        "efficiency_at_cores_left": round(
            max(polite_floor, tree_cpu / max(cores - others / wall, 0.1)) / wall, 3
        ),
        "machine": {
            "cores": cores,
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after],
            "other_processes_cpu_s_during_crawl": round(others, 1),
            "other_processes_cores_avg": round(others / wall, 2),
            "python": platform.python_version(),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=20_000)
    parser.add_argument("--hosts", type=int, default=0, help="default: urls / 5")
    parser.add_argument("--exponent", type=float, default=0.8, help="Zipf exponent of sizes")
    parser.add_argument("--delay", type=float, default=0.5, help="fetch.per_host_delay")
    parser.add_argument("--partitions", type=int, default=16, help="harvest.num_partitions")
    parser.add_argument("--cpus", type=int, default=2, help="local Ray CPUs")
    parser.add_argument("--cluster", action="store_true", help="two-node Ray on 127.0.0.1")
    parser.add_argument("--bare-sample", type=int, default=400)
    parser.add_argument("--label", default=None, help="key in the results file")
    args = parser.parse_args()
    result = run(args)
    label = args.label or f"{'cluster' if args.cluster else 'local'}-{args.urls}"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    saved[label] = result
    RESULTS.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
    print(json.dumps({label: result}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
