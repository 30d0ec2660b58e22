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
    records: tuple[str, int | None] | None = None,
    on_result: Callable[[int, T], None] | None = None,
    **kwargs: Any,
) -> list[T]:
    """Run `fn(item, **kwargs)` as one Ray task per item; results in the order of `items`.

    Each task must be idempotent (deterministic output names, atomic writes), so a task
    retried after a worker died produces no duplicate output. `records=(kind, total)` adds
    a second bar: what the tasks `count()` of that kind (bytes read, URLs fetched, ...)
    against `total` (None when unknown); other kinds show beside it.
    """
    import ray

    if not items:
        return []
    options = {"num_cpus": num_cpus, "max_retries": max_retries, "retry_exceptions": False}
    shared = {k: ray.put(v) if _is_big(v) else v for k, v in kwargs.items()}
    counter = None
    if records is None:
        remote = ray.remote(**options)(fn)
        refs = [remote.remote(item, **shared) for item in items]
    else:
        counter = _RecordCounter.remote()
        remote = ray.remote(**options)(_counted).options(name=getattr(fn, "__name__", "task"))
        refs = [remote.remote(fn, counter, item, **shared) for item in items]
    index = {ref: i for i, ref in enumerate(refs)}
    results: list[Any] = [None] * len(refs)
    pending = list(refs)
    with contextlib.ExitStack() as stack:
        if counter is not None:
            stack.callback(ray.kill, counter)
        bar = stack.enter_context(Progress(len(refs), desc, unit))
        rec = None
        if records is not None:
            rec = Progress(records[1], f"{desc} ({records[0]})", records[0])
            stack.callback(rec.close, True)
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=None if rec is None else 1.0)
            for ref in done:
                results[index[ref]] = ray.get(ref)
                if on_result is not None:
                    on_result(index[ref], results[index[ref]])
                bar.update()
            if rec is not None:
                _show_records(rec, ray.get(counter.get.remote()), records[0])
    return results


def _show_records(bar: Progress, counts: dict[str, int], kind: str) -> None:
    bar.set_extra({k: v for k, v in sorted(counts.items()) if k != kind})
    bar.update(counts.get(kind, 0) - bar.count)


def _counted(fn: Callable[..., T], counter: Any, item: Any, **kwargs: Any) -> T:
    """The task body: `fn(item)` with its `count()` calls sent to the driver's counter."""
    import ray

    from webtext.progress import counting_to

    with counting_to(lambda counts: counter.add.remote(counts)):
        result = fn(item, **kwargs)
    ray.get(counter.get.remote())  # calls from one worker run in order: the counts are in
    return result


def _make_counter() -> Any:
    import ray

    @ray.remote(num_cpus=0)
    class RecordCounter:
        """Sums the counts tasks send; the driver reads them about once a second."""

        def __init__(self) -> None:
            self.counts: dict[str, int] = {}

        def add(self, counts: dict[str, int]) -> None:
            for key, value in counts.items():
                self.counts[key] = self.counts.get(key, 0) + value

        def get(self) -> dict[str, int]:
            return dict(self.counts)

    return RecordCounter


class _LazyCounter:
    """The actor class, defined on first use (importing this module never imports ray)."""

    _cls: Any = None

    def remote(self) -> Any:
        if self._cls is None:
            type(self)._cls = _make_counter()
        return self._cls.remote()


_RecordCounter = _LazyCounter()


def _is_big(value: Any) -> bool:
    return isinstance(value, (bytes, list, dict)) and len(value) > 1000
