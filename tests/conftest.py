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
