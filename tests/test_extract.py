"""Extraction: the Extractor interface, time limits and crash isolation, offline newspaper,
and quality on the shared article benchmark."""

from __future__ import annotations

import http.server
import importlib.util
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from webtext.config import ExtractConfig
from webtext.extract import Extractor, ExtractResult
from webtext.extract.ensemble import interior_fill, readability_vote, vote

BODY = [
    "The committee met on Tuesday to discuss the long-delayed proposal for a new bridge "
    "across the river, which has been debated by residents for more than a decade.",
    "Engineers presented three designs, each with different costs and construction "
    "timelines, and the members asked detailed questions about the environmental impact.",
    "A final vote is expected next month, after a public hearing where citizens can "
    "comment on the plans and suggest changes to the preferred design.",
]


def article_page(title: str = "Bridge vote delayed again") -> str:
    paragraphs = "\n".join(f"<p>{p}</p>" for p in BODY)
    return f"""<!DOCTYPE html><html><head><title>{title}</title></head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
<li><a href="/sports">Sports</a></li><li><a href="/login">Sign in to your account</a></li>
</ul></nav></header>
<main><article><h1>{title}</h1>{paragraphs}</article>
<aside class="related"><h3>Related stories</h3><ul>
<li><a href="/a">Mayor opens new playground downtown</a></li>
<li><a href="/b">Ten recipes for the long weekend</a></li></ul></aside></main>
<footer><p>Copyright 2024 Example Media Group. All rights reserved.</p>
<a href="/privacy">Privacy policy</a> <a href="/terms">Terms of use</a></footer>
</body></html>"""


# ---------------------------------------------------------- helpers run in the worker
def misbehaving(html: str, url: str) -> tuple[str, str | None]:
    """A stand-in extractor that hangs, crashes or raises when the page asks it to."""
    if "HANG" in html:
        time.sleep(3600)
    if "SEGV" in html:
        os.kill(os.getpid(), signal.SIGSEGV)
    if "RAISE" in html:
        raise ValueError("bad markup")
    if "CONNECT" in html:
        import socket

        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=2):
            pass
    return f"ok {len(html)}", "title"


def newspaper_fetching_images(html: str, url: str) -> tuple[str, str | None]:
    """newspaper3k with its library defaults (fetch_images=True), for the offline check."""
    from newspaper import Article

    article = Article(url)
    article.set_html(html)
    article.parse()
    return article.text, article.title


