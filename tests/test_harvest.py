"""Dump readers, submission filters and karma aggregation, without Ray."""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
import zstandard

from webtext.config import HarvestConfig
from webtext.reddit.dumps import (
    MalformedInputError,
    ReadReport,
    expand_sources,
    iter_records,
)
from webtext.reddit.filters import DROP_REASONS, BadRecord, LinkRow, SubmissionFilter
from webtext.reddit.spill import SPILL_SCHEMA, aggregate_links

T0 = 1_500_000_000  # 2017-07-14


def sub(sid: str, url: str, score: int = 10, created: Any = T0, **extra: Any) -> dict[str, Any]:
    record = {
        "id": sid,
        "url": url,
        "score": score,
        "created_utc": created,
        "subreddit": extra.pop("subreddit", "news"),
        "is_self": False,
        "over_18": False,
        "title": f"t{sid}",
    }
    record.update(extra)
    return record


def encode_lines(records: list[Any]) -> bytes:
    return b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records)


def write_dump(path: Path, records: list[Any], long_window: bool = False) -> Path:
    """Write records (dicts, or raw bytes lines) compressed by the suffix of `path`."""
    data = encode_lines(records)
    suffix = path.suffix
    if suffix == ".zst":
        # compressobj: size unknown up front, so the 2 GiB window stays in the frame header
        params = zstandard.ZstdCompressionParameters.from_level(
            3, window_log=31 if long_window else 0
        )
        cobj = zstandard.ZstdCompressor(compression_params=params).compressobj()
        data = cobj.compress(data) + cobj.flush()
    elif suffix == ".xz":
        data = lzma.compress(data, preset=1)
    elif suffix == ".bz2":
        data = bz2.compress(data, compresslevel=1)  # 100 kB blocks
    elif suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


RECORDS = [
    sub(str(i), f"https://site{i % 5}.com/a/{i}", score=i, created=T0 + i) for i in range(50)
]


@pytest.mark.parametrize("suffix", [".zst", ".xz", ".bz2", ".gz", ".ndjson", ".jsonl", ".json"])
def test_every_format_reads_the_same_records(tmp_path, suffix):
    path = write_dump(tmp_path / f"RS_2017-07{suffix}", RECORDS)
    report = ReadReport(str(path))
    got = [rec for _, rec in iter_records(path, report)]
    assert got == RECORDS
    assert (report.lines, report.malformed, report.truncated) == (50, 0, False)


def test_long_window_zst_needs_the_big_window(tmp_path):
    records = RECORDS * 4
    path = write_dump(tmp_path / "RS_long.zst", records, long_window=True)
    with pytest.raises(zstandard.ZstdError):  # the default decoder refuses a 2 GiB window
        zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())
    assert [r for _, r in iter_records(path)] == records


def test_multi_frame_zst(tmp_path):
    cctx = zstandard.ZstdCompressor()
    path = tmp_path / "two_frames.zst"
    path.write_bytes(
        cctx.compress(encode_lines(RECORDS[:20])) + cctx.compress(encode_lines(RECORDS[20:]))
    )
    assert [r for _, r in iter_records(path)] == RECORDS


def test_created_utc_int_float_string_and_missing_is_self():
    flt = SubmissionFilter(HarvestConfig(min_score=0))
    for created in (T0, float(T0) + 0.7, str(T0), f"{T0}.0"):
        row = flt.apply(sub("a", "https://ex.com/", created=created))
        assert isinstance(row, LinkRow) and row.created_utc == T0
    early = sub("b", "https://ex.com/x", score="12")
    del early["is_self"]
    assert flt.apply(early).score == 12
    self_post = sub("c", "https://www.reddit.com/r/news/comments/c/", domain="self.news")
    del self_post["is_self"]
    assert flt.apply(self_post) == "self_post"


def test_odd_field_values():
    flt = SubmissionFilter(HarvestConfig(min_score=0))
    assert flt.apply(sub("a", None)) == "malformed_url"
    assert flt.apply(sub("b", "https://ex.com/", is_self="false", over_18=0)).submission_id == "b"
    assert flt.apply(sub("c", "https://ex.com/", over_18="true")) == "nsfw"
    assert flt.apply(sub(123, "https://ex.com/")).submission_id == "123"
    for bad in (sub(None, "https://ex.com/"), sub("d", 42), sub("e", "https://ex.com/", score=[1])):
        with pytest.raises(BadRecord) as info:
            flt.apply(bad)
        assert info.value.kind == "bad_field"


