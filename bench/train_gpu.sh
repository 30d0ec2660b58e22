#!/usr/bin/env bash
# GPU training benchmark: gpt2 preset (124M), bf16 autocast, torch.compile, seq 1024, one GPU.
# Prints tokens/s, MFU (peak picked from the detected GPU name) and how much of each step the
# data loader took. A few minutes: shard writing ~20 s, compile ~1-2 min, STEPS steps.
#   bash bench/train_gpu.sh [STEPS] [MICRO_BATCH]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python
STEPS=${1:-120}
MICRO=${2:-16}
RUN=${RUN_DIR:-$(mktemp -d /tmp/webtext-train-gpu.XXXXXX)}
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name(0))"
"$PY" bench/bench_train.py --make-shards "$RUN" --tokens 60000000
cat > "$RUN/train.yaml" <<YAML
run_dir: $RUN
train:
  preset: gpt2
  seq_len: 1024
  micro_batch_size: $MICRO
  batch_tokens: $((MICRO * 1024 * 4))
  max_steps: $STEPS
  warmup_steps: 10
  log_every: 5
  eval_every: 100000
  eval_batches: 2
  checkpoint_every: 100000
  keep_checkpoints: 1
  compile: true
  dtype: bfloat16
  device: cuda
YAML
"$PY" -m webtext.train "$RUN/train.yaml"
echo "== steady state (steps > 30, compile and warm-up left out) =="
"$PY" bench/bench_train.py --summarize "$RUN/train" --skip 30 | tee bench/results/train_gpu.json
