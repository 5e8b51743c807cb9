"""The training loop shared by the baseline, fine-tuning and pruning during training."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
from torch import nn

from autoprune.errors import TrialFailedError
from autoprune.tasks import Task, to_device

__all__ = ["train_epoch", "model_device", "steps_per_epoch", "LossFn"]

#: ``loss_fn(model, batch) -> loss``: one batch's training loss (default ``task.training_step``)
LossFn = Callable[[nn.Module, Any], torch.Tensor]


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's parameters (CPU for a model without any)."""
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def train_epoch(
    model: nn.Module,
    task: Task,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    *,
    amp: str | None = None,
    max_steps: int | None = None,
    batches: Iterable[Any] | None = None,
    loss_fn: LossFn | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> float:
    """Train one epoch, or its first ``max_steps`` optimizer steps; returns the mean loss.

    Args:
        model: trained in place; batches are moved to its device.
        task: gives the batches (``task.train_batches(epoch)``) and the loss.
        optimizer: over ``model``'s parameters.
        epoch: which epoch's shuffle to train on (and to name in errors).
        amp: mixed precision (``bf16``, ``fp16``) under
            :func:`autoprune.devices.autocast`; None trains in full precision.
        max_steps: stop after this many optimizer steps (None: the whole epoch).
        batches: train on these instead of ``task.train_batches(epoch)`` (a step budget
            that runs across epochs passes one stream of batches).
        loss_fn: ``loss_fn(model, batch)`` instead of ``task.training_step`` (distillation).
        scaler: the gradient scaler of fp16 training, kept across calls; one is made for
            this call when ``amp == "fp16"`` and none is given.

    Raises:
        TrialFailedError: the loss is not finite.
    """
    from autoprune.devices import autocast

    model.train()
    device = model_device(model)
    step = loss_fn or task.training_step
    if amp == "fp16" and scaler is None:
        scaler = torch.amp.GradScaler(device.type)
    total, n = 0.0, 0
    if max_steps is not None and max_steps <= 0:
        return 0.0
    for i, batch in enumerate(task.train_batches(epoch) if batches is None else batches):
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, amp):
            loss = step(model, to_device(batch, device))
        if not torch.isfinite(loss):
            raise TrialFailedError(f"training loss became {float(loss)} at epoch {epoch}, batch {i}.")
        if scaler is not None and amp == "fp16":
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        total += loss.item()
        n += 1
        if n == max_steps:  # checked before the next batch is drawn: a shared stream loses none
            break
    return total / max(n, 1)


def steps_per_epoch(task: Task) -> int:
    """Optimizer steps in one epoch: ``len(task.train_batches(0))`` when it has a length,
    else the batches counted (once per task object)."""
    cached = getattr(task, "_autoprune_steps_per_epoch", None)
    if cached is not None:
        return cached
    batches = task.train_batches(0)
    try:
        count = len(batches)  # type: ignore[arg-type]
    except TypeError:
        count = sum(1 for _ in batches)
    try:
        task._autoprune_steps_per_epoch = count  # type: ignore[attr-defined]
    except AttributeError:  # a task with __slots__: count again next time
        pass
    return count