def test_malformed_lines_are_counted_with_file_and_line(tmp_path):
    lines = [
        RECORDS[0],
        b"{not json",
        b"",  # blank lines are not records
        b"[1, 2, 3]",
        RECORDS[1],
        b'{"id": "x", "url": "https://ex.com/"}',  # missing created_utc, score
        b'{"id": "y", "url": "https://ex.com/", "score": 5, "created_utc": "yesterday"}',
        RECORDS[2],
    ]
    path = write_dump(tmp_path / "bad.jsonl", lines)
    report = ReadReport(str(path))
    flt = SubmissionFilter(HarvestConfig(min_score=0))
    kept = []
    for line_no, rec in iter_records(path, report):
        try:
            kept.append(flt.apply(rec))
        except BadRecord as exc:
            report.bad(line_no, str(exc), exc.kind)
    assert [r.submission_id for r in kept] == ["0", "1", "2"]
    assert report.malformed == 4
    assert report.malformed_reasons == {
        "not_json": 1,
        "not_object": 1,
        "missing_field": 1,
        "bad_field": 1,
    }
    assert report.sample[0].startswith(f"{path}:2: not JSON")
    assert report.sample[1].startswith(f"{path}:4: not a JSON object")
    assert f"{path}:6: missing field" in report.sample[2]
    assert f"{path}:7: field 'created_utc' is not a number" in report.sample[3]


@pytest.mark.parametrize("suffix", [".zst", ".xz", ".bz2", ".gz"])
def test_truncated_files_are_reported(tmp_path, suffix):
    rng = random.Random(7)
    many = [
        sub(
            str(i),
            f"https://s{rng.randrange(10**9)}.com/{rng.randrange(10**9)}",
            title=f"{rng.getrandbits(rng.randrange(8, 800)):x}",
        )
        for i in range(3000)  # several 100 kB bz2 blocks
    ]
    whole = write_dump(tmp_path / f"whole{suffix}", many)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 9 // 10])
    report = ReadReport(str(cut))
    got = [r for _, r in iter_records(cut, report)]
    assert report.truncated
    assert report.malformed_reasons.get("truncated") == 1
    assert any("truncated" in s and str(cut) in s for s in report.sample)
    assert 0 < len(got) < len(many)
    assert got == many[: len(got)]  # every record before the cut, intact


def test_plain_file_cut_mid_line(tmp_path):
    path = tmp_path / "cut.ndjson"
    data = encode_lines(RECORDS[:3])
    path.write_bytes(data[:-10])
    report = ReadReport(str(path))
    assert len(list(iter_records(path, report))) == 2
    assert report.malformed_reasons == {"not_json": 1}
    assert report.sample[0].startswith(f"{path}:3:")


def test_strict_mode_raises_with_file_and_line(tmp_path):
    path = write_dump(tmp_path / "bad.jsonl", [RECORDS[0], b"oops"])
    with pytest.raises(MalformedInputError, match=r"bad\.jsonl:2: not JSON"):
        list(iter_records(path, ReadReport(str(path), strict=True)))


def test_expand_sources(tmp_path):
    a = write_dump(tmp_path / "RS_a.zst", RECORDS[:1])
    b = write_dump(tmp_path / "RS_b.xz", RECORDS[:1])
    (tmp_path / "README.md").write_text("not a dump")
    assert expand_sources([str(tmp_path / "*"), str(a)]) == [a, b]
    with pytest.raises(FileNotFoundError, match="no dump file matches"):
        expand_sources([str(tmp_path / "nothing-*.zst")])
    with pytest.raises(ValueError, match="unknown dump format"):
        expand_sources([str(tmp_path / "README.md")])


