"""Timings drive the prune steps and the fine-tune callback; checked with a callback that records."""

from __future__ import annotations

import pytest
import torch

from autoprune.pruning import Pruner, prune_epochs, timing_of
from autoprune.recipe import Recipe
from autoprune.testing.pruning import TinyTask


class _Recorder:
    def __init__(self, pruner: Pruner) -> None:
        self.pruner, self.calls = pruner, []

    def __call__(self, model, lr, epochs, lr_schedule) -> bool:
        w = model[0].weight
        self.calls.append((lr, epochs, lr_schedule, round(float((w == 0).float().mean()), 4)))
        return False


def _run(recipe: Recipe) -> list:
    task = TinyTask()
    pruner = Pruner(recipe, task)
    rec = _Recorder(pruner)
    torch.manual_seed(0)
    timing_of(recipe).run(pruner, task.build_model(), rec)
    return rec.calls


def test_prune_epochs_by_hand() -> None:
    assert prune_epochs(3, 20) == [0, 8, 15]  # round(7.5) == 8
    assert prune_epochs(1, 10) == [5]
    assert prune_epochs(2, 2) == [0, 1]


def test_after_training_fine_tunes_between_steps() -> None:
    r = Recipe(sparsity=0.75, schedule="iterative", steps=3, finetune_epochs=5, finetune_lr=0.01,
               finetune_schedule="cosine")
    # split_epochs(5, 3) == [1, 2, 2]; layer 0 (8 x 16 weights) at 0.25, 0.5, 0.75
    assert _run(r) == [(0.01, 1, "cosine", 0.25), (0.01, 2, "cosine", 0.5), (0.01, 2, "cosine", 0.75)]


def test_during_training_prunes_at_its_epochs() -> None:
    r = Recipe(sparsity=0.5, schedule="iterative", steps=2, timing="during_training", finetune_epochs=1)
    # baseline_epochs 2 + 1: steps at epochs 0 and 1, one epoch per call at the task's rate
    assert _run(r) == [(1e-2, 1, "constant", 0.25), (1e-2, 1, "constant", 0.5), (1e-2, 1, "constant", 0.5)]


def test_before_training_prunes_once_then_trains() -> None:
    r = Recipe(sparsity=0.5, schedule="gradual", steps=3, timing="before_training", finetune_epochs=1)
    assert _run(r) == [(1e-2, 3, "constant", 0.5)]


@pytest.mark.parametrize("timing, epochs", [("after_training", 4), ("during_training", 6), ("before_training", 6)])
def test_training_length(timing: str, epochs: int) -> None:
    task = TinyTask()
    task.baseline_epochs = 2
    recipe = Recipe(timing=timing, finetune_epochs=4)
    assert timing_of(recipe).training_length(recipe, task) == epochs


# -- step budgets: the same timings, counted in optimizer steps (TinyTask: 4 batches an epoch)


def test_after_training_splits_a_step_budget_at_the_task_relative_rate() -> None:
    r = Recipe(sparsity=0.75, schedule="iterative", steps=3, finetune_steps=10, finetune_lr_scale=0.5)
    # split 3 + 3 + 4; 0.5 x TinyTask's baseline_lr 1e-2
    assert _run(r) == [(5e-3, 3, "constant", 0.25), (5e-3, 3, "constant", 0.5), (5e-3, 4, "constant", 0.75)]


def test_during_training_prunes_at_optimizer_steps() -> None:
    r = Recipe(sparsity=0.5, schedule="iterative", steps=2, timing="during_training", finetune_steps=5)
    # 2 baseline epochs = 8 steps, + 5: steps at prune_epochs(2, 8) == [0, 6]; one call per segment
    assert _run(r) == [(1e-2, 6, "constant", 0.25), (1e-2, 7, "constant", 0.5)]


def test_before_training_trains_the_whole_step_budget() -> None:
    r = Recipe(sparsity=0.5, timing="before_training", finetune_steps=5)
    assert _run(r) == [(1e-2, 13, "constant", 0.5)]


@pytest.mark.parametrize("timing, steps", [("after_training", 10), ("during_training", 18), ("before_training", 18)])
def test_training_length_in_steps(timing: str, steps: int) -> None:
    recipe = Recipe(timing=timing, finetune_steps=10)
    assert timing_of(recipe).training_length(recipe, TinyTask()) == steps
