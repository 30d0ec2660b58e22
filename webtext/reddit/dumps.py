"""Streaming readers of Pushshift-format dumps: one JSON submission per line.

`.zst` (with the 2 GiB window of the real monthly dumps), `.xz`, `.bz2`, `.gz` and plain
`.ndjson`/`.jsonl`/`.json` are read in fixed-size chunks, so memory stays constant whatever
the dump size. A line that is not a JSON object, or a file that ends early, is reported to
`ReadReport` with file and line (or raised as `MalformedInputError` in strict mode).
"""

from __future__ import annotations

import bz2
import contextlib
import glob
import gzip
import lzma
import os
import queue
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import numpy as np
import orjson

from webtext.config import ConfigError
from webtext.progress import count

CHUNK_BYTES = 1 << 20
ZSTD_READ_BYTES = 1 << 15  # ~1 MB out per call: short GIL holds on both sides of the queue
ZSTD_SWITCH_INTERVAL = 0.0005  # s; while a dump is read, see _zst_chunks
MAX_LINE_BYTES = 64 << 20  # no real submission comes near; a longer line is reported, skipped
ZSTD_MAX_WINDOW = 2**31  # real RS_YYYY-MM.zst dumps are written with --long=31
SUFFIXES = (".zst", ".xz", ".bz2", ".gz", ".ndjson", ".jsonl", ".json")


class Submission(msgspec.Struct, gc=False):
    """The fields harvest reads from a submission; the decoder skips every other field
    without building it, which is most of the parse cost of a 60-field Pushshift line.

    Values keep their JSON type (`created_utc` may be int, float or string): the filter
    judges them. UNSET marks a required field the line lacks.
    """

    id: Any = msgspec.UNSET
    url: Any = msgspec.UNSET
    created_utc: Any = msgspec.UNSET
    score: Any = msgspec.UNSET
    subreddit: Any = None
    is_self: Any = None
    over_18: Any = None
    domain: Any = None

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Submission:
        """A submission dict (the API source, tests) -> Submission."""
        return cls(**{name: record[name] for name in SUBMISSION_FIELDS if name in record})


SUBMISSION_FIELDS = Submission.__struct_fields__
_SUBMISSION_DECODER = msgspec.json.Decoder(Submission)


class CorruptDump(OSError):
    """A decoder error inside a dump (bad block, checksum)."""


class MalformedInputError(ConfigError):
    """Bad input under source.strict: the message names the file, line and reason.

    A ConfigError, so `webtext harvest` prints it as one line and exits 2.
    """


@dataclass
class ReadReport:
    """Counts of one reader; `sample` keeps the first few problems as 'file:line: reason'."""

    path: str
    strict: bool = False
    sample_size: int = 20
    lines: int = 0
    malformed: int = 0
    malformed_reasons: dict[str, int] = field(default_factory=dict)
    sample: list[str] = field(default_factory=list)
    truncated: bool = False

    def bad(self, line: int, reason: str, kind: str) -> None:
        where = f"{self.path}:{line}: {reason}"
        if self.strict:
            raise MalformedInputError(f"malformed input (source.strict is true): {where}")
        self.malformed += 1
        self.malformed_reasons[kind] = self.malformed_reasons.get(kind, 0) + 1
        if len(self.sample) < self.sample_size:
            self.sample.append(where)


def expand_sources(patterns: list[str]) -> list[Path]:
    """Paths and globs -> sorted unique dump files; a pattern matching none is an error.

    Files a glob matches with a suffix that is not a dump format (README, .md5) are skipped.
    """
    found: dict[str, Path] = {}
    for pattern in patterns:
        expanded = os.path.expanduser(pattern)
        matches = sorted(glob.glob(expanded, recursive=True)) if glob.has_magic(expanded) else []
        if not matches and os.path.isfile(expanded):
            matches = [expanded]
        if not matches:
            raise FileNotFoundError(f"source.pushshift: no dump file matches {pattern!r}")
        kept = 0
        for match in matches:
            path = Path(match)
            if not path.is_file():
                continue
            if path.suffix.lower() not in SUFFIXES:
                if match == expanded:  # named explicitly: say why it cannot be read
                    raise ValueError(
                        f"source.pushshift: {path}: unknown dump format "
                        f"(expected one of {', '.join(SUFFIXES)})"
                    )
                continue  # a glob also matched a README or a checksum file
            found[str(path.resolve())] = path
            kept += 1
        if not kept:
            raise FileNotFoundError(f"source.pushshift: no dump file matches {pattern!r}")
    return [found[k] for k in sorted(found)]


