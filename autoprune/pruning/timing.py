"""The timing extension point: when pruning happens relative to training.

A :class:`Timing` drives one trial's prune steps and its training through a fine-tune
callback; the trial (:func:`autoprune.trial.run_trial`) measures what comes out. The
built-ins, registered in :data:`~autoprune.registry.TIMINGS`: ``after_training`` (from
the trained baseline, fine-tuning between steps), ``during_training`` (gradual pruning
while training from scratch) and ``before_training`` (prune the fresh model, then train).

Training is counted in the recipe's budget unit (:attr:`Recipe.budget_unit`): epochs, or
optimizer steps when the recipe sets ``finetune_steps``. The task's ``baseline_epochs``
then count as that many epochs of optimizer steps (:func:`autoprune.training.steps_per_epoch`).
"""

from __future__ import annotations

import abc
import copy
from typing import TYPE_CHECKING, Callable

from torch import nn

from autoprune.pruning.schedules import schedule_targets, split_budget
from autoprune.recipe import Recipe
from autoprune.registry import TIMINGS
from autoprune.tasks import Task
from autoprune.training import steps_per_epoch

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

#: ``fine_tune(model, lr, amount, lr_schedule) -> stop``: trains ``model`` ``amount`` epochs,
#: or optimizer steps when the recipe's budget is in steps (reporting along the way); True
#: when the trial was told to stop.
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

    def training_length(self, recipe: Recipe, task: Task) -> int:
        """Training the trial runs when never stopped, in the recipe's budget unit (epochs
        or optimizer steps): the step of its last report. By default the task's
        ``baseline_epochs`` plus the fine-tune budget."""
        if recipe.budget_unit == "steps":
            return task.baseline_epochs * steps_per_epoch(task) + recipe.finetune_budget
        return task.baseline_epochs + recipe.finetune_budget

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


@TIMINGS.register_instance("after_training")
class AfterTraining(Timing):
    """From a copy of the trained baseline: each schedule step, then its share of the
    fine-tune budget (:func:`~autoprune.pruning.schedules.split_budget`) at the recipe's
    learning rate (:meth:`Recipe.learning_rate` of the task's ``baseline_lr``)."""

    reports_pruned_model = True
    in_summary = False

    def run(self, pruner: Pruner, dense: nn.Module, fine_tune: FineTune) -> nn.Module:
        recipe = pruner.recipe
        model = copy.deepcopy(dense)
        targets = schedule_targets(recipe)
        lr = recipe.learning_rate(pruner.task.baseline_lr)
        for target, amount in zip(targets, split_budget(recipe, len(targets))):
            model = pruner.step(model, target)
            if fine_tune(model, lr, amount, recipe.finetune_schedule):
                break
        return model

    def training_length(self, recipe: Recipe, task: Task) -> int:
        return recipe.finetune_budget


@TIMINGS.register_instance("during_training")
class DuringTraining(Timing):
    """A fresh model (seeded by the trial) trained ``baseline_epochs`` plus the fine-tune
    budget at the task's learning rate, the schedule's steps at the epochs (or optimizer
    steps) of :func:`prune_epochs`."""

    def run(self, pruner: Pruner, dense: nn.Module, fine_tune: FineTune) -> nn.Module:
        recipe, task = pruner.recipe, pruner.task
        model = task.build_model()
        if recipe.budget_unit == "steps":
            return self._run_steps(pruner, model, fine_tune)
        epochs = self.training_length(recipe, task)
        targets = schedule_targets(recipe)
        at_epoch = prune_epochs(len(targets), task.baseline_epochs)
        for epoch in range(epochs):
            for target in [t for t, e in zip(targets, at_epoch) if e == epoch]:
                model = pruner.step(model, target)
            if fine_tune(model, task.baseline_lr, 1, "constant"):
                break
        return model

    def _run_steps(self, pruner: Pruner, model: nn.Module, fine_tune: FineTune) -> nn.Module:
        """A step budget: training runs in segments between pruning steps (one optimizer
        per segment, as after training), each pruning step before the last optimizer step."""
        recipe, task = pruner.recipe, pruner.task
        total = self.training_length(recipe, task)
        targets = schedule_targets(recipe)
        # every pruning step before the last optimizer step, so the final model is trained after it
        last = max(total - 1, 0)
        at_step = [min(s, last) for s in prune_epochs(len(targets), task.baseline_epochs * steps_per_epoch(task))]
        done = 0
        for target, at in zip(targets, at_step):
            if at > done:
                if fine_tune(model, task.baseline_lr, at - done, "constant"):
                    return model
                done = at
            model = pruner.step(model, target)
        fine_tune(model, task.baseline_lr, total - done, "constant")
        return model


@TIMINGS.register_instance("before_training")
class BeforeTraining(Timing):
    """A fresh model pruned to the final sparsity at once, then trained ``baseline_epochs``
    plus the fine-tune budget at the task's learning rate."""

    def run(self, pruner: Pruner, dense: nn.Module, fine_tune: FineTune) -> nn.Module:
        recipe, task = pruner.recipe, pruner.task
        model = task.build_model()
        model = pruner.step(model, recipe.effective_sparsity)
        fine_tune(model, task.baseline_lr, self.training_length(recipe, task), "constant")
        return model


def timing_of(recipe: Recipe) -> Timing:
    """The :class:`Timing` a recipe names."""
    return TIMINGS.get(recipe.timing)


def prune_epochs(n_steps: int, epochs: int) -> list[int]:
    """Epochs (or optimizer steps) at whose start each pruning step happens when pruning
    during training.

    Steps are spread evenly over the first three quarters of training, so the last
    quarter recovers: 3 steps over 20 epochs prune at epochs 0, 8, 15.
    """
    if n_steps == 1:
        return [epochs // 2]
    last = max(int(epochs * 0.75), 1)
    return [round(k * last / (n_steps - 1)) for k in range(n_steps)]