def _alive(pid: int, zombie_ok: bool = False) -> bool:
    """True if `pid` runs. A zombie fails the test: our workers must be reaped, unless
    `zombie_ok` (an orphan whose reaping is up to PID 1, not to us)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    if state == "Z" and not zombie_ok:
        pytest.fail(f"process {pid} is a zombie")
    return state != "Z"


@pytest.fixture(scope="module")
def default_extractor():
    """The default configuration (combined, in a worker process), shared to save start-ups."""
    with Extractor(ExtractConfig()) as extractor:
        yield extractor


@pytest.fixture(scope="module")
def misbehaving_extractor():
    cfg = ExtractConfig(timeout=1.5)
    with Extractor(cfg, function="tests.test_extract:misbehaving") as extractor:
        yield extractor


# ------------------------------------------------------------------------- interface
@pytest.mark.parametrize(
    "mode", ["combined", "trafilatura", "readability", "resiliparse", "newspaper", "ensemble"]
)
def test_title_and_body_extracted_boilerplate_dropped(mode, default_extractor):
    url = "https://news.example.com/2024/bridge"
    if mode == "combined":  # the default, through its worker process
        result = default_extractor.extract(article_page(), url)
    else:  # the same methods in-process (their worker path is covered below)
        result = Extractor(ExtractConfig(extractor=mode, isolation="inline")).extract(
            article_page(), url
        )
    assert isinstance(result, ExtractResult)
    assert result.error is None
    assert result.extractor == mode
    assert result.title == "Bridge vote delayed again"
    for paragraph in BODY:
        assert paragraph in result.text
    for boilerplate in ("Sign in", "Copyright", "Privacy policy", "Ten recipes"):
        assert boilerplate not in result.text


def test_inline_and_process_isolation_agree(default_extractor):
    page, url = article_page("Inline check"), "https://example.org/x"
    inline = Extractor(ExtractConfig(isolation="inline")).extract(page, url)
    isolated = default_extractor.extract(page, url)
    assert inline == isolated
    assert BODY[1] in inline.text


def test_empty_and_junk_input_is_an_empty_result_not_an_exception(default_extractor):
    pages = default_extractor.stats["pages"]
    for junk in ("", "<html><body><script>var a = 1;</script></body></html>", None):
        result = default_extractor.extract(junk, "http://e.com/")
        assert result.text == "" and result.title is None
    assert default_extractor.stats["pages"] == pages + 3
    short = "<html><body><article><p>Too short to keep.</p></article></body></html>"
    strict = Extractor(ExtractConfig(min_chars=50, isolation="inline"))
    assert strict.extract(short, "http://e.com/").text == ""
    assert strict.stats["empty"] == 1


# ------------------------------------------------------------ time limit and crashes
def test_hanging_page_times_out_and_worker_recovers(misbehaving_extractor):
    extractor = misbehaving_extractor
    assert extractor.extract("<p>warm</p>", "http://e.com/").text.startswith("ok")
    old_pid = extractor._worker.pid
    started = time.monotonic()
    result = extractor.extract("<p>HANG</p>", "http://e.com/hang")
    elapsed = time.monotonic() - started
    assert result.text == "" and result.error.startswith("timeout")
    assert elapsed < 1.5 + 1.0, elapsed
    assert not _alive(old_pid)  # killed and reaped
    after = extractor.extract("<p>fine again</p>", "http://e.com/next")
    assert after.error is None and after.text.startswith("ok")
    assert extractor._worker.pid != old_pid
    assert extractor.stats["timeouts"] == 1


def test_crashing_page_is_isolated_and_worker_recovers(misbehaving_extractor):
    extractor = misbehaving_extractor
    crashes = extractor.stats["crashes"]
    result = extractor.extract("<p>SEGV</p>", "http://e.com/segv")
    assert result.text == "" and result.error.startswith("crash")
    assert extractor.stats["crashes"] == crashes + 1
    assert extractor.extract("<p>next</p>", "http://e.com/").text.startswith("ok")


def test_exception_in_extractor_is_an_error_and_keeps_the_worker(misbehaving_extractor):
    extractor = misbehaving_extractor
    pid = extractor._worker.pid
    result = extractor.extract("<p>RAISE</p>", "http://e.com/")
    assert result.text == "" and "ValueError: bad markup" in result.error
    assert extractor._worker.pid == pid
    assert extractor.extract("<p>again</p>", "http://e.com/").error is None


def test_pathological_page_with_real_extractor_is_cut_off(default_extractor):
    # a 60k-row table costs the default extractor ~3 s on an idle machine (20k rows took
    # ~1 s, right at the budget): far over this page budget
    rows = "".join(f"<tr><td>cell {i} text</td><td>more words</td></tr>" for i in range(60_000))
    slow = f"<html><body><table>{rows}</table></body></html>"
    default_extractor.extract("<p>x</p>", "http://e.com/")  # the start-up is not page time
    started = time.monotonic()
    result = default_extractor.extract(slow, "http://e.com/table", timeout=1.0)
    assert time.monotonic() - started < 2.0
    assert result.error.startswith("timeout") and result.text == ""
    good = default_extractor.extract(article_page(), "http://e.com/good")
    assert good.error is None and BODY[0] in good.text


def test_close_reaps_worker_recycles_and_extractor_pickles():
    cfg = ExtractConfig(timeout=5, worker_max_pages=2)
    extractor = Extractor(cfg, function="tests.test_extract:misbehaving")
    extractor.extract("<p>x</p>", "http://e.com/")
    pid = extractor._worker.pid
    extractor.extract("<p>y</p>", "http://e.com/")
    assert extractor._worker.pid == pid
    extractor.extract("<p>z</p>", "http://e.com/")  # third page: a recycled worker
    assert extractor._worker.pid != pid and not _alive(pid)
    assert extractor.stats["worker_starts"] == 2 and extractor.stats["errors"] == 0
    pid = extractor._worker.pid
    clone = pickle.loads(pickle.dumps(extractor))
    try:
        assert clone.cfg == extractor.cfg and clone._worker.pid != pid
        assert clone.extract("<p>abc</p>", "http://e.com/").text == "ok 10"
    finally:
        clone.close()
    extractor.close()
    extractor.close()  # idempotent
    assert not _alive(pid)
    with pytest.raises(RuntimeError, match="closed"):
        extractor.extract("<p>x</p>", "http://e.com/")


def test_every_choice_runs_in_the_worker_with_limits():
    """readability-lxml and Resiliparse (C++) run in the same killable worker: memory cap,
    time limit and the network guard apply to them like to the others."""
    for mode in ("readability", "resiliparse"):
        with Extractor(ExtractConfig(extractor=mode, timeout=30)) as extractor:
            result = extractor.extract(article_page(), "https://news.example.com/a")
            assert result.error is None and BODY[1] in result.text, mode
            assert extractor._worker.pid is not None and extractor.stats["network_blocked"] == 0
            limits = Path(f"/proc/{extractor._worker.pid}/limits").read_text()
            line = next(x for x in limits.splitlines() if x.startswith("Max address space"))
            assert str(4096 * 1024 * 1024) in line, line
            # a page too big to process in the time limit is cut off, the worker replaced
            pid = extractor._worker.pid
            huge = "<html><body>" + "<div><p>word word word</p>" * 20_000 + "</body></html>"
            cut = extractor.extract(huge, "https://news.example.com/huge", timeout=0.01)
            assert cut.error.startswith("timeout") and cut.text == ""
            assert extractor.extract(article_page(), "https://e.com/").error is None
            assert extractor._worker.pid != pid


def test_wrong_extractor_name_is_a_config_error_listing_the_choices():
    from webtext.config import ConfigError, build_config

    with pytest.raises(ConfigError) as err:
        build_config({"extract": {"extractor": "readabilty"}})
    for choice in ("combined", "trafilatura", "readability", "resiliparse", "newspaper"):
        assert f"'{choice}'" in str(err.value)
    assert "extract.extractor" in str(err.value)
    assert (
        build_config({"extract": {"extractor": "resiliparse"}}).extract.extractor == "resiliparse"
    )
    assert ExtractConfig().extractor == "combined"


def test_bad_extractor_spec_fails_at_construction():
    with pytest.raises(ValueError, match="module:function"):
        Extractor(function="no_such_extractor")
    with pytest.raises(AttributeError):
        Extractor(function="tests.test_extract:no_such_function")


def test_worker_dies_with_its_parent(tmp_path):
    script = (
        "import sys, time\n"
        "from webtext.config import ExtractConfig\n"
        "from webtext.extract import Extractor\n"
        "e = Extractor(ExtractConfig(), function='tests.test_extract:misbehaving')\n"
        "e.extract('<p>x</p>', 'http://e.com/')\n"
        "print(e._worker.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.kill()  # SIGKILL: no cleanup code runs in the parent
        parent.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(child, zombie_ok=True):
            time.sleep(0.05)
        assert not _alive(child, zombie_ok=True)
    finally:
        parent.kill()
        parent.wait()


@pytest.mark.ray
def test_inside_a_ray_task_with_timeout_and_clean_shutdown(ray_local):
    @ray_local.remote
    def task(page: str) -> dict:
        cfg = ExtractConfig(timeout=1.5)
        with Extractor(cfg, function="tests.test_extract:misbehaving") as extractor:
            pids = [extractor._worker.pid]
            hang = extractor.extract("<p>HANG</p>", "http://e.com/")
            pids.append(extractor._worker.pid)
            ok = extractor.extract(page, "http://e.com/")
        return {"hang": hang.error, "ok": ok.text, "pids": pids}

    out = ray_local.get(task.remote(article_page()), timeout=120)
    assert out["hang"].startswith("timeout")
    assert out["ok"].startswith("ok")
    assert not any(_alive(pid) for pid in out["pids"])


# -------------------------------------------------------------------- offline check
class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server API
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)

    def log_message(self, *args):
        pass


@pytest.fixture()
def image_server():
    _CountingHandler.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _CountingHandler.hits
    server.shutdown()
    server.server_close()


def test_newspaper_never_touches_the_network(image_server, misbehaving_extractor):
    base, hits = image_server
    page = article_page().replace("<p>", f'<img src="{base}/inline.png" width="600"><p>', 1)
    url = f"{base}/article"
    with Extractor(ExtractConfig(extractor="newspaper", isolation="inline")) as extractor:
        assert BODY[0] in extractor.extract(page, url).text  # our configuration alone
    with Extractor(ExtractConfig(extractor="newspaper")) as extractor:
        result = extractor.extract(page, url)
        assert BODY[0] in result.text
        assert extractor.stats["network_blocked"] == 0
    assert hits == []
    # control: newspaper's own defaults do reach for the images; the worker's guard
    # refuses (and counts) the attempt, so the server still sees nothing
    with Extractor(ExtractConfig(), function="tests.test_extract:newspaper_fetching_images") as e:
        e.extract(page, url)
        assert e.stats["network_blocked"] > 0
    assert "PermissionError" in misbehaving_extractor.extract("<p>CONNECT</p>", base).error
    assert hits == []


# ----------------------------------------------------------------------------- vote
def test_vote_keeps_agreed_paragraphs_and_drops_unconfirmed_ones():
    base = "Share this story on social media now\n" + "\n".join(BODY) + "\nRead more"
    precision = "\n".join(BODY[:2])
    readability = BODY[2]
    assert vote(base, [readability, precision]) == "\n".join(BODY)
    assert vote(base, ["", ""]) == base  # empty voters abstain
    assert vote("", ["", precision]) == precision  # empty base: first voter with text


def test_vote_consults_expensive_voters_only_when_needed():
    calls = []

    def voter(text):
        return lambda: calls.append(text) or text

    full = "\n".join(BODY)
    assert vote(full, [voter(full), voter("never needed")]) == full
    assert calls == [full]
    # a stray caption (< 5% of the words) left unconfirmed does not cost another voter
    assert vote(full + "\nPhoto: Jane Doe", [voter(full), voter("Photo: Jane Doe")]) == full
    assert calls == [full, full]
    # a large unconfirmed part does
    assert vote(full + "\n" + BODY[0][::-1], [voter(full), voter(BODY[0][::-1])]).count("\n") == 3


def test_combined_vote_asks_trafilatura_only_when_needed():
    calls = []

    def lazy(name, text):
        return lambda: calls.append(name) or text

    article = "\n".join(BODY)
    byline = "Share this story on social media now"
    params = {"support": 0.7, "settled": 0.05, "gate": 0.25}
    # Resiliparse confirms the article, not readability's byline: trafilatura not asked
    # (the byline is 7 of 90 words: over `settled`, so recall is asked to confirm it)
    out = readability_vote(
        article, article, lazy("recall", article), lazy("precision", ""), **params
    )
    assert out == article and calls == []
    out = readability_vote(
        byline + "\n" + article,
        article,
        lazy("recall", article),
        lazy("precision", ""),
        **{**params, "settled": 0.0},
    )
    assert out == article and calls == ["recall"]
    # readability missed a paragraph that Resiliparse, recall and precision all return
    calls.clear()
    out = readability_vote(
        BODY[0], article, lazy("recall", article), lazy("precision", article), **params
    )
    assert out == article and calls == ["recall", "precision"]
    # ... but not one that precision mode does not confirm
    out = readability_vote(BODY[0], article, lazy("r", article), lazy("p", BODY[0]), **params)
    assert out == BODY[0]
    # an empty readability result: trafilatura's text
    assert readability_vote("", article, lazy("r", BODY[1]), lazy("p", ""), **params) == BODY[1]


def test_interior_fill_inserts_what_lies_inside_the_shared_stretch():
    """trafilatura lines between two lines the result has (an embedded tweet) go in, in
    place; lines before or after the shared stretch (byline, related links) do not."""
    tweet = "The Senate (@Senate) October 9, 2018"
    donor = "\n".join(
        ["By Jane Doe, staff writer", BODY[0], tweet, BODY[1], "Related: ten recipes"]
    )
    result = "\n".join(BODY[:2])
    assert interior_fill(result, donor) == "\n".join([BODY[0], tweet, BODY[1]])
    assert interior_fill(result, "") == result
    assert interior_fill("", donor) == ""


def test_combined_runs_trafilatura_only_where_resiliparse_sees_more():
    """With `probe`, hedge and fill consult trafilatura only when Resiliparse has more than
    `probe` of the result's words outside it (or the vote already asked it)."""
    calls = []

    def lazy(name, text):
        return lambda: calls.append(name) or text

    article = "\n".join(BODY)
    params = {"support": 0.7, "settled": 0.05, "gate": 1.0, "hedge": True, "fill": True}
    out = readability_vote(
        article, article, lazy("recall", article), lazy("precision", ""), probe=0.1, **params
    )
    assert out == article and calls == []
    # Resiliparse has a paragraph more (over 10% of the words): recall runs, once, and
    # fills in the paragraph it has between two of the result's
    main = "\n".join(
        [BODY[0], "A fourth paragraph the readability node left out of it.", *BODY[1:]]
    )
    out = readability_vote(
        BODY[0] + "\n" + BODY[1], main, lazy("recall", main), lazy("p", ""), probe=0.1, **params
    )
    assert out == "\n".join(main.splitlines()[:3]) and calls == ["recall"]


