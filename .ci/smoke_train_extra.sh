#!/usr/bin/env bash
# The `train` extra alone is enough for `webtext export-hf` and `webtext sample`: a fresh
# venv with `pip install -e '.[train]'` (no test extras, no transformers) exports a tiny
# checkpoint to an HF folder with its tokenizer files and samples from that folder.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv-train}
python3 -m venv --upgrade-deps "$venv"
"$venv/bin/pip" install -q -e '.[train]' -c constraints-cpu.txt
if "$venv/bin/python" -c "import transformers" 2>/dev/null; then
  echo "error: the train-only venv has transformers: the smoke test would prove nothing" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$venv/bin/python" - "$tmp/train" <<'PY'
import sys

from webtext.train.checkpoint import save_checkpoint
from webtext.train.model import GPT
from webtext.train.presets import PRESETS

model = GPT(PRESETS["tiny"].with_(block_size=64))
save_checkpoint(sys.argv[1], 1, {"model": model.state_dict(), "model_config": model.config.to_dict()})
PY
"$venv/bin/webtext" export-hf "$tmp/train" "$tmp/hf"
for f in config.json model.safetensors vocab.json merges.txt tokenizer.json tokenizer_config.json; do
  test -s "$tmp/hf/$f" || { echo "error: export-hf wrote no $f" >&2; exit 1; }
done
"$venv/bin/webtext" sample "$tmp/hf" --prompt "Hello" --max-new-tokens 5 --temperature 0
echo "train extra: export-hf and sample work without the test extras"
