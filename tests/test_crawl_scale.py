"""The crawl at the web's shape, small: 500 URLs over 200 Zipf-sized hosts on one server.

Harvest of a generated Pushshift dump, then the crawl stage on Ray; the server (its own
process, tests/many_hosts.py) judges politeness: one robots.txt (and one tdmrep.json) per
host, never two
requests in flight to a host, never less than `per_host_delay` between a request's end and
the host's next one. Invariants, not timings (bench/bench_crawl_scale.py measures those).
"""

from __future__ import annotations

import os

import pyarrow.parquet as pq
import pytest

from pipelines import crawl, extract, harvest
from tests.many_hosts import ManyHostServer, host_names, site_urls, write_dump, zipf_sizes
from webtext.config import build_config
from webtext.paths import RunPaths

DELAY = 0.05


def test_zipf_sizes_shape():
    sizes = zipf_sizes(20_000, 4_000, 0.8)
    assert sum(sizes) == 20_000 and len(sizes) == 4_000 and min(sizes) >= 1
    assert sizes == sorted(sizes, reverse=True)
    assert 800 < sizes[0] < 1000  # the largest host: ~4.4% of the URLs
    with pytest.raises(ValueError, match="cannot share"):
        zipf_sizes(10, 11, 1.0)


@pytest.mark.ray
def test_many_hosts_polite_and_complete(ray_local, tmp_path):
    sizes = zipf_sizes(500, 200, 0.8)
    hosts = host_names(200, seed=os.getpid())
    with ManyHostServer(hosts, tmp_path / "server.json") as server:
        urls = site_urls(hosts, sizes, server.port)
        dump = tmp_path / "RS_2019-01.ndjson"
        write_dump(dump, urls)
        cfg = build_config(
            {
                "run_dir": str(tmp_path / "run"),
                "source": {"pushshift": [str(dump)]},
                "harvest": {"num_partitions": 4},
                "fetch": {
                    "allow_networks": ["127.0.0.0/8"],
                    "per_host_delay": DELAY,
                    "concurrency": 16,
                    "checkpoint_every": 40,
                },
                "extract": {"extractor": "trafilatura"},
            }
        )
        harvest.run(cfg)
        stats = crawl.run(cfg)
        seen = server.stop()
    extract.run(cfg)  # pages/ from the text the crawl extracted while fetching

    assert stats["urls"] == 500 and stats["status.ok"] == 500
    assert seen["hosts_contacted"] == 200 and seen["page_requests"] == 500
    assert seen["robots_per_host"] == {"1": 200}  # exactly one robots.txt per host
    assert seen["tdmrep_requests"] == 200 and seen["other_requests"] == 0
    assert seen["max_in_flight_per_host"] == 1
    assert seen["min_gap_end_to_start_s"] >= DELAY
    pages = RunPaths.of(cfg.run_dir).pages
    texts = []
    for path in sorted(pages.glob("part-*.parquet")):
        table = pq.read_table(path, columns=["canonical_url", "text"])
        keys = table.column("canonical_url").to_pylist()
        assert keys == sorted(keys)  # deterministic order inside each part file
        texts += table.column("text").to_pylist()
    assert len(set(texts)) == 500  # every page unique, every one extracted


def test_largest_host_first_and_state_dropped(tmp_path):
    """One thread, no delay: the largest host goes first and keeps the thread while its
    backlog is the largest; finished hosts leave no entry and no robots.txt policy."""
    from urllib.parse import urlsplit

    from webtext.config import FetchConfig
    from webtext.fetch import Crawler, Fetcher

    sizes = zipf_sizes(60, 12, 1.0)
    hosts = host_names(12, seed=os.getpid() + 1)
    with ManyHostServer(hosts, tmp_path / "server.json") as server:
        urls = site_urls(hosts, sizes, server.port)
        cfg = FetchConfig(allow_networks=["127.0.0.0/8"], per_host_delay=0.0, concurrency=1)
        with Fetcher(cfg) as fetcher:
            crawler = Crawler(fetcher, cfg)
            todo = sorted(urls)  # host order here is not size order
            order = [todo[i] for i, _ in crawler.run(todo)]
            assert crawler.hosts_tracked == 0
            assert len(fetcher.robots) == 0 and len(fetcher.tdmrep) == 0
        seen = server.stop()
    first = [urlsplit(u).hostname for u in order[: sizes[0] - sizes[1]]]
    assert first == [hosts[0]] * (sizes[0] - sizes[1])
    assert sorted(order) == sorted(urls)
    assert seen["robots_per_host"] == {"1": 12} and seen["max_in_flight_per_host"] == 1
    assert seen["tdmrep_requests"] == 12
