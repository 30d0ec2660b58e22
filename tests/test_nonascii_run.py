"""Acceptance: a dump full of non-ASCII URLs, crawled by `webtext run` end to end.

Paths, queries and IDN hosts in the submissions; a server that redirects with raw UTF-8
`Location` headers (relative and to another IDN host) and answers with non-ASCII reason
phrases. The IDN hosts reach the local server through `fetch.resolve` (host -> IP, as
curl's --resolve), the real config key, not a patched resolver.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
import yaml
import zstandard
from warcio.archiveiterator import ArchiveIterator

from tests.hostile_server import HostileServer, page, redirect, respond
from webtext.uri import parse

REPO = Path(__file__).resolve().parents[1]

SENTENCES = [
    "The harbour authority approved a plan to rebuild the old stone pier before winter.",
    "Local fishermen said the work would finally protect their boats from the storms.",
    "Engineers expect the first stage to take about eight months and cost less than feared.",
    "A small museum near the market will tell the story of the port and its families.",
    "Volunteers have already collected letters, photographs and maps from the last century.",
    "The council also promised new bicycle lanes along the river towards the train station.",
    "Shop owners welcomed the idea but asked for fewer road closures during the summer.",
    "Teachers at the primary school plan lessons about tides, weather and safe swimming.",
    "Several residents wrote that the town needs more affordable homes for young workers.",
    "The mayor answered that a housing survey will be published early next spring.",
    "Birdwatchers reported that rare terns have returned to the marsh after many years.",
    "Scientists from the university will count the nests and study what the birds eat.",
]


def article(i: int, title: str) -> str:
    order = SENTENCES[i % 12 :] + SENTENCES[: i % 12]
    paras = "".join(
        f"<p>In report {i}, {s[0].lower()}{s[1:]} {order[(k + 5) % 12]}</p>"
        for k, s in enumerate(order)
    )
    return (
        f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><article>"
        f"<h1>{title}</h1>{paras}</article></body></html>"
    )


@pytest.mark.ray
@pytest.mark.slow
def test_non_ascii_dump_crawls_ok_and_warcs_parse(tmp_path):
    run_dir = tmp_path / "run"
    with HostileServer() as srv:
        port = srv.port
        srv.route(
            "/robots.txt",
            respond(200, "# robots für alle\nUser-agent: *\nAllow: /\n".encode(),
                    content_type=b"text/plain; charset=utf-8"),
        )  # fmt: skip
        targets = {  # raw request target (as the fetcher sends it) -> route
            "/ok/caf%C3%A9": page(article(1, "Café")),
            "/search?q=%E6%97%A5%E6%9C%AC%E8%AA%9E&x=%C3%BC": page(article(2, "Search")),
            "/stra%C3%9Fe/%C3%BCbersicht": page(article(3, "Straße")),
            "/already-punycode": page(article(4, "Punycode")),
            "/%E8%A8%98%E4%BA%8B?id=%EF%BC%91": page(article(5, "Kiji")),
            "/moved": redirect("/destino/añejo?q=ñ", reason="Encontrado ✓"),
            "/destino/a%C3%B1ejo?q=%C3%B1": page(article(6, "Destino")),
            "/reason": page(article(7, "Reason"), reason="Très bien — ça marche"),
            "/redirect-reason": redirect(
                f"http://例え.テスト:{port}/ziel/ü", code=301, reason="Déplacé définitivement"
            ),
            "/ziel/%C3%BC": page(article(8, "Ziel")),
            "/private-ok": page(article(9, "Private")),
        }
        for target, route in targets.items():
            srv.route(target, route)
        urls = [
            f"http://café.test:{port}/ok/café",
            f"http://café.test:{port}/search?q=日本語&x=ü#frag",
            f"http://bücher.test:{port}/straße/übersicht",
            f"http://xn--caf-dma.test:{port}/already-punycode",
            f"http://例え.テスト:{port}/記事?id=１",
            f"http://café.test:{port}/moved",
            f"http://bücher.test:{port}/reason",
            f"http://bücher.test:{port}/redirect-reason",
            f"http://user:pw-Never-Stored@café.test:{port}/private-ok",
        ]
        subs = [
            {"id": f"s{i}", "url": u, "score": 10 + i, "created_utc": 1_500_000_000 + i,
             "subreddit": "world", "is_self": False, "over_18": False, "title": f"t{i}"}
            for i, u in enumerate(urls)
        ]  # fmt: skip
        dump = tmp_path / "RS_nonascii.zst"
        data = b"\n".join(orjson.dumps(s) for s in subs) + b"\n"
        dump.write_bytes(zstandard.ZstdCompressor().compress(data))
        config = {
            "run_dir": str(run_dir),
            "ray": {"num_cpus": 2},
            "source": {"pushshift": [str(dump)]},
            "harvest": {"num_partitions": 2},
            "fetch": {
                "allow_networks": ["127.0.0.1/32"],
                "resolve": {"café.test": "127.0.0.1", "bücher.test": "127.0.0.1",
                            "例え.テスト": "127.0.0.1"},
                "per_host_delay": 0.0,
                "deadline": 10.0,
                "max_retries": 0,
            },
            "extract": {"extractor": "trafilatura"},
            "clean": {"min_tokens": 16},
            "tokenize": {"shard_tokens": 20_000, "val_fraction": 0.1},
        }  # fmt: skip
        cfg_path = tmp_path / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
        cmd = [sys.executable, "-m", "webtext.cli", "run", str(cfg_path)]
        first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert first.returncode == 0, first.stderr[-3000:]
        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0 and "nothing to do" in again.stderr, again.stderr[-2000:]
        requests = srv.requests

    def rows(folder: str) -> list[dict]:
        return [r for p in sorted((run_dir / folder).glob("part-*.parquet"))
                for r in pq.read_table(p).to_pylist()]  # fmt: skip

    links = rows("links")
    assert len(links) == len(urls)
    assert all(r["url"].isascii() and "pw-Never" not in r["url"] for r in links)
    originals = {r["url_original"] for r in links}
    assert f"http://café.test:{port}/ok/café" in originals  # the IRI as submitted
    assert f"http://café.test:{port}/private-ok" in originals  # minus its userinfo

    pages = rows("pages")
    assert {r["fetch_status"] for r in pages} == {"ok"}, [
        (r["url"], r["fetch_status"], r["error"]) for r in pages if r["fetch_status"] != "ok"
    ]
    assert len(pages) == len(urls)
    finals = {r["final_url"] for r in pages}
    assert f"http://xn--r8jz45g.xn--zckzah:{port}/ziel/%C3%BC" in finals
    assert f"http://xn--caf-dma.test:{port}/destino/a%C3%B1ejo?q=%C3%B1" in finals

    # WARC files parse with warcio end to end, header bytes as received, no credentials
    records = []
    for path in sorted((run_dir / "warc").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                rec.content_stream().read()
                records.append(rec)
    responses = [r for r in records if r.rec_type == "response"]
    targets = [r.rec_headers.get_header("WARC-Target-URI") for r in responses]
    host_files = [t for t in targets if t.endswith(("/robots.txt", "/.well-known/tdmrep.json"))]
    assert len(targets) - len(host_files) == len(urls) + 2  # 2 redirect hops
    # each host's robots.txt (a host's files are asked again when a redirect comes back to
    # it after the crawler let it go: how often depends on timing)
    robots_hosts = {parse(t).host for t in host_files if t.endswith("/robots.txt")}
    assert robots_hosts == {"xn--caf-dma.test", "xn--bcher-kva.test", "xn--r8jz45g.xn--zckzah"}
    blob = b"".join(gzip.decompress(p.read_bytes()) for p in (run_dir / "warc").iterdir())
    for phrase in ("Très bien — ça marche", "Déplacé définitivement", "Encontrado ✓"):
        assert f" {phrase}\r\n".encode() in blob
    assert "Location: /destino/añejo?q=ñ\r\n".encode() in blob
    assert b"pw-Never-Stored" not in blob and b"Authorization" not in blob
    assert all(b"pw-Never-Stored" not in r.head for r in requests)
    assert all("authorization" not in r.headers for r in requests)
    for path in run_dir.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".jsonl", ".html", ".txt", ".log"}:
            assert b"pw-Never-Stored" not in path.read_bytes(), path
