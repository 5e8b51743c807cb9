"""Recovery after pruning: BatchNorm recalibration and knowledge distillation.

Pruning changes what every later layer sees, so the running statistics a BatchNorm layer
kept for the dense model no longer fit: recomputing them on a few training batches,
before any fine-tuning, recovers much of the accuracy lost (on a pretrained CNN pruned
to half its channels this alone is the difference between chance and a usable model).
Distillation fine-tunes the pruned model towards the dense model's outputs as well as
the labels (Hinton et al. 2015).
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from autoprune.errors import TrialFailedError
from autoprune.recipe import Recipe
from autoprune.tasks import Task, call_model, to_device
from autoprune.training import model_device

__all__ = [
    "batchnorm_layers",
    "bn_recalibration_on",
    "recalibrate_batchnorm",
    "Distillation",
]


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``model`` that keep running statistics."""
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def bn_recalibration_on(recipe: Recipe, model: nn.Module) -> bool:
    """Whether ``recipe`` recalibrates BatchNorm on ``model`` (``None``: when it has any)."""
    if recipe.bn_recalibration is None:
        return bool(batchnorm_layers(model))
    return recipe.bn_recalibration


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[Any]) -> int:
    """Recompute every BatchNorm layer's running mean and variance on ``batches``.

    The statistics are reset and averaged over all the batches alike (``momentum=None``,
    a cumulative average), with the BatchNorm layers in train mode and every other layer
    in eval mode (dropout off: the statistics are those the eval-mode model sees), without
    gradients. Each module's mode and momentum are restored afterwards. Inputs are moved
    to the model's device.

    Args:
        model: changed in place.
        batches: ``(inputs, targets)`` pairs; the targets are not used.

    Returns:
        The number of batches used (0 leaves the statistics as they were).

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
        >>> recalibrate_batchnorm(net, [(torch.randn(8, 3), None)] * 2)
        2
    """
    layers = batchnorm_layers(model)
    batches = list(batches)  # drawn before the reset: no batch, no change
    if not layers or not batches:
        return 0
    modes = {m: m.training for m in model.modules()}
    momenta = [m.momentum for m in layers]
    device = model_device(model)
    model.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        for inputs, *_ in batches:
            call_model(model, to_device(inputs, device))
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        for m, training in modes.items():
            m.training = training
    return len(batches)


class Distillation:
    """A training step with distillation from ``teacher``:
    ``(1 - weight) * task.training_step + weight * task.distillation_loss(student, teacher, T)``.

    The student's outputs are those of the task's own training step (caught with a
    forward hook, so a task that overrides ``training_step`` keeps its loss); the teacher
    runs in eval mode without gradients on the batch's inputs, moved to its device.

    Args:
        task: gives the task loss and the distillation loss.
        teacher: the dense model; put in eval mode.
        weight: ``w`` in (0, 1].
        temperature: ``T`` > 0.
    """

    def __init__(self, task: Task, teacher: nn.Module, weight: float, temperature: float) -> None:
        self.task, self.teacher = task, teacher.eval()
        self.weight, self.temperature = weight, temperature

    def __call__(self, model: nn.Module, batch: Any) -> torch.Tensor:
        outputs: list[Any] = []
        handle = model.register_forward_hook(lambda module, args, out: outputs.append(out))
        try:
            task_loss = self.task.training_step(model, batch)
        finally:
            handle.remove()
        if not outputs:
            raise TrialFailedError(
                f"distillation needs the model's outputs, but {type(self.task).__name__}.training_step never "
                f"called the model; allowed: a training_step that calls model(...), or distill_weight=0."
            )
        with torch.no_grad():
            teacher_out = call_model(self.teacher, to_device(batch[0], model_device(self.teacher)))
        distill = self.task.distillation_loss(outputs[-1], teacher_out, self.temperature)
        return (1.0 - self.weight) * task_loss + self.weight * distill
