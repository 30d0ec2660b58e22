"""GPT-2's tokenizer as Hugging Face files, built offline from the sha-checked BPE files.

Without these files `AutoTokenizer.from_pretrained(OUT)` loads, offline and without an error,
a useless tokenizer, and `pipeline("text-generation")` returns empty strings. Written:
`vocab.json` and `merges.txt` (GPT-2's `encoder.json` and `vocab.bpe`, byte for byte),
`tokenizer.json` (the `tokenizers` library's byte-level BPE built from them, as GPT-2's own
tokenizer.json is), `tokenizer_config.json` and `special_tokens_map.json`
(bos = eos = unk = `<|endoftext|>`).
"""

from __future__ import annotations

import json
from pathlib import Path

from webtext.tokenize.gpt2 import EOT_ID, EOT_TOKEN, gpt2_bpe_files

TOKENIZER_FILES = (
    "vocab.json",
    "merges.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def build_tokenizer_json() -> str:
    """GPT-2's fast tokenizer (byte-level pre-tokenizer, BPE, byte-level decoder) as JSON."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    encoder, merges_txt = gpt2_bpe_files()
    vocab = json.loads(encoder)
    merges = [tuple(line.split()) for line in merges_txt.decode("utf-8").split("\n")[1:] if line]
    tok = Tokenizer(
        models.BPE(
            vocab=vocab,
            merges=merges,
            dropout=None,
            continuing_subword_prefix="",
            end_of_word_suffix="",
            fuse_unk=False,
        )
    )
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken(EOT_TOKEN, special=True, normalized=False)])
    if tok.token_to_id(EOT_TOKEN) != EOT_ID or tok.get_vocab_size() != EOT_ID + 1:
        raise RuntimeError("GPT-2 tokenizer.json: <|endoftext|> is not id 50256")
    return tok.to_str(pretty=True)


def write_tokenizer_files(out_dir: str | Path, model_max_length: int) -> list[str]:
    """Write the HF tokenizer files of GPT-2 into out_dir; returns their names."""
    out_dir = Path(out_dir)
    encoder, merges_txt = gpt2_bpe_files()
    (out_dir / "vocab.json").write_bytes(encoder)
    (out_dir / "merges.txt").write_bytes(merges_txt)
    (out_dir / "tokenizer.json").write_text(build_tokenizer_json() + "\n", encoding="utf-8")
    special = {"bos_token": EOT_TOKEN, "eos_token": EOT_TOKEN, "unk_token": EOT_TOKEN}
    config = {
        "tokenizer_class": "GPT2Tokenizer",
        **special,
        "add_prefix_space": False,
        "add_bos_token": False,
        "model_max_length": model_max_length,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "added_tokens_decoder": {
            str(EOT_ID): {
                "content": EOT_TOKEN,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
        },
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    return list(TOKENIZER_FILES)
