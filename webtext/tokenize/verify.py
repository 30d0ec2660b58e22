"""Check a run's token shards against index.json and the documents they came from."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from webtext.paths import RunPaths
from webtext.tokenize.encode import is_val, split_keys
from webtext.tokenize.gpt2 import ENCODING_NAME, EOT_ID, VOCAB_SIZE, get_encoding, vocab_hashes
from webtext.tokenize.reader import ShardReader, read_index
from webtext.tokenize.shards import SPLITS, file_sha256, shard_relpath


@dataclass
class VerifyResult:
    problems: list[str] = field(default_factory=list)
    shards: int = 0
    rows: int = 0
    tokens: int = 0
    sampled: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_shard(
    shards_dir: Path, entry: dict[str, Any], val_fraction: float, problems: list[str]
) -> ShardReader | None:
    name = entry["file"]
    path = shards_dir / name
    digest = file_sha256(path)
    if digest != entry["sha256"]:
        problems.append(f"{name}: sha256 {digest} != index {entry['sha256']} (file changed)")
    try:
        reader = ShardReader(path)
        # a corrupted file can fail anywhere: report it, then keep checking the others
        if len(reader) != entry["rows"]:
            problems.append(f"{name}: {len(reader)} rows, index says {entry['rows']}")
        if reader.num_tokens != entry["tokens"]:
            problems.append(f"{name}: {reader.num_tokens} tokens, index says {entry['tokens']}")
        if len(reader):
            _check_contents(name, reader, entry, val_fraction, problems)
    except Exception as exc:  # any failure to read a shard is a finding, not a crash
        problems.append(f"{name}: unreadable shard: {type(exc).__name__}: {exc}")
        return None
    return reader


def _check_contents(
    name: str, reader: ShardReader, entry: dict[str, Any], val_fraction: float, problems: list
) -> None:
    tokens, offsets = reader.tokens, reader.offsets
    if np.any(np.diff(offsets) < 1):
        problems.append(f"{name}: a row has no tokens (every document ends with {EOT_ID})")
        return
    if int(tokens.max()) >= VOCAB_SIZE:
        problems.append(f"{name}: token id {int(tokens.max())} outside the GPT-2 vocabulary")
    ends = tokens[offsets[1:] - 1]
    if np.any(ends != EOT_ID):
        problems.append(f"{name}: {int(np.sum(ends != EOT_ID))} rows do not end with {EOT_ID}")
    if int(np.count_nonzero(tokens == EOT_ID)) != len(reader):
        problems.append(f"{name}: {EOT_ID} inside a document (special token injected)")
    ids = reader.ids
    if len(ids) > 1 and not pc.all(pc.less(ids.slice(0, len(ids) - 1), ids.slice(1))).as_py():
        problems.append(f"{name}: ids are not strictly ascending")
    if ids[0].as_py() != entry.get("first_id", ids[0].as_py()) or ids[-1].as_py() != entry.get(
        "last_id", ids[-1].as_py()
    ):
        problems.append(f"{name}: first/last id differ from the index")
    want_val = entry["split"] == "val"
    keys = split_keys(ids.to_pylist())
    wrong = int(np.sum(is_val(keys, val_fraction) != want_val))
    if wrong:
        problems.append(f"{name}: {wrong} documents belong to the other split")
    buckets = entry.get("_buckets", 0)
    if buckets:
        misplaced = int(np.sum((keys & np.uint64(buckets - 1)) != np.uint64(entry["bucket"])))
        if misplaced:
            problems.append(f"{name}: {misplaced} documents belong to another bucket")


def _documents_text(documents: Path, ids: set[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    wanted = pa.array(sorted(ids), pa.string())
    for path in sorted(documents.glob("part-*.parquet")):
        table = pq.read_table(path, columns=["id", "text"])
        table = table.filter(pc.is_in(table.column("id"), value_set=wanted))
        found.update(
            zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True)
        )
    return found


def verify_run(run_dir: str | Path, *, sample: int = 64, seed: int = 0) -> VerifyResult:
    """Every shard against the index, then `sample` decoded rows against documents/ (-1: all)."""
    paths = RunPaths.of(run_dir)
    shards_dir = paths.shards
    result = VerifyResult()
    problems = result.problems
    try:
        index = read_index(shards_dir)
    except (OSError, ValueError) as exc:
        problems.append(str(exc))
        return result
    tok = index.get("tokenizer", {})
    if tok.get("name") != ENCODING_NAME or tok.get("vocab_hashes") != vocab_hashes():
        problems.append(f"index tokenizer {tok.get('name')!r} {tok.get('vocab_hashes')} != GPT-2's")
    entries = index["shards"]
    listed = {e["file"] for e in entries}
    on_disk = {
        p.relative_to(shards_dir).as_posix()
        for p in shards_dir.rglob("*")
        if p.is_file() and p != paths.shards_index
    }
    problems += [f"{f}: listed in index.json but missing" for f in sorted(listed - on_disk)]
    problems += [f"{f}: not listed in index.json (extra file)" for f in sorted(on_disk - listed)]

    buckets = index.get("layout", {}).get("buckets", {})
    readers: list[tuple[dict[str, Any], ShardReader]] = []
    for entry in entries:
        if entry["file"] not in on_disk:
            continue
        entry = {**entry, "_buckets": int(buckets.get(entry["split"], 0))}
        if not 0 <= entry.get("bucket", -1) < entry["_buckets"] or entry["file"] != shard_relpath(
            entry["split"], entry["bucket"]
        ):
            problems.append(f"{entry['file']}: bucket {entry.get('bucket')} outside the layout")
            continue
        if not entry["file"].startswith(f"{entry['split']}/"):
            problems.append(f"{entry['file']}: listed as split {entry['split']!r}")
        reader = _check_shard(shards_dir, entry, index["val_fraction"], problems)
        if reader is not None:
            readers.append((entry, reader))
            result.shards += 1
            result.rows += len(reader)
            result.tokens += reader.num_tokens
    for split in SPLITS:
        mine = [e for e in entries if e["split"] == split]
        want = {"shards": len(mine), "rows": sum(e["rows"] for e in mine)}
        want["tokens"] = sum(e["tokens"] for e in mine)
        if index["totals"].get(split) != want:
            problems.append(f"index totals for {split} {index['totals'].get(split)} != {want}")
        for a, b in pairwise(mine):
            if not a["bucket"] < b["bucket"]:
                problems.append(f"{a['file']} and {b['file']}: shards out of bucket order")
    if sample:
        _check_text(paths.documents, readers, index["val_fraction"], sample, seed, result)
    return result


MAX_EXAMPLES = 20  # text problems listed one by one; more are counted


def _compare(reader: ShardReader, i: int, text: str, enc: Any) -> str | None:
    """None when row i of `reader` decodes to exactly `text`, else what is wrong."""
    raw = enc.decode_bytes(reader.document(i)[:-1].tolist())
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "tokens do not decode to valid UTF-8"
    if decoded == text:
        return None
    pairs = zip(decoded, text, strict=False)
    at = next((k for k, (x, y) in enumerate(pairs) if x != y), min(len(decoded), len(text)))
    return f"decoded text differs from the document at char {at}"


class _TextProblems:
    def __init__(self, result: VerifyResult):
        self.result, self.count = result, 0

    def add(self, reader: ShardReader, i: int, what: str) -> None:
        self.count += 1
        if self.count <= MAX_EXAMPLES:
            where = f"{reader.path.parent.name}/{reader.path.name} row {i} ({reader.doc_id(i)})"
            self.result.problems.append(f"{where}: {what}")

    def close(self) -> None:
        if self.count > MAX_EXAMPLES:
            self.result.problems.append(f"... {self.count} rows with text problems in all")


def _check_text(
    documents: Path,
    readers: list[tuple[dict, ShardReader]],
    val_fraction: float,
    sample: int,
    seed: int,
    result: VerifyResult,
) -> None:
    """Decode `sample` random rows (all when < 0) and compare them with documents/."""
    shards = [r for _, r in readers]
    total = sum(len(r) for r in shards)
    if not total:
        return
    if not documents.is_dir():
        result.problems.append(f"{documents} is missing: cannot compare decoded text")
        return
    if sample < 0 or sample >= total:
        _check_every_document(documents, readers, val_fraction, result)
        return
    ends = np.cumsum([len(r) for r in shards])
    picks = sorted(random.Random(seed).sample(range(total), sample))
    where = np.searchsorted(ends, picks, side="right")
    rows = [
        (shards[s], p - (int(ends[s - 1]) if s else 0)) for s, p in zip(where, picks, strict=True)
    ]
    texts = _documents_text(documents, {r.doc_id(i) for r, i in rows})
    enc, problems = get_encoding(), _TextProblems(result)
    for reader, i in rows:
        text = texts.get(reader.doc_id(i))
        what = "no document with this id in documents/" if text is None else None
        what = what or _compare(reader, i, text, enc)
        if what:
            problems.add(reader, i, what)
        result.sampled += 1
    problems.close()


def _check_every_document(
    documents: Path,
    readers: list[tuple[dict, ShardReader]],
    val_fraction: float,
    result: VerifyResult,
) -> None:
    """Every document against its row, one documents/ file at a time (bounded memory); also
    finds documents that no shard holds and rows whose document is gone."""
    by_bucket = {(e["split"] == "val", e["bucket"]): r for e, r in readers}
    buckets = {e["split"] == "val": e["_buckets"] for e, _ in readers}
    enc, problems = get_encoding(), _TextProblems(result)
    matched = 0
    for path in sorted(documents.glob("part-*.parquet")):
        table = pq.read_table(path, columns=["id", "text"])
        ids, texts = table.column("id").to_pylist(), table.column("text").to_pylist()
        keys = split_keys(ids)
        vals = is_val(keys, val_fraction)
        groups: dict[tuple[bool, int], list[int]] = {}
        for n, doc_id in enumerate(ids):
            in_val = bool(vals[n])
            count = buckets.get(in_val, 0)
            key = (in_val, int(keys[n]) & (count - 1)) if count else None
            if key not in by_bucket:
                result.problems.append(f"document {doc_id} ({path.name}) is in no shard")
                continue
            groups.setdefault(key, []).append(n)
        for key, members in groups.items():
            reader = by_bucket[key]
            found = pc.index_in(
                pa.array([ids[n] for n in members], pa.string()), value_set=reader.ids
            ).to_pylist()
            for n, row in zip(members, found, strict=True):
                if row is None:
                    result.problems.append(f"document {ids[n]} ({path.name}) is in no shard")
                    continue
                matched += 1
                what = _compare(reader, row, texts[n], enc)
                if what:
                    problems.add(reader, row, what)
                result.sampled += 1
    problems.close()
    if matched != result.rows:
        result.problems.append(
            f"{result.rows - matched} shard rows have no document in documents/ "
            f"({result.rows} rows, {matched} matched)"
        )
