"""The stage table: which function runs each stage command, as the driver package registers it.

`webtext/` is the library and never imports `pipelines/` (the drivers that decide what runs
where). The drivers register their entry functions as Python entry points of the group
`webtext.stages` (pyproject.toml, `[project.entry-points."webtext.stages"]`), and the CLI
and the Python API (`webtext.run`, `webtext.stages.<stage>`) look a name up here when they
are called. An installed package always carries its table; a source tree that was never
installed (`pip install -e .`) has none, which `driver` reports as such.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

GROUP = "webtext.stages"


class DriverMissing(RuntimeError):
    """No function is registered for a stage name (the package is not installed, or the name
    is not one the installed drivers provide)."""


def table() -> dict[str, EntryPoint]:
    """Registered name -> entry point (not loaded: nothing is imported until it is called)."""
    out: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        out.setdefault(ep.name, ep)  # the first installation on sys.path wins, as for imports
    return out


def driver(name: str) -> Callable[..., Any]:
    """The function registered under `name` (e.g. "crawl" -> pipelines.crawl:run), imported now."""
    registered = table()
    if not registered:
        raise DriverMissing(
            f"no stage drivers are registered (entry point group {GROUP!r} is empty): install "
            "the webtext package with its drivers, e.g. `pip install -e .` in the source tree"
        )
    if name not in registered:
        raise DriverMissing(
            f"no driver registered for {name!r} in entry point group {GROUP!r} "
            f"(registered: {', '.join(sorted(registered))}); reinstall the package "
            "(`pip install -e .`) if it was installed from an older source tree"
        )
    return registered[name].load()
