"""Benchmark: `webtext harvest` vs the bare loop it wraps, on one generated zstd dump.

    .venv/bin/python bench/bench_harvest.py [--n 2000000] [--rss-sizes 1000000,3000000]

1. generates N Pushshift-like submissions (the 58-field shape of real dumps, ~1.3 kB per
   line) into one `.zst` written with the 2 GiB window of the real monthly dumps;
2. times the bare loop: zstandard stream decompression + orjson.loads of every line;
3. times the stage function `pipelines.harvest.run` on the same file (Ray started before the
   clock, as `webtext run` does for every stage after the first) and prints the ratio of
   submissions/s (target >= 0.7);
4. for each size in --rss-sizes, runs the stage on a fresh Ray and records the peak RSS of
   every task process and of the driver (target < 2 GB, flat with size).

Writes bench/results/harvest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

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


def generate(path: Path, n: int, seed: int = 1) -> int:
    """N submissions: ~45% score >= 3, ~10% reposts, some self/NSFW/blocked/malformed."""
    rng = random.Random(seed)
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, threads=2)
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


def bare_loop(path: Path) -> int:
    """The floor: stream-decompress with zstandard, orjson.loads every line."""
    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
    loads = orjson.loads
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


def run_stage(dump: Path, run_dir: Path, num_cpus: int):
    from pipelines import harvest

    cfg = build_config(
        {
            "run_dir": str(run_dir),
            "ray": {"num_cpus": num_cpus},
            "source": {"pushshift": [str(dump)]},
        }
    )
    return harvest.run(cfg)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000, help="submissions for the ratio")
    parser.add_argument(
        "--rss-sizes", default="1000000,4000000", help="comma-separated sizes for peak RSS"
    )
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--workdir", default=None, help="where dumps go (default: a temp dir)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import logging

    import ray

    from webtext.progress import setup_logging

    setup_logging(logging.WARNING)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_harvest_"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"n": args.n, "num_cpus": args.num_cpus, "cpu_count": os.cpu_count()}

    dump = work / f"RS_bench_{args.n}.zst"
    if not dump.exists():
        t = time.perf_counter()
        size = generate(dump, args.n)
        print(
            f"generated {args.n:,} submissions, {size / 1e6:.0f} MB zst in {time.perf_counter() - t:.0f}s"
        )
    results["dump_mb"] = round(dump.stat().st_size / 1e6, 1)

    t = time.perf_counter()
    count = bare_loop(dump)
    bare_s = time.perf_counter() - t
    assert count == args.n, (count, args.n)

    ray.init(num_cpus=args.num_cpus, include_dashboard=False, logging_level=logging.WARNING)
    t = time.perf_counter()
    stats = run_stage(dump, work / "run_ratio", args.num_cpus)
    stage_s = time.perf_counter() - t
    ray.shutdown()
    assert stats["records_read"] == args.n
    results.update(
        bare_s=round(bare_s, 2),
        bare_per_s=round(args.n / bare_s),
        stage_s=round(stage_s, 2),
        stage_per_s=round(args.n / stage_s),
        ratio=round(bare_s / stage_s, 3),
        urls_kept=stats["urls_kept"],
        dropped=stats["dropped"],
    )
    print(
        f"bare zstandard+orjson: {args.n / bare_s:,.0f} subs/s ({bare_s:.1f}s); "
        f"webtext harvest: {args.n / stage_s:,.0f} subs/s ({stage_s:.1f}s); "
        f"ratio {bare_s / stage_s:.2f} (target >= 0.7)"
    )

    rss = []
    for size in [int(s) for s in args.rss_sizes.split(",") if s.strip()]:
        path = work / f"RS_bench_{size}.zst"
        if not path.exists():
            generate(path, size)
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, logging_level=logging.WARNING)
        t = time.perf_counter()
        st = run_stage(path, work / f"run_rss_{size}", args.num_cpus)
        elapsed = time.perf_counter() - t
        ray.shutdown()
        driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        row = {
            "submissions": size,
            "seconds": round(elapsed, 1),
            "urls_kept": st["urls_kept"],
            "peak_task_rss_mb": st["peak_task_rss_mb"],
            "driver_rss_mb": round(driver, 1),
        }
        rss.append(row)
        print(
            f"{size:>11,} submissions: {elapsed:6.1f}s, {st['urls_kept']:,} URLs, "
            f"peak task RSS {st['peak_task_rss_mb']:.0f} MB, driver {driver:.0f} MB"
        )
    results["rss"] = rss
    out = REPO / "bench" / "results" / "harvest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
