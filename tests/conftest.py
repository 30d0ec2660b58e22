"""Shared test fixtures: everything local, nothing from the internet."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the checkout; tests that need it skip cleanly when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is absent")
    return SHARED


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray per test session (2 CPUs), shared by every test that asks for it."""
    import os

    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    yield ray



@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    """Tests that start Ray carry the `ray` marker, so `-m "not ray"` runs without a
    cluster: one that needs `ray_local`, directly or through another fixture, gets it here
    (the tests that start Ray on their own, through a stage, are marked where they are)."""
    for item in items:
        if "ray_local" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("ray"):
            item.add_marker(pytest.mark.ray)
