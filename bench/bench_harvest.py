"""Benchmark: `webtext harvest` vs the bare loop it wraps, on the same generated zstd dumps.

    .venv/bin/python bench/bench_harvest.py [--n 4000000] [--files 2] [--rss-sizes 10000000]

1. generates N Pushshift-like submissions (the field set of 2017 dumps, ~1.2 kB per line)
   into `--files` monthly `.zst` dumps written with the 2 GiB window of the real ones;
2. times the bare loop on each file: zstandard stream decompression + parsing every line
   into Python objects, with orjson and with msgspec (the parser webtext uses); the faster
   of the two is the floor the ratios use (one process, one file after the other);
3. times the stage function `pipelines.harvest.run` (Ray started before the clock, as in
   `webtext run`) on the first file alone (one map task: the per-core cost) and on all files
   (one map task per file in parallel, the way the stage is meant to run), and prints the
   submissions/s ratios (target >= 0.7);
4. runs the stage on bigger single files (--rss-sizes, default zstd window unless
   --rss-window-log 31) in a fresh driver process and reports the peak RSS of every Ray
   task process and of that driver (target < 2 GB, flat with size). A --long=31 dump needs
   its 2 GiB window on top, in any decoder (the bare loop's RSS shows it).

Writes bench/results/harvest.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import msgspec  # noqa: E402
import orjson  # noqa: E402
import zstandard  # noqa: E402

from webtext.config import build_config  # noqa: E402

SUBREDDITS = ["news", "worldnews", "science", "technology", "politics", "programming", "nsfw"]
DOMAINS = [f"site{i}.com" for i in range(5000)] + ["en.wikipedia.org", "i.imgur.com"]
BASE = {  # the fields of a 2017 Pushshift submission, values typical of real ones
    "archived": False, "author_flair_background_color": None, "author_flair_css_class": None,
    "author_flair_richtext": [], "author_flair_text": None, "author_flair_text_color": None,
    "author_flair_type": "text", "brand_safe": True, "can_gild": True, "contest_mode": False,
    "distinguished": None, "edited": False, "gilded": 0, "hidden": False, "hide_score": False,
    "is_crosspostable": True, "is_reddit_media_domain": False, "is_video": False,
    "link_flair_css_class": None, "link_flair_richtext": [], "link_flair_text": None,
    "link_flair_text_color": "dark", "link_flair_type": "text", "locked": False, "media": None,
    "media_embed": {}, "no_follow": False, "num_crossposts": 0,
    "parent_whitelist_status": "all_ads", "rte_mode": "markdown", "secure_media": None,
    "secure_media_embed": {}, "selftext": "", "send_replies": True, "spoiler": False,
    "stickied": False, "subreddit_type": "public", "suggested_sort": None,
    "thumbnail": "default", "thumbnail_height": None, "thumbnail_width": None,
    "whitelist_status": "all_ads",
}  # fmt: skip


def generate(path: Path, n: int, seed: int = 1, window_log: int = 31) -> int:
    """N submissions: ~29% score >= 3, ~10% reposts, some self posts, NSFW, blocked hosts."""
    rng = random.Random(seed)
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=window_log, threads=2)
    cctx = zstandard.ZstdCompressor(compression_params=params)
    t0 = 1_483_228_800
    with open(path, "wb") as fh, cctx.stream_writer(fh) as out:
        buf = []
        for i in range(n):
            sub = SUBREDDITS[i % len(SUBREDDITS)]
            repost = i > 10 and rng.random() < 0.1
            j = rng.randrange(i) if repost else i
            domain = DOMAINS[j % len(DOMAINS)]
            rec = dict(BASE)
            sid = f"{i:x}"
            rec.update(
                id=sid,
                name=f"t3_{sid}",
                author=f"user{rng.randrange(10**6)}",
                created_utc=t0 + i // 4,
                retrieved_on=t0 + i // 4 + 86400,
                domain=domain,
                is_self=sub == "politics" and i % 3 == 0,
                over_18=sub == "nsfw",
                num_comments=rng.randrange(500),
                permalink=f"/r/{sub}/comments/{sid}/some_title_words_here/",
                score=int(rng.paretovariate(0.9)) - 1,
                subreddit=sub,
                subreddit_id=f"t5_{i % 97:x}",
                subreddit_name_prefixed=f"r/{sub}",
                title=f"Title of submission {i} about {rng.randrange(10**9)} things",
                url=f"https://www.{domain}/2017/{j % 12 + 1:02d}/article-{j}.html?utm_source=reddit",
            )
            buf.append(orjson.dumps(rec))
            if len(buf) == 10_000:
                out.write(b"\n".join(buf) + b"\n")
                buf = []
        if buf:
            out.write(b"\n".join(buf) + b"\n")
    return path.stat().st_size


def bare_loop(path: Path, parser: str = "orjson") -> int:
    """The floor: stream-decompress with zstandard, parse every line into Python objects
    with `parser` (orjson, or msgspec: the parser webtext's map uses, untyped here)."""
    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
    loads = orjson.loads if parser == "orjson" else msgspec.json.Decoder().decode
    n = 0
    rest = b""
    with open(path, "rb") as fh:
        reader = dctx.stream_reader(fh, read_size=1 << 18)
        while True:
            chunk = reader.read(1 << 20)
            if not chunk:
                break
            lines = chunk.split(b"\n")
            lines[0] = rest + lines[0]
            rest = lines.pop()
            for line in lines:
                loads(line)
                n += 1
    if rest.strip():
        loads(rest)
        n += 1
    return n


def run_stage(dumps: list[Path], run_dir: Path, num_cpus: int):
    from pipelines import harvest

    cfg = build_config(
        {
            "run_dir": str(run_dir),
            "ray": {"num_cpus": num_cpus},
            "source": {"pushshift": [str(d) for d in dumps]},
        }
    )
    return harvest.run(cfg)


def dumps_for(work: Path, n: int, files: int, window_log: int = 31) -> list[Path]:
    """`files` monthly dumps holding n submissions together (generated once, then reused)."""
    paths = []
    for f in range(files):
        path = work / f"RS_bench_{n}_{f + 1}of{files}_w{window_log}.zst"
        if not path.exists():
            t = time.perf_counter()
            # in a child process: the multithreaded 2 GiB-window compressor takes GBs of
            # memory, which would otherwise count in the driver's peak RSS
            child = multiprocessing.get_context("spawn").Process(
                target=generate, args=(path, n // files, f + 1, window_log)
            )
            child.start()
            child.join()
            if child.exitcode != 0:
                raise RuntimeError(f"generating {path} failed")
            size = path.stat().st_size
            print(f"generated {path.name}: {size / 1e6:.0f} MB in {time.perf_counter() - t:.0f}s")
        paths.append(path)
    return paths


def timed_stage(paths: list[Path], run_dir: Path, num_cpus: int) -> tuple[float, dict, float]:
    """Stage wall time on a fresh local Ray (started before the clock), its stats, driver RSS."""
    import logging

    import ray

    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, never "already done"
    ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING)
    try:
        t = time.perf_counter()
        stats = run_stage(paths, run_dir, num_cpus)
        elapsed = time.perf_counter() - t
    finally:
        ray.shutdown()
    from webtext.reddit.spill import peak_rss_mb

    return elapsed, stats, peak_rss_mb()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=4_000_000, help="submissions for the ratio (2M per file)"
    )
    parser.add_argument("--files", type=int, default=2, help="monthly dumps the n are split into")
    parser.add_argument(
        "--rss-sizes", default="10000000", help="extra single-file sizes for the peak RSS table"
    )
    parser.add_argument(
        "--rss-window-log",
        type=int,
        default=0,
        help="zstd window log of the --rss-sizes dumps (0: level default, 2 MiB; 31: 2 GiB)",
    )
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--bare-rss", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--stage-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None, help="where dumps go (default: a temp dir)")
    args = parser.parse_args()
    if args.bare_rss:  # child mode: the bare loop's own peak RSS, in a fresh process
        from webtext.reddit.spill import peak_rss_mb

        bare_loop(Path(args.bare_rss))
        print(peak_rss_mb())
        return 0
    if args.stage_child:  # child mode: the stage in a fresh driver, for an honest driver RSS
        dump, run_dir = args.stage_child.split(",")
        seconds, stats, driver = timed_stage([Path(dump)], Path(run_dir), args.num_cpus)
        print(json.dumps({"seconds": seconds, "stats": stats, "driver": driver}))
        return 0
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import logging

    from webtext.progress import setup_logging

    setup_logging(logging.WARNING)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_harvest_"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"n": args.n, "files": args.files, "num_cpus": args.num_cpus}
    results["load_average_at_start"] = os.getloadavg()[0]
    paths = dumps_for(work, args.n, args.files)
    results["dump_mb"] = round(sum(p.stat().st_size for p in paths) / 1e6, 1)

    # the floor: each file with each parser; the faster parser is the one compared against
    bare_by_parser: dict[str, list[tuple[float, float]]] = {}
    for parser in ("orjson", "msgspec"):
        for path in paths:
            t, c = time.perf_counter(), time.process_time()
            count = bare_loop(path, parser)
            bare_by_parser.setdefault(parser, []).append(
                (time.perf_counter() - t, time.process_time() - c)
            )
            assert count == args.n // args.files, count
    fastest = min(bare_by_parser, key=lambda k: sum(w for w, _ in bare_by_parser[k]))
    bare = [w for w, _ in bare_by_parser[fastest]]
    bare_cpu = [c for _, c in bare_by_parser[fastest]]
    for parser, times in bare_by_parser.items():
        total = sum(w for w, _ in times)
        print(f"bare loop, zstandard + {parser}: {args.n / total:,.0f} submissions/s")
    one = args.n // args.files
    rows = []

    # 1) one dump file: one map task, the bare loop on the same file
    s1, st1, d1 = timed_stage(paths[:1], work / "run_1file", args.num_cpus)
    rows.append({"submissions": one, "files": 1, "seconds": s1, "stats": st1, "driver": d1})
    ratio1 = bare[0] / s1
    cpu_ratio1 = bare_cpu[0] / st1["task_cpu_s"]
    print(
        f"1 file, {one:,} submissions: bare zstandard+{fastest} {one / bare[0]:,.0f}/s "
        f"({bare[0]:.1f}s), webtext harvest {one / s1:,.0f}/s ({s1:.1f}s): ratio {ratio1:.2f}; "
        f"CPU seconds {bare_cpu[0]:.1f} vs {st1['task_cpu_s']:.1f}: ratio {cpu_ratio1:.2f}"
    )
    # 2) every file: one map task per file in parallel; the bare loop reads them one by one
    ratio_all = None
    if len(paths) > 1:
        sa, sta, da = timed_stage(paths, work / "run_all", args.num_cpus)
        rows.append(
            {"submissions": args.n, "files": len(paths), "seconds": sa, "stats": sta, "driver": da}
        )
        ratio_all = sum(bare) / sa
        print(
            f"{len(paths)} files, {args.n:,} submissions: bare {args.n / sum(bare):,.0f}/s "
            f"({sum(bare):.1f}s), webtext harvest {args.n / sa:,.0f}/s ({sa:.1f}s): "
            f"ratio {ratio_all:.2f} (target >= 0.7)"
        )
    results.update(
        bare_parser=fastest,
        bare_per_s={k: round(args.n / sum(w for w, _ in v)) for k, v in bare_by_parser.items()},
        bare_s=[round(b, 2) for b in bare],
        bare_cpu_s=[round(b, 2) for b in bare_cpu],
        cpu_ratio_one_file=round(cpu_ratio1, 3),
        ratio_one_file=round(ratio1, 3),
        ratio_all_files=round(ratio_all, 3) if ratio_all else None,
    )

    # 3) peak RSS at bigger sizes (single file: the map task streams, reduce buckets grow)
    for size in [int(x) for x in args.rss_sizes.split(",") if x.strip()]:
        path = dumps_for(work, size, 1, args.rss_window_log)
        child = subprocess.run(
            [sys.executable, __file__, "--num-cpus", str(args.num_cpus),
             "--stage-child", f"{path[0]},{work / f'run_rss_{size}'}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        measured = json.loads(child.stdout.strip().splitlines()[-1])
        s, st, d = measured["seconds"], measured["stats"], measured["driver"]
        bare_rss = float(
            subprocess.run(
                [sys.executable, __file__, "--bare-rss", str(path[0])],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[-1]
        )
        rows.append(
            {
                "submissions": size,
                "files": 1,
                "seconds": s,
                "stats": st,
                "driver": d,
                "bare_rss": bare_rss,
            }
        )
    table = []
    for row in rows:
        st = row["stats"]
        table.append(
            {
                "submissions": row["submissions"],
                "files": row["files"],
                "seconds": round(row["seconds"], 1),
                "per_s": round(row["submissions"] / row["seconds"]),
                "urls_kept": st["urls_kept"],
                "peak_task_rss_mb": st["peak_task_rss_mb"],
                "task_cpu_s": st.get("task_cpu_s"),
                "driver_rss_mb": round(row["driver"], 1),
                "bare_loop_rss_mb": row.get("bare_rss"),
            }
        )
        print(
            f"{row['submissions']:>11,} submissions / {row['files']} file(s): "
            f"{row['seconds']:6.1f}s, {st['urls_kept']:,} URLs, peak task RSS "
            f"{st['peak_task_rss_mb']:.0f} MB, driver {row['driver']:.0f} MB"
        )
    results["runs"] = table
    results["load_average_at_end"] = os.getloadavg()[0]
    out = REPO / "bench" / "results" / "harvest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
