"""Every registered pruning implementation passes the contract checks a plug-in runs too."""

from __future__ import annotations

from typing import Iterator

import pytest
import torch

from autoprune.pruning import Criterion, Granularity, Schedule, Timing, effective_weight
from autoprune.registry import ALLOCATIONS, CRITERIA, GRANULARITIES, SCHEDULES, TIMINGS
from autoprune.testing.pruning import (
    check_allocation,
    check_criterion,
    check_granularity,
    check_schedule,
    check_timing,
)


@pytest.mark.parametrize("name", CRITERIA.names())
def test_criterion_contract(name: str) -> None:
    check_criterion(CRITERIA.get(name))


# these need a transformer / a residual network: checked on such models in
# test_pruning_transformer.py and test_pruning_depth.py
NEEDS_OTHER_MODEL = {"head", "ffn", "head+ffn", "layer"}


@pytest.mark.parametrize("name", [n for n in GRANULARITIES.names() if n not in NEEDS_OTHER_MODEL])
def test_granularity_contract(name: str) -> None:
    check_granularity(GRANULARITIES.get(name))


@pytest.mark.parametrize("granularity", ["unstructured", "channel"])
@pytest.mark.parametrize("name", ALLOCATIONS.names())
def test_allocation_contract(name: str, granularity: str) -> None:
    check_allocation(ALLOCATIONS.get(name), granularity=granularity)


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_schedule_contract(name: str) -> None:
    check_schedule(SCHEDULES.get(name))


@pytest.mark.parametrize("name", TIMINGS.names())
def test_timing_contract(name: str) -> None:
    check_timing(TIMINGS.get(name))


# -- the checks catch broken implementations --------------------------------------------


@pytest.fixture
def scratch() -> Iterator[list]:
    """Registrations made by a test, removed after it."""
    made: list = []
    yield made
    for registry, name in made:
        registry.unregister(name)


def _register(scratch: list, registry, name: str, cls: type):
    registry.register_instance(name)(cls)
    scratch.append((registry, name))
    return registry.get(name)


def test_check_criterion_catches_wrong_shapes(scratch) -> None:
    class RowScores(Criterion):
        def weight_scores(self, layers, model, task=None, recipe=None):
            return {n: effective_weight(m).detach().abs().sum(1) for n, m in layers}

    with pytest.raises(AssertionError, match="has shape"):
        check_criterion(_register(scratch, CRITERIA, "row_scores_test", RowScores))


def test_check_criterion_needs_registration() -> None:
    class Loose(Criterion):
        def weight_scores(self, layers, model, task=None, recipe=None):
            return {n: effective_weight(m).detach().abs() for n, m in layers}

    with pytest.raises(AssertionError, match="must be registered"):
        check_criterion(Loose())


def test_check_granularity_catches_a_missed_target(scratch) -> None:
    class Lazy(Granularity):
        def prune_step(self, pruner, model, layers, target):
            return None  # removes nothing

    with pytest.raises(AssertionError, match="removed 0.000"):
        check_granularity(_register(scratch, GRANULARITIES, "lazy_test", Lazy))


def test_check_schedule_catches_a_wrong_end(scratch) -> None:
    class Short(Schedule):
        def targets(self, final, steps):
            return [final * 0.99]

    with pytest.raises(AssertionError, match="must end at"):
        check_schedule(_register(scratch, SCHEDULES, "short_test", Short))


def test_check_timing_catches_a_changed_dense_model(scratch) -> None:
    class InPlace(Timing):
        def run(self, pruner, dense, fine_tune):
            with torch.no_grad():
                dense[0].weight.zero_()
            fine_tune(dense, 1e-3, pruner.recipe.finetune_epochs, "constant")
            return dense

    with pytest.raises(AssertionError, match="dense model unchanged"):
        check_timing(_register(scratch, TIMINGS, "in_place_test", InPlace))