# --------------------------------------------------------------------- filters
FILTER_CASES = [
    (sub("s1", "https://www.reddit.com/r/x/comments/s1/", is_self=True), "self_post"),
    (sub("s2", "https://ex.com/nsfw", over_18=True), "nsfw"),
    (sub("s3", "https://ex.com/early", created=T0 - 10), "date_window"),
    (sub("s4", "https://ex.com/late", created=T0 + 86400), "date_window"),
    (sub("s5", "https://ex.com/low", score=2), "low_score"),
    (sub("s6", "ftp://ex.com/file"), "not_http"),
    (sub("s7", "http://ex.com:99999/"), "malformed_url"),
    (sub("s8", "https://en.m.wikipedia.org/wiki/X"), "domain_blocklist"),
    (sub("s9", "https://de.wikipedia.org/wiki/Y"), "domain_blocklist"),
    (sub("s10", "https://i.imgur.com/abc"), "domain_blocklist"),
    (sub("s11", "https://www.youtube.com/watch?v=1"), "domain_blocklist"),
    (sub("s12", "https://ex.com/photo.JPG"), "extension_blocklist"),
    (sub("s13", "https://ex.com/paper.pdf?dl=1"), "extension_blocklist"),
    (sub("s14", "https://notwikipedia.org/wiki/Z"), None),  # suffix match on dot boundary only
    (sub("s15", "https://ex.com/article.html"), None),
]


@pytest.mark.parametrize("record, reason", FILTER_CASES, ids=[c[0]["id"] for c in FILTER_CASES])
def test_filter_reasons(record, reason):
    from datetime import datetime, timezone

    cfg = HarvestConfig(
        after=datetime.fromtimestamp(T0 - 5, timezone.utc),
        before=datetime.fromtimestamp(T0 + 3600, timezone.utc),
    )
    out = SubmissionFilter(cfg).apply(record)
    if reason is None:
        assert isinstance(out, LinkRow)
    else:
        assert out == reason and reason in DROP_REASONS


def test_filters_can_be_switched_off():
    cfg = HarvestConfig(
        include_self=True, include_nsfw=True, domain_blocklist=[], extension_blocklist=[]
    )
    flt = SubmissionFilter(cfg)
    for record, _ in FILTER_CASES[:2] + FILTER_CASES[7:13]:
        assert isinstance(flt.apply(record), LinkRow), record


def test_custom_blocklists_with_wildcards():
    flt = SubmissionFilter(
        HarvestConfig(domain_blocklist=["*.example.org", ".bad.com"], extension_blocklist=[".EPUB"])
    )
    assert flt.apply(sub("a", "https://x.y.example.org/")) == "domain_blocklist"
    assert flt.apply(sub("b", "https://bad.com/")) == "domain_blocklist"
    assert flt.apply(sub("c", "https://ok.com/book.epub")) == "extension_blocklist"
    assert isinstance(flt.apply(sub("d", "https://ok.com/")), LinkRow)


def test_link_row_fields():
    row = SubmissionFilter(HarvestConfig()).apply(
        sub("abc", "https://WWW.News.co.uk/a?utm_source=r#c", score=7, subreddit="worldnews")
    )
    assert row == LinkRow(
        "https://www.news.co.uk/a?utm_source=r",  # the URI form
        "https://news.co.uk/a",
        "news.co.uk",
        7,
        "abc",
        "worldnews",
        T0,
        "https://WWW.News.co.uk/a?utm_source=r",  # as submitted, minus the fragment
    )


# ------------------------------------------------------------------------ karma
def spill_table(rows: list[tuple]) -> pa.Table:
    rows = [(*row, *[None] * (len(SPILL_SCHEMA) - len(row))) for row in rows]  # url_original
    cols = list(zip(*rows, strict=True))
    return pa.table({f.name: pa.array(c, f.type) for f, c in zip(SPILL_SCHEMA, cols, strict=True)})


KARMA_ROWS = [
    # url, canonical, domain, score, id, subreddit, created
    ("https://a.com/1", "https://a.com/1", "a.com", 2, "a1", "news", 30),
    ("https://www.a.com/1#x", "https://a.com/1", "a.com", 2, "a2", "tech", 10),
    ("https://b.com/2", "https://b.com/2", "b.com", 5, "b1", "news", 20),
    ("https://b.com/2?utm_source=x", "https://b.com/2", "b.com", 1, "b2", "news", 40),
    ("https://c.com/3", "https://c.com/3", "c.com", 1, "c1", "misc", 50),
    ("https://b.com/2", "https://b.com/2", "b.com", 6, "b1", "news", 20),  # b1 again (rescored)
]