def _zst_frames(path: Path) -> Iterator[bytes]:
    """Decompressed chunks of a (multi-frame) .zst; a file cut inside a frame raises EOFError.

    zstandard's stream_reader stops quietly at a cut frame, so frames are walked here.
    """
    import zstandard

    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    obj = dctx.decompressobj()
    in_frame = False
    with open(path, "rb") as fh:
        while True:
            data = fh.read(ZSTD_READ_BYTES)
            if not data:
                break
            count(len(data), "bytes")  # progress: compressed bytes of the dump read
            while data:
                try:
                    out = obj.decompress(data)
                except zstandard.ZstdError as exc:
                    raise CorruptDump(f"zstd: {exc}") from None
                if out:
                    yield out
                if obj.eof:
                    data = obj.unused_data
                    obj = dctx.decompressobj()
                    in_frame = False
                else:
                    in_frame = True
                    data = b""
    if in_frame:
        raise EOFError("the zstd frame ends early")


_SWITCH_LOCK = threading.Lock()
_switch_state: dict[str, Any] = {"readers": 0, "saved": None}


def _short_switch_interval(delta: int) -> None:
    """The zstd decoder releases the GIL but needs it back after every call; at the default
    5 ms switch interval it waits behind the parsing thread and barely overlaps. The first
    open reader shortens the interval, the last one to close restores it."""
    with _SWITCH_LOCK:
        state = _switch_state
        if delta > 0 and state["readers"] == 0:
            state["saved"] = sys.getswitchinterval()
            sys.setswitchinterval(min(state["saved"], ZSTD_SWITCH_INTERVAL))
        state["readers"] += delta
        if delta < 0 and state["readers"] == 0 and state["saved"] is not None:
            sys.setswitchinterval(state["saved"])
            state["saved"] = None


def _zst_chunks(path: Path) -> Iterator[bytes]:
    """`_zst_frames` run in a thread: zstandard releases the GIL, so decompression overlaps
    JSON parsing. A bounded queue keeps at most a few chunks in memory."""
    chunks: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for chunk in _zst_frames(path):
                while not stop.is_set():
                    try:
                        chunks.put(chunk, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            item: object = done
        except BaseException as exc:  # handed to the consumer, raised there
            item = exc
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=produce, name=f"zstd:{path.name}", daemon=True)
    _short_switch_interval(+1)
    thread.start()
    try:
        while True:
            item = chunks.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
        _short_switch_interval(-1)


def _stream_chunks(stream: BinaryIO, raw: BinaryIO | None = None) -> Iterator[bytes]:
    """Chunks of `stream`; `raw` is the file under a decompressor, whose position is the
    progress in bytes of the dump (the file itself when there is no decompressor)."""
    # read1: what one decoder step gives, so the lines before a truncation still come out
    read = getattr(stream, "read1", stream.read)
    position = 0
    with contextlib.ExitStack() as stack:
        stack.enter_context(stream)
        if raw is not None:
            stack.enter_context(raw)
        while True:
            chunk = read(CHUNK_BYTES)
            if raw is None:
                count(len(chunk), "bytes")
            else:
                now = raw.tell()
                count(now - position, "bytes")
                position = now
            if not chunk:
                return
            yield chunk


