"""Reading test and reference files: plain text, JSON lines with `text`, Parquet with `text`.

Plain text: one document per non-empty line (the layout of LAMBADA's and most test sets'
plain-text releases; WikiText-style dumps keep a paragraph per line), or with
`text_unit="paragraph"` one document per blank-line-separated block. A `.gz` suffix is read
through gzip. The format comes from the suffix: `.jsonl`/`.json`/`.ndjson`, `.parquet`,
anything else is text.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import orjson
import pyarrow.parquet as pq

TextUnit = Literal["line", "paragraph"]
FORMATS = ("text", "jsonl", "parquet")


def file_format(path: str | Path) -> str:
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in {".jsonl", ".json", ".ndjson"}:
        return "jsonl"
    if last == ".parquet":
        return "parquet"
    return "text"


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix.lower() == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def iter_documents(
    path: str | Path, text_unit: TextUnit = "line", field: str = "text"
) -> Iterator[str]:
    """Yield each document's text; a clear error names the file and line of bad input."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"test file not found: {path}")
    fmt = file_format(path)
    if fmt == "parquet":
        pf = pq.ParquetFile(path)
        if field not in pf.schema_arrow.names:
            raise ValueError(f"{path}: no {field!r} column (columns: {pf.schema_arrow.names})")
        for batch in pf.iter_batches(columns=[field], batch_size=4096):
            for text in batch.column(0).to_pylist():
                yield text or ""
        return
    with _open_text(path) as fh:
        if fmt == "jsonl":
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: not valid JSON: {exc}") from None
                if not isinstance(row, dict) or not isinstance(row.get(field), str):
                    raise ValueError(f"{path}:{lineno}: expected an object with a {field!r} string")
                yield row[field]
            return
        if text_unit == "line":
            for line in fh:
                if line.strip():
                    yield line.rstrip("\n")
            return
        block: list[str] = []
        for line in fh:
            if line.strip():
                block.append(line.rstrip("\n"))
            elif block:
                yield "\n".join(block)
                block = []
        if block:
            yield "\n".join(block)


def iter_batches(
    path: str | Path, text_unit: TextUnit = "line", batch_size: int = 2048
) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in iter_documents(path, text_unit):
        batch.append(text)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_documents(path: str | Path, text_unit: TextUnit = "line") -> list[str]:
    return list(iter_documents(path, text_unit))