@pytest.mark.parametrize(
    "karma, expected",
    [
        # max: URL kept when its best submission reaches min_score; the score is the max
        ("max", {"https://b.com/2": (6, 2)}),
        # sum over reposts (OpenWebText2): a.com/1 reaches 4, b.com/2 reaches 7
        ("sum", {"https://a.com/1": (4, 2), "https://b.com/2": (7, 2)}),
        ("per_submission", {"https://b.com/2": (6, 2)}),
    ],
)
def test_karma_semantics(karma, expected):
    links, counts = aggregate_links(spill_table(KARMA_ROWS), karma, min_score=3)
    got = {r["canonical_url"]: (r["score"], r["num_submissions"]) for r in links.to_pylist()}
    assert got == expected
    assert counts["duplicate_submission"] == 1  # b1 counted once, with its higher score
    assert counts["low_karma"] == 3 - len(expected)
    assert links.column_names == [f.name for f in links.schema]


def test_aggregate_provenance_and_order():
    links, _ = aggregate_links(spill_table(KARMA_ROWS), "sum", min_score=0)
    rows = links.to_pylist()
    assert [r["canonical_url"] for r in rows] == sorted(r["canonical_url"] for r in rows)
    a = rows[0]
    assert a["url"] == "https://www.a.com/1#x"  # the earliest submission's URL
    assert a["submission_ids"] == ["a2", "a1"]  # in time order
    assert a["subreddits"] == ["tech", "news"]
    assert a["first_created_utc"] == 10
    assert a["domain"] == "a.com"


# ------------------------------------------------------- block decoding (the map path)
def _block_view(path: Path) -> tuple[list[tuple[int, Any]], ReadReport]:
    """(line, submission as a dict of the read fields) from iter_submission_blocks."""
    from webtext.reddit.dumps import iter_submission_blocks

    report = ReadReport(str(path))
    out = []
    for numbers, subs in iter_submission_blocks(path, report):
        for line_no, s in zip(numbers, subs, strict=True):
            out.append((line_no, {f: getattr(s, f) for f in s.__struct_fields__}))
    return out, report


def _dict_view(path: Path) -> tuple[list[tuple[int, Any]], ReadReport]:
    """The same through the orjson line reader and Submission.from_dict."""
    from webtext.reddit.dumps import Submission

    report = ReadReport(str(path))
    out = []
    for line_no, rec in iter_records(path, report):
        s = Submission.from_dict(rec)
        out.append((line_no, {f: getattr(s, f) for f in s.__struct_fields__}))
    return out, report


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_block_decoder_agrees_with_the_line_reader(tmp_path, monkeypatch, chunk):
    """Lines cut across chunks, blank lines, bad lines and a last line without newline:
    the block path yields the same records under the same line numbers and reports the
    same problems as the line-by-line reader."""
    import webtext.reddit.dumps as dumps

    monkeypatch.setattr(dumps, "CHUNK_BYTES", chunk)
    lines = [*RECORDS[:5], b"", b"{broken", b"  ", b'"a string"', *RECORDS[5:9], b"[]"]
    lines += [RECORDS[9]]
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(encode_lines(lines) + orjson.dumps(RECORDS[10]))  # no final newline
    got, report = _block_view(path)
    want, want_report = _dict_view(path)
    assert got == want
    assert [n for n, _ in got] == [1, 2, 3, 4, 5, 10, 11, 12, 13, 15, 16]
    assert [r["id"] for _, r in got] == [str(i) for i in range(11)]
    assert report.lines == want_report.lines == 14  # blank lines are not records
    assert report.malformed_reasons == want_report.malformed_reasons
    assert report.malformed_reasons == {"not_json": 1, "not_object": 2}
    assert [s.split(": ")[0] for s in report.sample] == [f"{path}:7", f"{path}:9", f"{path}:14"]


def test_block_decoder_fast_path_numbers_lines(tmp_path):
    """Clean blocks are decoded whole; missing fields stay UNSET, others keep JSON types."""
    from msgspec import UNSET

    records = [sub(str(i), f"https://e{i}.com/", created=str(T0)) for i in range(2000)]
    del records[1500]["url"]
    path = write_dump(tmp_path / "RS.zst", records)
    got, report = _block_view(path)
    assert [n for n, _ in got] == list(range(1, 2001))
    assert got[0][1]["created_utc"] == str(T0) and got[0][1]["score"] == 10
    assert got[1500][1]["url"] is UNSET and got[1500][1]["domain"] is None
    assert (report.lines, report.malformed) == (2000, 0)