def iter_chunks(path: str | Path) -> Iterator[bytes]:
    """Decompressed bytes of the dump at `path`, chosen by suffix, in bounded chunks."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".zst":
        return _zst_chunks(path)
    openers = {".xz": lzma.open, ".bz2": bz2.open, ".gz": gzip.open}
    if suffix in openers:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the generator
        return _stream_chunks(openers[suffix](raw, "rb"), raw)
    if suffix in {".ndjson", ".jsonl", ".json"}:
        return _stream_chunks(open(path, "rb"))  # noqa: SIM115 - closed by the generator
    raise ValueError(f"{path}: unknown dump format (expected one of {', '.join(SUFFIXES)})")


def newline_positions(block: bytes | memoryview) -> np.ndarray:
    """Offsets of the newlines in `block` (numpy: several times faster than bytes.find)."""
    return np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)


def _split_oversized(
    block: memoryview, newlines: np.ndarray, first: int, report: ReadReport
) -> Iterator[tuple[int, memoryview, np.ndarray]]:
    """A block holding a line over MAX_LINE_BYTES: its other lines, the long ones reported."""
    start = 0
    for line_no, end in enumerate(newlines.tolist(), first):
        if end - start > MAX_LINE_BYTES:
            report.bad(line_no, f"line longer than {MAX_LINE_BYTES} bytes", "not_json")
        else:
            yield line_no, block[start : end + 1], np.array([end - start])
        start = end + 1


def iter_blocks(
    path: str | Path, report: ReadReport
) -> Iterator[tuple[int, memoryview, np.ndarray]]:
    """(number of the first line, block of whole lines, offsets of its newlines), in
    constant memory.

    Blocks are views into the decompressed chunks (no copy); a line split across two
    chunks comes out as a one-line block of its own. Every block ends in a newline except
    possibly the last. A line longer than MAX_LINE_BYTES is reported and skipped. A decoder
    error ends the file as truncated: the cut line is counted with the truncation, every
    line before it comes out intact.
    """
    line_no = 0  # lines handed out so far
    rest = b""
    oversized = False  # inside a line over MAX_LINE_BYTES (reported, skipped)
    chunks = iter_chunks(path)
    try:
        while True:
            try:
                chunk = next(chunks, None)
            except (EOFError, OSError, lzma.LZMAError, CorruptDump) as exc:
                report.truncated = True
                # the cut line (or the line that would have come next) is the truncation
                report.bad(line_no + 1, f"truncated or corrupt file: {exc}", "truncated")
                if rest.strip() or oversized:
                    line_no += 1
                return
            if chunk is None:
                break
            end = chunk.rfind(b"\n") + 1
            if not end:  # no line ends in this chunk: keep collecting, up to MAX_LINE_BYTES
                if oversized or len(rest) + len(chunk) > MAX_LINE_BYTES:
                    if not oversized:
                        report.bad(
                            line_no + 1, f"line longer than {MAX_LINE_BYTES} bytes", "not_json"
                        )
                    oversized, rest = True, b""
                else:
                    rest += chunk
                continue
            start = 0
            if rest or oversized:  # finish the line the previous chunk began
                start = chunk.find(b"\n") + 1
                if not oversized and len(rest) + start - 1 > MAX_LINE_BYTES:
                    report.bad(line_no + 1, f"line longer than {MAX_LINE_BYTES} bytes", "not_json")
                elif not oversized:  # (an oversized line is dropped, only its number counts)
                    yield (
                        line_no + 1,
                        memoryview(rest + chunk[:start]),
                        np.array([len(rest) + start - 1]),
                    )
                line_no, rest, oversized = line_no + 1, b"", False
            if start < end:
                body = memoryview(chunk)[start:end]
                newlines = newline_positions(body)
                lengths = np.diff(newlines, prepend=-1) - 1
                if len(lengths) and int(lengths.max()) > MAX_LINE_BYTES:
                    yield from _split_oversized(body, newlines, line_no + 1, report)
                else:
                    yield line_no + 1, body, newlines
                line_no += len(newlines)
            rest = chunk[end:]
        if oversized:
            line_no += 1
        if rest.strip():
            yield line_no + 1, memoryview(rest), np.empty(0, dtype=np.int64)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def iter_lines(path: str | Path, report: ReadReport) -> Iterator[tuple[int, bytes]]:
    """(line number, line bytes) in constant memory; a decoder error ends the file as truncated."""
    for first, block, _ in iter_blocks(path, report):
        lines = bytes(block).split(b"\n")
        if not lines[-1]:
            lines.pop()  # the empty piece after the final newline
        yield from enumerate(lines, first)


def iter_records(
    path: str | Path, report: ReadReport | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) for every good line of the dump at `path`."""
    report = report or ReadReport(str(path))
    loads = orjson.loads
    for line_no, line in iter_lines(path, report):
        report.lines += 1
        try:
            record = loads(line)
        except orjson.JSONDecodeError as exc:
            if not line.strip():
                report.lines -= 1
                continue
            report.bad(line_no, f"not JSON: {exc}", "not_json")
            continue
        if type(record) is not dict:
            report.bad(line_no, f"not a JSON object: {type(record).__name__}", "not_object")
            continue
        yield line_no, record


