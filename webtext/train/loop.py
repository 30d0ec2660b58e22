"""The training loop: one process per device, DDP under torchrun, plain Python otherwise.

    webtext train CONFIG.yaml                        one process (CPU or one GPU)
    torchrun --nproc_per_node=8 -m webtext.train CONFIG.yaml [--set key=value ...]

Step numbering: step s is the s-th optimizer update (1..max_steps). Its log line holds the
mean training loss of the batch of that update and, on evaluation steps (the first, every
`eval_every`, the last), the validation loss of the model after it. A checkpoint named for
step s resumes at step s + 1 with the same data, optimizer state and RNG: the losses are the
ones an uninterrupted run would have logged.

A checkpoint knows its data: it records the sha256 of the `shards/index.json` it trained on.
Resuming (or calling finished) a training whose shards have changed since is a ConfigError
that names both digests; `train.resume=false` starts afresh, moving the old files aside.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from webtext.config import Config, ConfigError, TrainConfig
from webtext.io import StageMarker
from webtext.paths import RunPaths
from webtext.progress import log
from webtext.tokenize.shards import file_sha256
from webtext.train.checkpoint import (
    SHARDS_DIGEST,
    checkpoint_shards_digest,
    latest_checkpoint,
    load_checkpoint,
    model_state_dict,
    rng_state,
    save_checkpoint,
    set_aside,
    set_rng_state,
    strip_wrapper_prefixes,
)
from webtext.train.data import TokenShards, WindowLoader
from webtext.train.model import GPT
from webtext.train.presets import GPTConfig, get_preset

# dense bf16 tensor-core peak FLOP/s (no sparsity) by GPU name; first match wins
GPU_PEAK_FLOPS: list[tuple[tuple[str, ...], float]] = [
    (("GH200",), 989e12),
    (("H200",), 989e12),
    (("H100", "PCIE"), 756e12),
    (("H100", "NVL"), 835e12),
    (("H100",), 989e12),  # SXM / HBM3
    (("H800", "PCIE"), 756e12),
    (("H800",), 989e12),
    (("B200",), 2250e12),
    (("B100",), 1750e12),
    (("A100",), 312e12),
    (("A800",), 312e12),
    (("L40S",), 362e12),
    (("L40",), 181e12),
    (("L4",), 121e12),
    (("A10G",), 70e12),
    (("A10",), 125e12),
    (("RTX 4090",), 165e12),
    (("RTX 3090",), 71e12),
    (("V100",), 125e12),  # fp16 (no bf16 on V100)
    (("T4",), 65e12),
]

SECTIONS_FINGERPRINTED = ("train", "tokenize")


def train_fingerprint(cfg: Config) -> str:
    """What a finished training's result depends on: the train and tokenize sections, less
    `train.resume` (how a run starts, not what it makes). Hashed as `Config.fingerprint`
    does, so markers written before `resume` existed stay valid."""
    data = {name: json.loads(getattr(cfg, name).model_dump_json()) if getattr(cfg, name)
            else None for name in SECTIONS_FINGERPRINTED}  # fmt: skip
    if data["train"] is not None:
        data["train"].pop("resume", None)
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def peak_flops(device_name: str) -> float | None:
    name = device_name.upper()
    for keys, peak in GPU_PEAK_FLOPS:
        if all(k in name for k in keys):
            return peak
    return None


def lr_at(step: int, tc: TrainConfig) -> float:
    """Linear warmup over `warmup_steps`, then cosine decay to lr * min_lr_ratio at max_steps."""
    max_lr, min_lr = tc.learning_rate, tc.learning_rate * tc.min_lr_ratio
    if tc.warmup_steps and step <= tc.warmup_steps:
        return max_lr * step / tc.warmup_steps
    span = max(tc.max_steps - tc.warmup_steps, 1)
    progress = min(max((step - tc.warmup_steps) / span, 0.0), 1.0)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)


def make_optimizer(model: nn.Module, tc: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; weight decay on 2-D weights (matmuls, embeddings) only, not biases or norms."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": tc.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    extra = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW(groups, lr=tc.learning_rate, betas=(tc.beta1, tc.beta2), **extra)


# ------------------------------------------------------------------------ runtime
@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # we initialised the process group and must destroy it

    @property
    def master(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_runtime(tc: TrainConfig) -> Runtime:
    """Device and, under torchrun (RANK/WORLD_SIZE set), the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if tc.device == "auto":
        device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(tc.device)
        if device.type == "cuda" and device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device={tc.device} but CUDA is not available")
        torch.cuda.set_device(device)
    owns = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    return Runtime(device, rank, local_rank, world, owns)