def test_oversized_line_is_reported_and_skipped(tmp_path, monkeypatch):
    import webtext.reddit.dumps as dumps

    monkeypatch.setattr(dumps, "CHUNK_BYTES", 16)
    monkeypatch.setattr(dumps, "MAX_LINE_BYTES", 300)
    huge = orjson.dumps(sub("big", "https://ex.com/", title="x" * 500))
    path = tmp_path / "huge.jsonl"
    path.write_bytes(encode_lines([RECORDS[0], huge, RECORDS[1]]))
    got, report = _block_view(path)
    assert [(n, r["id"]) for n, r in got] == [(1, "0"), (3, "1")]
    assert report.malformed_reasons == {"not_json": 1}
    assert report.sample[0].startswith(f"{path}:2: line longer than 300 bytes")


def test_spill_writer_keeps_arrival_order_per_bucket(tmp_path, monkeypatch):
    """One flush cuts the batch into buckets with a stable sort: each spill file holds its
    rows in arrival order, and every row lands in the bucket its domain and URL hash give."""
    import zlib

    import webtext.reddit.spill as spill
    from webtext.reddit.canonical import domain_partition

    monkeypatch.setattr(spill, "FLUSH_ROWS", 37)  # several flushes, odd sizes
    rows = [
        LinkRow(f"https://d{i % 13}.com/{i}", f"https://d{i % 13}.com/{i}", f"d{i % 13}.com",
                i, f"id{i}", "news", T0 + i)
        for i in range(500)
    ]  # fmt: skip
    writer = spill.SpillWriter(tmp_path / "sp", num_partitions=4, sub=3)
    for row in rows:
        writer.add(row)
    writer.close()
    seen = 0
    for path in sorted((tmp_path / "sp").glob("s*.arrow")):
        idx = int(path.stem[1:])
        got = spill._read_bucket([path]).to_pylist()
        ids = [int(r["submission_id"][2:]) for r in got]
        assert ids == sorted(ids)  # arrival order
        for r in got:
            want = (
                domain_partition(r["domain"], 4) * 3 + zlib.crc32(r["canonical_url"].encode()) % 3
            )
            assert want == idx
        seen += len(got)
    assert seen == writer.rows == 500


def test_reduce_groups_give_the_same_links(tmp_path, monkeypatch):
    """Buckets reduced one by one or together: the same links, the same counts."""
    import webtext.reddit.spill as spill
    from webtext.reddit.dumps import iter_submission_blocks

    records = [
        sub(str(i), f"https://s{i % 40}.com/a/{i % 300}", score=i % 7, created=T0 + i)
        for i in range(3000)
    ]
    dump = write_dump(tmp_path / "RS.zst", records)
    cfg = HarvestConfig(num_partitions=2, spill_partitions=16, karma="sum")
    report = ReadReport(str(dump))
    spill.spill_records(iter_submission_blocks(dump, report), report, tmp_path / "sp", cfg)
    results = {}
    for budget in (1, 1 << 30):  # one bucket per step / everything in one step
        monkeypatch.setattr(spill, "REDUCE_GROUP_BYTES", budget)
        out = tmp_path / f"links{budget}"
        stats = [
            spill.reduce_partition(
                p, spill_dirs=[str(tmp_path / "sp")], links_dir=str(out), cfg=cfg,
            )
            for p in range(2)
        ]  # fmt: skip
        rows = sorted(spill.iter_link_rows(out), key=lambda r: r["canonical_url"])
        results[budget] = (rows, [(s["urls_kept"], s["low_karma"]) for s in stats])
    assert results[1] == results[1 << 30]
    assert len(results[1][0]) == 600  # (i % 40, i % 300): lcm 600 distinct URLs


def _spill_view(tmp_path: Path, name: str, lines: list[Any], strict: bool = False):
    """spill_dump over raw lines: (stats, kept submission ids)."""
    from webtext.reddit.spill import _read_bucket, spill_dump

    path = tmp_path / name
    path.write_bytes(encode_lines(lines))
    cfg = HarvestConfig(min_score=0, num_partitions=1, spill_partitions=1)
    item = {"path": str(path), "work": str(tmp_path / "spill" / name)}
    stats = spill_dump(item, cfg=cfg, strict=strict)
    files = sorted(Path(stats["spill_dir"]).glob("s*.arrow"))
    ids = _read_bucket(files)["submission_id"].to_pylist() if files else []
    return stats, sorted(ids)


