"""Shared fixtures: an isolated cache for baselines and scans, reused across the session."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("AUTOPRUNE_CACHE_DIR", str(tmp_path_factory.mktemp("autoprune-cache")))
    mp.setenv("NEPTUNE_MODE", "debug")  # never reach a server from tests
    yield
    mp.undo()


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for every Ray test (starting Ray costs several seconds)."""
    ray = pytest.importorskip("ray")
    from autoprune.search._ray import _local_only

    # on the loopback interface, as the local Ray instance of a search
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, **_local_only(ray))
    yield ray
    ray.shutdown()
