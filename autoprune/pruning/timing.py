"""The timing extension point: when pruning happens relative to training.

A :class:`Timing` drives one trial's prune steps and its training through a fine-tune
callback; the trial (:func:`autoprune.trial.run_trial`) measures what comes out. The
built-ins, registered in :data:`~autoprune.registry.TIMINGS`: ``after_training`` (from
the trained baseline, fine-tuning between steps), ``during_training`` (gradual pruning
while training from scratch) and ``before_training`` (prune the fresh model, then train).
"""

from __future__ import annotations

import abc
import copy
from typing import TYPE_CHECKING, Callable

from torch import nn

from autoprune.pruning.schedules import schedule_targets, split_epochs
from autoprune.recipe import Recipe
from autoprune.registry import TIMINGS
from autoprune.tasks import Task

if TYPE_CHECKING:
    from autoprune.pruning.pruner import Pruner

__all__ = [
    "FineTune",
    "Timing",
    "TIMINGS",
    "AfterTraining",
    "DuringTraining",
    "BeforeTraining",
    "timing_of",
    "prune_epochs",
]

#: ``fine_tune(model, lr, epochs, lr_schedule) -> stop``: trains ``model`` ``epochs`` epochs
#: (reporting after each); True when the trial was told to stop.
FineTune = Callable[[nn.Module, float, int, str], bool]


class Timing(abc.ABC):
    """When the prune steps happen; one required method, :meth:`run`.

    Attributes:
        name: the name it is registered under (set on registration).
        reports_pruned_model: True when the pruned model is reported once before its
            first fine-tune epoch (step 0), so a trial pruner can stop it for free.
        in_summary: False for the default timing, which :meth:`Recipe.summary` leaves out.
    """

    name: str = ""
    reports_pruned_model: bool = False
    in_summary: bool = True

    @abc.abstractmethod
    def run(self, pruner: Pruner, dense: nn.Module, fine_tune: FineTune) -> nn.Module:
        """Prune and train; return the model (masks still held; the trial finalises it).

        Args:
            pruner: the trial's pruner (``pruner.recipe``, ``pruner.task``).
            dense: the trained baseline; left unchanged.
            fine_tune: trains a model, see :data:`FineTune`; stop when it returns True.
        """

    def training_epochs(self, recipe: Recipe, task: Task) -> int:
        """Epochs of training the trial runs (and reports after) when never stopped."""
        return task.baseline_epochs + recipe.finetune_epochs

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


@TIMINGS.register_instance("after_training")
class AfterTraining(Timing):
    """From a copy of the trained baseline: each schedule step, then its share of
    ``finetune_epochs`` (:func:`split_epochs`) at ``finetune_lr``."""

    reports_pruned_model = True
    in_summary = False

    def run(self, pruner: Pruner, dense: nn.Module, fine_tune: FineTune) -> nn.Module:
        recipe = pruner.recipe
        model = copy.deepcopy(dense)
        targets = schedule_targets(recipe)
        for target, epochs in zip(targets, split_epochs(recipe.finetune_epochs, len(targets))):
            model = pruner.step(model, target)
            if fine_tune(model, recipe.finetune_lr, epochs, recipe.finetune_schedule):
                break
        return model

    def training_epochs(self, recipe: Recipe, task: Task) -> int:
        return recipe.finetune_epochs


@TIMINGS.register_instance("during_training")
class DuringTraining(Timing):
    """A fresh model (seeded by the trial) trained ``baseline_epochs + finetune_epochs`` at
    the task's learning rate, the schedule's steps at the epochs of :func:`prune_epochs`."""

    def run(self, pruner: Pruner, dense: nn.Module, fine_tune: FineTune) -> nn.Module:
        recipe, task = pruner.recipe, pruner.task
        model = task.build_model()
        epochs = self.training_epochs(recipe, task)
        targets = schedule_targets(recipe)
        at_epoch = prune_epochs(len(targets), task.baseline_epochs)
        for epoch in range(epochs):
            for target in [t for t, e in zip(targets, at_epoch) if e == epoch]:
                model = pruner.step(model, target)
            if fine_tune(model, task.baseline_lr, 1, "constant"):
                break
        return model


@TIMINGS.register_instance("before_training")
class BeforeTraining(Timing):
    """A fresh model pruned to the final sparsity at once, then trained
    ``baseline_epochs + finetune_epochs`` at the task's learning rate."""

    def run(self, pruner: Pruner, dense: nn.Module, fine_tune: FineTune) -> nn.Module:
        recipe, task = pruner.recipe, pruner.task
        model = task.build_model()
        model = pruner.step(model, recipe.effective_sparsity)
        fine_tune(model, task.baseline_lr, self.training_epochs(recipe, task), "constant")
        return model


def timing_of(recipe: Recipe) -> Timing:
    """The :class:`Timing` a recipe names."""
    return TIMINGS.get(recipe.timing)


def prune_epochs(n_steps: int, epochs: int) -> list[int]:
    """Epochs at whose start each pruning step happens when pruning during training.

    Steps are spread evenly over the first three quarters of training, so the last
    quarter recovers: 3 steps over 20 epochs prune at epochs 0, 8, 15.
    """
    if n_steps == 1:
        return [epochs // 2]
    last = max(int(epochs * 0.75), 1)
    return [round(k * last / (n_steps - 1)) for k in range(n_steps)]
