"""Documents -> GPT-2 token lists (each followed by `<|endoftext|>`), and the train/val rule.

The encode path is what the benchmark measures against bare tiktoken
`encode_ordinary_batch`. It runs the same thread pool as that function, but asks tiktoken for
numpy buffers (`encode_to_numpy`) instead of Python lists of ints, so the tokens go from Rust
to a uint16 Arrow array without one Python object per token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa

from webtext.tokenize.gpt2 import EOT_ID, VOCAB_SIZE, get_encoding

# uint16 holds every GPT-2 id: the largest is EOT_ID = 50256 < 65536 = 2**16. Half the bytes of
# int32, the dtype nanoGPT and llm.c use on disk, and what the trainer memory-maps directly.
TOKEN_DTYPE = np.uint16
TOKEN_TYPE = pa.uint16()
if np.iinfo(TOKEN_DTYPE).max + 1 < VOCAB_SIZE:  # pragma: no cover - a constant's sanity
    raise ImportError("GPT-2 ids do not fit the token dtype")

_NO_SPECIAL: frozenset[str] = frozenset()


class DocumentEncoder:
    """Encodes texts as ordinary text (a literal `<|endoftext|>` stays text), each + EOT.

    `encode(texts)` returns an Arrow `list<uint16>` array, one list per text. Threads live as
    long as the encoder; use it as a context manager or call `close()`.
    """

    def __init__(self, num_threads: int = 2):
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        self.num_threads = num_threads
        self._enc = get_encoding()
        self._pool = ThreadPoolExecutor(num_threads) if num_threads > 1 else None

    def _encode_one(self, text: str) -> np.ndarray:
        # allowed_special empty + disallowed_special empty == encode_ordinary: the special-token
        # string is never matched as a special token, nor rejected (tests check the equality).
        try:
            return self._enc.encode_to_numpy(
                text, allowed_special=_NO_SPECIAL, disallowed_special=()
            )
        except UnicodeEncodeError:
            # lone surrogates cannot reach here from Arrow strings; same repair as tiktoken
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
            return self._enc.encode_to_numpy(
                text, allowed_special=_NO_SPECIAL, disallowed_special=()
            )

    def encode_arrays(self, texts: Sequence[str]) -> list[np.ndarray]:
        """uint32 token arrays (without EOT), one per text, in order."""
        if self._pool is None:
            return [self._encode_one(t) for t in texts]
        return list(self._pool.map(self._encode_one, texts))

    def encode(self, texts: Sequence[str]) -> pa.ListArray:
        """`list<uint16>` array: each text's ordinary tokens followed by EOT_ID (50256)."""
        parts = self.encode_arrays(texts)
        return pack_token_lists(parts, append_eot=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> DocumentEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pack_token_lists(parts: Sequence[Sequence[int]], *, append_eot: bool) -> pa.ListArray:
    """Token sequences -> one Arrow `list<uint16>` array with a single flat values buffer."""
    extra = 1 if append_eot else 0
    lengths = np.fromiter((len(p) + extra for p in parts), dtype=np.int64, count=len(parts))
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError(f"{offsets[-1]} tokens in one batch: over Arrow list's int32 offsets")
    flat = np.empty(int(offsets[-1]), dtype=TOKEN_DTYPE)
    for start, end, part in zip(offsets[:-1], offsets[1:] - extra, parts, strict=True):
        flat[start:end] = part
    if append_eot and len(parts):
        flat[offsets[1:] - 1] = EOT_ID
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(flat))


# ---------------------------------------------------------------------------- split
SPLIT_RULE = "val iff int.from_bytes(sha256(id utf-8)[:8], 'big') < val_fraction * 2**64"


def split_key(doc_id: str) -> int:
    """A uniform 64-bit number from the document id; the split compares it with a threshold."""
    return int.from_bytes(hashlib.sha256(doc_id.encode("utf-8")).digest()[:8], "big")


def split_keys(ids: Sequence[str]) -> np.ndarray:
    return np.fromiter((split_key(i) for i in ids), dtype=np.uint64, count=len(ids))


def val_threshold(val_fraction: float) -> int:
    """Keys below this go to val. Exact integer arithmetic, so no float rounding at the edge."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    return min(int(val_fraction * 2**64), 2**64 - 1)


def is_val(keys: np.ndarray, val_fraction: float) -> np.ndarray:
    return np.asarray(keys, dtype=np.uint64) < np.uint64(val_threshold(val_fraction))