def test_hostile_lines_are_reported_not_fatal(tmp_path):
    """Bad UTF-8 in a field harvest reads, nesting deeper than any stack, huge or infinite
    numbers: each is one reported line, the rest of the dump is harvested."""
    good = [orjson.dumps(sub(str(i), f"https://ok{i}.com/")) for i in range(3)]
    bad_utf8 = b'{"id": "u", "score": 5, "created_utc": 1, "url": "https://ex.com/\xff"}'
    deep = b'{"id": "d", "media": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    huge = orjson.dumps(sub("big", "https://ex.com/big")).replace(
        b'"score":10', b'"score":' + b"9" * 30
    )
    infinite = orjson.dumps(sub("inf", "https://ex.com/inf", created="1e999"))
    lines = [good[0], bad_utf8, deep, huge, infinite, good[1], good[2]]
    stats, ids = _spill_view(tmp_path, "hostile.jsonl", lines)
    assert ids == ["0", "1", "2"]
    assert stats["malformed_reasons"] == {"not_json": 2, "bad_field": 2}
    assert [s.split(": ")[0].rsplit(":", 1)[1] for s in stats["malformed_sample"]] == [
        "2", "3", "4", "5"
    ]  # fmt: skip


def test_block_path_keeps_one_object_per_line(tmp_path):
    """Counts that happen to agree (two objects on a line + a blank line, or + an object
    spread over two lines) must not let the block path accept what a line reader refuses."""
    r = [orjson.dumps(sub(str(i), f"https://ok{i}.com/")) for i in range(6)]
    split = orjson.dumps(sub("s", "https://ex.com/s")).replace(b',"score"', b',\n"score"')
    for lines, kept, bad_lines in [
        ([r[0], r[1] + r[2], b"", r[3]], ["0", "3"], ["2"]),
        ([r[0], r[1] + b" " + r[2], b"   ", r[3]], ["0", "3"], ["2"]),
        ([r[0], split, r[2] + r[3], r[4]], ["0", "4"], ["2", "3", "4"]),
        ([r[0], b'"abc", 1', b"123 abc", r[5]], ["0", "5"], ["2", "3"]),
    ]:
        report = ReadReport("x")
        path = tmp_path / "odd.jsonl"
        path.write_bytes(encode_lines(lines))
        got, report = _block_view(path)
        assert sorted(rec["id"] for _, rec in got) == kept
        assert [s.split(": ")[0].rsplit(":", 1)[1] for s in report.sample] == bad_lines
        assert set(report.malformed_reasons) == {"not_json"}


def test_strict_mode_reports_the_first_bad_line_in_file_order(tmp_path):
    lines = [
        b'{"id": "a", "url": "https://ex.com/", "score": "lots", "created_utc": 1}',
        RECORDS[1],
        b"[1, 2]",
    ]
    with pytest.raises(MalformedInputError, match=r"strict\.jsonl:1: field 'score'"):
        _spill_view(tmp_path, "strict.jsonl", lines, strict=True)


def test_switch_interval_is_restored_by_the_last_reader(tmp_path):
    import sys

    from webtext.reddit.dumps import iter_chunks, iter_submission_blocks

    a = write_dump(tmp_path / "a.zst", RECORDS)
    b = write_dump(tmp_path / "b.zst", RECORDS)
    before = sys.getswitchinterval()
    first, second = iter_chunks(a), iter_chunks(b)
    next(first), next(second)
    assert sys.getswitchinterval() < before
    first.close()
    assert sys.getswitchinterval() < before  # b still reading
    second.close()
    assert sys.getswitchinterval() == before
    blocks = iter_submission_blocks(a, ReadReport(str(a)))
    next(blocks)
    blocks.close()  # a consumer that stops early closes the reader, and its thread
    assert sys.getswitchinterval() == before


def test_oversized_line_inside_one_chunk(tmp_path, monkeypatch):
    import webtext.reddit.dumps as dumps

    monkeypatch.setattr(dumps, "MAX_LINE_BYTES", 300)  # chunks stay 1 MiB
    huge = orjson.dumps(sub("big", "https://ex.com/", title="x" * 500))
    path = tmp_path / "huge.jsonl"
    path.write_bytes(encode_lines([RECORDS[0], huge, RECORDS[1], huge]))
    got, report = _block_view(path)
    assert [(n, r["id"]) for n, r in got] == [(1, "0"), (3, "1")]
    assert report.malformed_reasons == {"not_json": 2}
