"""Names the search space validates against, for tests that run before their owners
register them.

The pruning layer registers criteria, granularities, allocations, schedules and timings,
the search layer executors and trial pruners. Where a registry lacks one of the names
below, :func:`space_registries` registers a stand-in for the test and removes it after;
names already registered are left alone, so once every layer registers its own this
fixture changes nothing.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Iterator

import pytest

from autoprune import registry

_NAMES = {
    registry.CRITERIA: ("magnitude_l1", "magnitude_l2", "random", "taylor", "wanda"),
    registry.GRANULARITIES: ("unstructured", "nm", "channel"),
    registry.ALLOCATIONS: ("uniform", "global", "sensitivity"),
    registry.SCHEDULES: ("one_shot", "iterative", "gradual"),
    registry.TIMINGS: ("after_training", "during_training", "before_training"),
    registry.EXECUTORS: ("local", "ray"),
    registry.TRIAL_PRUNERS: ("none", "median", "hyperband", "successive_halving", "pareto"),
}
# what the space reads of a granularity: the allocations it supports (None: all)
_ALLOCATIONS = {"nm": ("uniform",)}


def _stand_in(name: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, allocations=_ALLOCATIONS.get(name), packed=name != "channel",
                           fixed_sparsity=name == "nm")


@pytest.fixture(scope="module")
def space_registries() -> Iterator[None]:
    added = []
    for reg, names in _NAMES.items():
        for name in names:
            if name not in reg:
                reg.register(name, _stand_in(name))
                added.append((reg, name))
    yield
    for reg, name in added:
        reg.unregister(name)
