"""Starting or joining Ray, and mapping a function over shards with retries and progress."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from webtext.config import RayConfig
from webtext.progress import Progress

log = logging.getLogger("webtext.ray")
T = TypeVar("T")


@contextlib.contextmanager
def ray_session(cfg: RayConfig) -> Iterator[Any]:
    """Join `cfg.address` or start a local Ray sized by `cfg.num_cpus`.

    A Ray that is already initialised in this process (a test fixture, or `webtext run`
    chaining stages) is reused and left running.
    """
    import ray

    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    kwargs: dict[str, Any] = {
        "ignore_reinit_error": True,
        "logging_level": logging.WARNING,
        "log_to_driver": True,
    }
    if cfg.address:
        kwargs["address"] = cfg.address
    else:
        kwargs["num_cpus"] = cfg.num_cpus
        kwargs["include_dashboard"] = False
    ray.init(**kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()


def map_shards(
    fn: Callable[..., T],
    items: Sequence[Any],
    *,
    desc: str,
    num_cpus: float = 1,
    max_retries: int = 3,
    unit: str = "shard",
    **kwargs: Any,
) -> list[T]:
    """Run `fn(item, **kwargs)` as one Ray task per item; results in the order of `items`.

    Each task must be idempotent (deterministic output names, atomic writes), so a task
    retried after a worker died produces no duplicate output.
    """
    import ray

    if not items:
        return []
    remote = ray.remote(num_cpus=num_cpus, max_retries=max_retries, retry_exceptions=False)(fn)
    shared = {k: ray.put(v) if _is_big(v) else v for k, v in kwargs.items()}
    refs = [remote.remote(item, **shared) for item in items]
    index = {ref: i for i, ref in enumerate(refs)}
    results: list[Any] = [None] * len(refs)
    pending = list(refs)
    with Progress(len(refs), desc, unit) as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                results[index[ref]] = ray.get(ref)
                bar.update()
    return results


def _is_big(value: Any) -> bool:
    return isinstance(value, (bytes, list, dict)) and len(value) > 1000