def test_combined_keeps_both_when_readability_and_trafilatura_disagree_entirely():
    """readability chose one part of the page, trafilatura another (no shared line):
    with `hedge`, the trafilatura lines Resiliparse and precision mode confirm are added
    even under the `gate`; without it they are not. Table rows join only with `tables`."""
    other = "\n".join(
        [
            "Viver uma verdadeira experiencia amorosa e um dos maiores prazeres da vida, "
            "e gostar e sentir com a alma antes de qualquer outra coisa.",
            "Condicionamos o amor as nossas necessidades e acabamos com ele, tentando "
            "fazer com que os outros se responsabilizem pela nossa felicidade.",
        ]
    )
    page = BODY[0] + "\n" + other  # Resiliparse returned both parts
    params = {"support": 0.7, "settled": 0.05, "gate": 10.0}
    out = readability_vote(BODY[0], page, lambda: other, lambda: other, **params)
    assert out == BODY[0]
    out = readability_vote(BODY[0], page, lambda: other, lambda: other, hedge=True, **params)
    assert out == BODY[0] + "\n" + other
    table = "| Home | News | Sports | Sign in to your account today |"
    rows = other + "\n" + table
    main = page + "\n" + table
    out = readability_vote(BODY[0], main, lambda: rows, lambda: rows, hedge=True, **params)
    assert out.endswith(table)
    out = readability_vote(
        BODY[0], main, lambda: rows, lambda: rows, hedge=True, tables=False, **params
    )
    assert out == BODY[0] + "\n" + other