_OPEN, _CLOSE = ord("{"), ord("}")
# what a decoder can raise on a hostile line: bad JSON, bad UTF-8 in a field it builds,
# nesting deeper than the interpreter's stack
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def _one_object_per_line(block: memoryview, newlines: np.ndarray) -> bool:
    """Every line starts with `{` and ends with `}`: no blank line, no object spread over
    lines. With as many decoded objects as lines, each line then holds exactly one object."""
    data = np.frombuffer(block, dtype=np.uint8)
    size = len(data)
    if not size or data[0] != _OPEN:
        return False
    ends = newlines
    if not len(newlines) or newlines[-1] != size - 1:  # a last line without newline
        ends = np.append(newlines, size)
    if not bool((data[ends - 1] == _CLOSE).all()):
        return False
    starts = ends[:-1] + 1
    return bool((data[starts] == _OPEN).all())


def _line_error(line: bytes) -> tuple[str, str]:
    """(kind, reason) of a line the Submission decoder refused."""
    try:
        value = msgspec.json.decode(line)
    except _DECODE_ERRORS as exc:
        return "not_json", f"not JSON: {exc.__class__.__name__}: {exc}"
    return "not_object", f"not a JSON object: {type(value).__name__}"


def iter_submission_blocks(
    path: str | Path, report: ReadReport
) -> Iterator[tuple[Sequence[int], list[Submission]]]:
    """(line numbers, submissions) per block of the dump at `path`.

    A block is decoded in one msgspec call when each of its lines holds exactly one object
    (the normal case); otherwise, or when any line in it is bad, its lines are decoded one
    by one: good records go out in runs and every bad line is reported, under its own
    number, between the runs, so problems are reported in file order. Bytes that are not
    UTF-8 inside a field harvest does not read are skipped with that field, not reported.
    """
    decode_lines, decode = _SUBMISSION_DECODER.decode_lines, _SUBMISSION_DECODER.decode
    for first, block, newlines in iter_blocks(path, report):
        n_lines = len(newlines) + (block[-1] != 10)  # the last block may lack its newline
        count(n_lines, "submissions")  # progress: lines read (bad ones included)
        subs = None
        if _one_object_per_line(block, newlines):
            try:
                subs = decode_lines(block)
            except _DECODE_ERRORS:
                subs = None
        if subs is not None and len(subs) == n_lines:
            report.lines += n_lines
            yield range(first, first + n_lines), subs
            continue
        numbers: list[int] = []
        good: list[Submission] = []
        for line_no, line in enumerate(bytes(block).split(b"\n"), first):
            if not line.strip():
                continue  # blank lines are not records
            report.lines += 1
            try:
                sub = decode(line)
            except _DECODE_ERRORS + (msgspec.ValidationError,):
                if good:  # the records before it are judged first: file order
                    yield numbers, good
                    numbers, good = [], []
                kind, reason = _line_error(line)
                report.bad(line_no, reason, kind)
            else:
                numbers.append(line_no)
                good.append(sub)
        if good:
            yield numbers, good