def autocast_dtype(tc: TrainConfig, device: torch.device) -> torch.dtype | None:
    """None: plain fp32. auto: bf16 on CUDA (if supported), fp32 on CPU."""
    if tc.dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    return {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}[tc.dtype]


# ------------------------------------------------------------------------- logging
class MetricsLog:
    """`log.jsonl` (+ optional TensorBoard) on rank 0; lines after `resume_step` are dropped."""

    def __init__(self, out_dir: Path, resume_step: int, tensorboard: bool, enabled: bool):
        self.path = out_dir / "log.jsonl"
        self.enabled = enabled
        self.tb = None
        if not enabled:
            return
        if self.path.exists():  # a killed run may have logged past its last checkpoint
            kept = [
                line
                for line in self.path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= resume_step
            ]
            self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                raise ConfigError("train.tensorboard needs: pip install tensorboard") from exc
            self.tb = SummaryWriter(str(out_dir / "tensorboard"), purge_step=resume_step + 1)

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


# --------------------------------------------------------------------------- train
class Trainer:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.tc = tc = cfg.train or TrainConfig()
        self.paths = RunPaths.of(cfg.run_dir)
        self.out_dir = self.paths.train_dir(tc.out_dir)
        self.rt = setup_runtime(tc)
        self.device = self.rt.device
        preset = get_preset(tc.preset)
        self.seq_len = tc.seq_len or preset.block_size
        if self.seq_len > preset.block_size:
            raise ConfigError(
                f"train.seq_len={self.seq_len} > the {tc.preset} context {preset.block_size}"
            )
        self.model_config: GPTConfig = preset
        per_micro = tc.micro_batch_size * self.seq_len * self.rt.world_size
        batch_tokens = tc.batch_tokens or per_micro
        if batch_tokens % per_micro:
            raise ConfigError(
                f"train.batch_tokens={batch_tokens} is not a multiple of micro_batch_size x "
                f"seq_len x world_size = {per_micro}"
            )
        self.accum = batch_tokens // per_micro
        self.batch_tokens = batch_tokens
        self.amp_dtype = autocast_dtype(tc, self.device)
        self.shards_digest: str | None = None  # sha256 of shards/index.json, set by run()

    # -- data
    def _loaders(self) -> tuple[WindowLoader, WindowLoader | None]:
        shards_dir = self.paths.shards
        if not self.paths.shards_index.is_file():
            raise ConfigError(f"{self.paths.shards_index} not found: run `webtext tokenize`")
        train_shards = TokenShards(shards_dir, "train")
        if not train_shards.segments:
            raise ConfigError(f"no training tokens in {shards_dir}: run `webtext tokenize`")
        common = dict(rank=self.rt.rank, world_size=self.rt.world_size, seed=self.tc.seed)
        train = WindowLoader(train_shards, self.seq_len, self.tc.micro_batch_size, **common)
        train.check_enough("train shards")
        val_shards = TokenShards(shards_dir, "val")
        val = WindowLoader(val_shards, self.seq_len, self.tc.micro_batch_size, **common)
        if val.num_windows < self.rt.world_size:
            val = None
        if val is None:
            log.warning("train: no validation windows of %d tokens; val_loss is not measured",
                        self.seq_len + 1)  # fmt: skip
        return train, val

    def _to_device(self, batch: tuple[np.ndarray, np.ndarray]) -> tuple[torch.Tensor, ...]:
        cuda = self.device.type == "cuda"
        out = []
        for arr in batch:
            t = torch.from_numpy(arr)
            if cuda:
                t = t.pin_memory().to(self.device, non_blocking=True)
            out.append(t)
        return tuple(out)

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, val: WindowLoader) -> float:
        """Mean token loss on a fixed val set: the first `eval_batches * micro_batch_size`
        windows of the seeded val order, split over the ranks (same set for any world size)."""
        world, micro = self.rt.world_size, self.tc.micro_batch_size
        n = min(self.tc.eval_batches * micro, val.num_windows)
        ids = val._permutation(0)[: n - n % world][self.rt.rank :: world]
        model.eval()
        total = torch.zeros(2, dtype=torch.float64, device=self.device)  # loss sum, tokens
        for i in range(0, len(ids), micro):
            x, y = self._to_device(val.gather(ids[i : i + micro]))
            with self._autocast():
                _, loss = model(x, y)
            total[0] += loss.double() * y.numel()
            total[1] += y.numel()
        if self.rt.distributed:
            dist.all_reduce(total)
        model.train()
        return float(total[0] / total[1])

    # -- checkpoints
    def _gather_rng(self) -> list[dict[str, Any]]:
        state = rng_state()
        if not self.rt.distributed:
            return [state]
        states: list[Any] = [None] * self.rt.world_size
        dist.all_gather_object(states, state)
        return states

    def save(self, step: int, raw: GPT, opt, scaler, loader: WindowLoader) -> Path | None:
        rngs = self._gather_rng()
        path = None
        if self.rt.master:
            payload = {
                "model": model_state_dict(raw),
                "model_config": self.model_config.to_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": {"kind": "warmup_cosine", "step": step},
                "scaler": scaler.state_dict() if scaler is not None else None,
                "rng": rngs,
                "data": loader.state_dict(),
                "world_size": self.rt.world_size,
                "config": json.loads(self.cfg.model_dump_json()),
                SHARDS_DIGEST: self.shards_digest,
            }
            path = save_checkpoint(self.out_dir, step, payload, keep=self.tc.keep_checkpoints)
        if self.rt.distributed:
            dist.barrier()
        return path

    def restore(self, path: Path, raw: GPT, opt, scaler, loader: WindowLoader) -> int:
        ckpt = load_checkpoint(path, map_location=self.device)
        if ckpt["model_config"] != self.model_config.to_dict():
            raise ConfigError(
                f"{path} was trained with model {ckpt['model_config']}, train.preset now gives "
                f"{self.model_config.to_dict()}: use another train.out_dir"
            )
        raw.load_state_dict(strip_wrapper_prefixes(ckpt["model"]))
        opt.load_state_dict(ckpt["optimizer"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        loader.load_state_dict(ckpt["data"])
        rngs = ckpt["rng"]
        if len(rngs) == self.rt.world_size:
            state = rngs[self.rt.rank]
            state["torch"] = state["torch"].cpu()
            if "cuda" in state:
                state["cuda"] = state["cuda"].cpu()
            set_rng_state(state)
        return int(ckpt["step"])

    # -- data identity
    def _current_shards_digest(self) -> str:
        index = self.paths.shards_index
        if not index.is_file():
            raise ConfigError(f"{index} not found: run `webtext tokenize`")
        return file_sha256(index)

    def _check_shards(self, latest: Path) -> None:
        """The latest checkpoint must come from the shards there are now: a different
        index.json digest is an error naming both and the ways out; a checkpoint written
        before checkpoints recorded it resumes with a warning (and the next one records it)."""
        recorded = checkpoint_shards_digest(latest)
        if recorded is None:
            log.warning(
                "train: %s records no shards digest (written by an older webtext); cannot "
                "check that %s is what it was trained on: resuming, the next checkpoint "
                "records %s", latest, self.paths.shards_index, self.shards_digest,
            )  # fmt: skip
        elif recorded != self.shards_digest:
            raise ConfigError(
                f"train.out_dir {self.out_dir} holds checkpoint {latest.name} of shards with "
                f"index.json digest {recorded}, but {self.paths.shards_index} is now "
                f"{self.shards_digest}: the shards changed since it was trained; set a new "
                f"train.out_dir or pass --set train.resume=false (starts at step 0, moving the "
                f"old checkpoints and log to {self.out_dir}/replaced-<UTC time>/)"
            )

    def _start_fresh(self, marker: StageMarker) -> None:
        """train.resume=false: the old training's files move aside (never deleted) and the
        stage marker goes, so a kill during the fresh run cannot pass for a finished one."""
        if self.rt.master:
            marker.clear()
            moved = set_aside(self.out_dir)
            if moved is not None:
                dest, names = moved
                log.warning("train: train.resume=false: moved %s to %s; starting at step 0",
                            ", ".join(names), dest)  # fmt: skip
        if self.rt.distributed:
            dist.barrier()

    # -- main
    def run(self, stop_after: int | None = None) -> dict[str, Any]:
        tc, rt = self.tc, self.rt
        fingerprint = train_fingerprint(self.cfg)
        marker = StageMarker(self.cfg.run_dir, "train")
        self.shards_digest = self._current_shards_digest()
        if tc.resume:
            latest = latest_checkpoint(self.out_dir)
            if latest is not None:
                self._check_shards(latest)
            if marker.is_done(fingerprint) and latest is not None:
                log.info("train: already done (%s)", latest)
                return marker.read()["stats"]
        else:
            self._start_fresh(marker)
            latest = None

        torch.manual_seed(tc.seed)  # same init on every rank (DDP also broadcasts it)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        train_loader, val_loader = self._loaders()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        raw = GPT(self.model_config).to(self.device)
        opt = make_optimizer(raw, tc, self.device)
        scaler = None
        if self.amp_dtype == torch.float16:
            scaler = torch.amp.GradScaler(self.device.type)
        step = 0
        if latest is not None:
            step = self.restore(latest, raw, opt, scaler, train_loader)
            log.info("train: resumed from %s at step %d", latest, step)
        else:
            torch.manual_seed(tc.seed + rt.rank)  # per-rank stream for dropout
        model: nn.Module = raw
        if tc.compile:
            model = torch.compile(raw)
        if rt.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(model, device_ids=ids)

        metrics = MetricsLog(self.out_dir, step, tc.tensorboard, enabled=rt.master)
        flops_per_token = self.model_config.flops_per_token(self.seq_len)
        peak = None
        if self.device.type == "cuda":
            peak = peak_flops(torch.cuda.get_device_name(self.device))
        if rt.master:
            log.info(
                "train: %s (%s parameters), %d rank(s) on %s, seq %d, micro batch %d x %d "
                "accumulation = %d tokens/step, steps %d -> %d, out %s",
                tc.preset, f"{raw.num_parameters():,}", rt.world_size, self.device, self.seq_len,
                tc.micro_batch_size, self.accum, self.batch_tokens, step, tc.max_steps,
                self.out_dir,
            )  # fmt: skip

        start_step, last = step, None
        t_start = t_last = time.perf_counter()
        steps_since, data_s = 0, 0.0
        last_ckpt = latest
        val_loss = None
        model.train()
        while step < tc.max_steps:
            step += 1
            lr = lr_at(step, tc)
            for group in opt.param_groups:
                group["lr"] = lr
            loss_sum = torch.zeros((), device=self.device)
            for micro in range(self.accum):
                t0 = time.perf_counter()
                x, y = self._to_device(train_loader.next_batch())
                data_s += time.perf_counter() - t0
                sync = micro == self.accum - 1 or not rt.distributed
                ctx = contextlib.nullcontext() if sync else model.no_sync()
                with ctx:
                    with self._autocast():
                        _, loss = model(x, y)
                    loss = loss / self.accum
                    (scaler.scale(loss) if scaler else loss).backward()
                loss_sum += loss.detach().float()
            if scaler:
                scaler.unscale_(opt)
            grad_norm = None
            if tc.grad_clip > 0:
                grad_norm = torch.nn.utils.clip_grad_norm_(raw.parameters(), tc.grad_clip)
            if scaler:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            opt.zero_grad(set_to_none=True)
            steps_since += 1

            is_last = step == tc.max_steps
            is_eval = val_loader is not None and (step == 1 or step % tc.eval_every == 0 or is_last)
            if step % tc.log_every == 0 or is_eval or is_last or step == 1:
                if rt.distributed:
                    dist.all_reduce(loss_sum, op=dist.ReduceOp.AVG)
                loss_value = float(loss_sum)  # syncs the device
                now = time.perf_counter()
                dt = max(now - t_last, 1e-9)
                tokens_per_s = steps_since * self.batch_tokens / dt
                mfu = None
                if peak is not None:
                    mfu = flops_per_token * tokens_per_s / (peak * rt.world_size)
                record = {
                    "step": step,
                    "loss": loss_value,
                    "lr": lr,
                    "grad_norm": float(grad_norm) if grad_norm is not None else None,
                    "tokens": step * self.batch_tokens,
                    "tokens_per_s": tokens_per_s,
                    "mfu": mfu,
                    "step_ms": 1000 * dt / steps_since,
                    "data_ms": 1000 * data_s / steps_since,
                    "elapsed_s": now - t_start,
                }
                if is_eval:
                    val_loss = self.evaluate(model, val_loader)
                    record["val_loss"] = val_loss
                metrics.write(record)
                last = record
                if rt.master and (step % tc.log_every == 0 or is_last or is_eval):
                    log.info(
                        "train: step %d/%d loss %.4f%s lr %.2e %.0f tok/s%s",
                        step, tc.max_steps, loss_value,
                        f" val {val_loss:.4f}" if is_eval else "", lr, tokens_per_s,
                        f" mfu {mfu:.1%}" if mfu is not None else "",
                    )  # fmt: skip
            stopping = stop_after is not None and step >= stop_after
            if step % tc.checkpoint_every == 0 or is_last or stopping:
                last_ckpt = self.save(step, raw, opt, scaler, train_loader)
            if step % tc.log_every == 0 or is_eval or is_last or stopping:
                t_last, steps_since, data_s = time.perf_counter(), 0, 0.0
            if stopping and not is_last:
                metrics.close()
                return {"steps": step, "stopped_early": True, "checkpoint": str(last_ckpt)}

        metrics.close()
        stats = {
            "steps": step,
            "steps_run": step - start_step,
            "tokens": step * self.batch_tokens,
            "final_loss": last["loss"] if last else None,
            "final_val_loss": val_loss,
            "parameters": raw.num_parameters(),
            "world_size": rt.world_size,
            "checkpoint": str(last_ckpt) if last_ckpt else None,
            "out_dir": str(self.out_dir),
            "seconds": time.perf_counter() - t_start,
        }
        if rt.master:
            marker.mark_done(fingerprint, stats, **{SHARDS_DIGEST: self.shards_digest})
            log.info("train: done, %d steps, loss %s, val %s", step, stats["final_loss"], val_loss)
        return stats

    def close(self) -> None:
        if self.rt.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def train(cfg: Config, stop_after: int | None = None) -> dict[str, Any]:
    """Run (or resume) training; `stop_after` ends after that step with a checkpoint, as a
    preemption would (used by tests and time-boxed jobs)."""
    trainer = Trainer(cfg)
    try:
        return trainer.run(stop_after=stop_after)
    finally:
        trainer.close()