# ---------------------------------------------------------------------- quality
@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "floor"),
    [("aeb-dev", 0.965), ("extract-dev/cleaneval-dev", 0.875)],
)
def test_default_extractor_f1_on_shared_benchmarks(name, floor, shared_dir, default_extractor):
    """The default through its worker, scored by the shared tool: news articles (aeb-dev)
    and arbitrary pages (cleaneval-dev), where trafilatura alone gets 0.956 and 0.802."""
    tool = shared_dir / "tools" / "eval_extract.py"
    data = shared_dir / "data" / name
    if not tool.is_file() or not data.is_dir():
        pytest.skip(f"eval tool or {name} data absent")
    spec = importlib.util.spec_from_file_location("eval_extract", tool)
    evaluator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluator)
    pages = evaluator.load_pages(data)
    rows = []
    for page in pages:
        result = default_extractor.extract(page["html"], page["url"])
        assert result.error is None, (page["id"], result.error)
        rows.append((*evaluator.page_counts(page["truth"], result.text), 0.0))
    metrics = evaluator.aggregate(rows)
    assert len(pages) >= 50
    assert metrics["f1"] >= floor, metrics


# -------------------------------------------------------------- re-extract from WARC
@pytest.mark.ray
@pytest.mark.parametrize("mode", ["readability", "resiliparse"])
def test_webtext_extract_reruns_the_chosen_extractor_from_warc(
    mode, tmp_path, image_server, ray_local
):
    """`webtext extract` with another extractor: text from the WARC bodies alone, no request
    to the (live, counting) server the URLs point at."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines import extract
    from webtext.config import build_config
    from webtext.fetch.warc import Exchange, WarcChunkWriter
    from webtext.paths import RunPaths
    from webtext.schemas import PAGES_SCHEMA

    base, hits = image_server
    paths = RunPaths.of(tmp_path)
    paths.fetched.mkdir(parents=True)
    paths.warc.mkdir(parents=True)
    url = f"{base}/story"
    page = article_page().replace("<p>", f'<img src="{base}/inline.png"><p>', 1)
    with WarcChunkWriter(paths.warc / "part-00000-00000.warc.gz") as warc:
        warc.write(
            Exchange(
                url=url,
                request_line="GET /story HTTP/1.1",
                request_headers=[("Host", base.split("//")[1])],
                status=200,
                reason="OK",
                response_headers=[("Content-Type", "text/html; charset=utf-8")],
                body=page.encode(),
            )
        )
    row = dict.fromkeys(PAGES_SCHEMA.names)
    row.update(url=url, canonical_url=url, final_url=url, fetch_status="ok")  # a fetch record
    pq.write_table(
        pa.Table.from_pylist([row], schema=PAGES_SCHEMA), paths.fetched / "part-00000.parquet"
    )
    cfg = build_config({"run_dir": str(tmp_path), "extract": {"extractor": mode}})
    stats = extract.run(cfg)
    assert stats["reextracted"] == 1 and stats["missing_warc"] == 0
    out = pq.read_table(paths.pages / "part-00000.parquet").to_pylist()[0]
    assert out["extractor"] == mode and out["fetch_status"] == "ok"
    assert all(p in out["text"] for p in BODY) and "Copyright" not in out["text"]
    assert hits == []
