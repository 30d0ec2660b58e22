"""Streaming readers of Pushshift-format dumps: one JSON submission per line.

`.zst` (with the 2 GiB window of the real monthly dumps), `.xz`, `.bz2`, `.gz` and plain
`.ndjson`/`.jsonl`/`.json` are read in fixed-size chunks, so memory stays constant whatever
the dump size. A line that is not a JSON object, or a file that ends early, is reported to
`ReadReport` with file and line (or raised as `MalformedInputError` in strict mode).
"""

from __future__ import annotations

import bz2
import glob
import gzip
import lzma
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from webtext.config import ConfigError

CHUNK_BYTES = 1 << 20
ZSTD_READ_BYTES = 1 << 18
ZSTD_MAX_WINDOW = 2**31  # real RS_YYYY-MM.zst dumps are written with --long=31
SUFFIXES = (".zst", ".xz", ".bz2", ".gz", ".ndjson", ".jsonl", ".json")


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


def _stream_chunks(stream: BinaryIO) -> Iterator[bytes]:
    # read1: what one decoder step gives, so the lines before a truncation still come out
    read = getattr(stream, "read1", stream.read)
    with stream:
        while True:
            chunk = read(CHUNK_BYTES)
            if not chunk:
                return
            yield chunk


def iter_chunks(path: str | Path) -> Iterator[bytes]:
    """Decompressed bytes of the dump at `path`, chosen by suffix, in bounded chunks."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".zst":
        return _zst_chunks(path)
    if suffix == ".xz":
        return _stream_chunks(lzma.open(path, "rb"))
    if suffix == ".bz2":
        return _stream_chunks(bz2.open(path, "rb"))
    if suffix == ".gz":
        return _stream_chunks(gzip.open(path, "rb"))
    if suffix in {".ndjson", ".jsonl", ".json"}:
        return _stream_chunks(open(path, "rb"))  # noqa: SIM115 - closed by the generator
    raise ValueError(f"{path}: unknown dump format (expected one of {', '.join(SUFFIXES)})")


def iter_lines(path: str | Path, report: ReadReport) -> Iterator[tuple[int, bytes]]:
    """(line number, line bytes) in constant memory; a decoder error ends the file as truncated."""
    line_no = 0
    rest = b""
    chunks = iter_chunks(path)
    while True:
        try:
            chunk = next(chunks, None)
        except (EOFError, OSError, lzma.LZMAError, CorruptDump) as exc:
            report.truncated = True
            if rest.strip():  # the cut line is part of the truncation, not a JSON error
                line_no += 1
                rest = b""
            report.bad(line_no + 1, f"truncated or corrupt file: {exc}", "truncated")
            break
        if chunk is None:
            break
        lines = chunk.split(b"\n")
        lines[0] = rest + lines[0]
        rest = lines.pop()
        for line in lines:
            line_no += 1
            yield line_no, line
    if rest.strip():
        line_no += 1
        yield line_no, rest


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
