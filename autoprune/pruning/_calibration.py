"""Calibration passes shared by data-driven criteria: summed gradients and input norms."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning._layers import batches_on, eval_mode, model_device
from autoprune.recipe import Recipe
from autoprune.tasks import Task, call_model

__all__ = ["need_data", "weight_param", "calibration_grads", "input_norms"]


def need_data(criterion: str, task: Task | None, recipe: Recipe | None) -> tuple[Task, int]:
    """The task and the number of calibration batches; a clear error without a task."""
    if task is None:
        raise ConfigError(f"criterion={criterion!r} needs calibration data, but got task=None.")
    return task, (recipe.calibration_batches if recipe is not None else Recipe().calibration_batches)


def weight_param(module: nn.Module) -> nn.Parameter:
    """The trainable weight tensor: ``weight_orig`` while a mask is held (its gradient is mask * dL/dw)."""
    return module.weight_orig if hasattr(module, "weight_orig") else module.weight


def calibration_grads(model: nn.Module, params: list[nn.Parameter], task: Task, n_batches: int) -> list[torch.Tensor]:
    """Gradients of the task loss w.r.t. ``params``, summed over ``n_batches`` calibration batches.

    Uses ``torch.autograd.grad``, so no ``.grad`` attribute is touched.
    """
    sums = [torch.zeros_like(p) for p in params]
    device = model_device(model)
    with eval_mode(model), torch.enable_grad():
        for batch in batches_on(task.calibration_batches(n_batches), device):
            loss = task.training_step(model, batch)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            for s, g in zip(sums, grads):
                if g is not None:
                    s.add_(g)
    return sums


def input_norms(
    model: nn.Module, modules: Iterable[nn.Module], task: Task, n_batches: int
) -> dict[nn.Module, torch.Tensor]:
    """L2 norm of each input feature / channel of ``modules`` over the calibration batches.

    Linear: inputs flattened to ``(-1, in_features)``, norm over rows. Conv: norm over batch
    and spatial positions of each input channel. A module the forward never reached gets
    zeros.
    """
    modules = list(modules)
    sq: dict[nn.Module, torch.Tensor] = {}

    def hook(module: nn.Module, inputs: tuple, output: object) -> None:
        x = inputs[0].detach().float()
        if isinstance(module, nn.Linear):
            s = x.reshape(-1, x.shape[-1]).pow(2).sum(0)
        else:  # batched conv input (N, C, ...) or unbatched (C, ...)
            ch = 1 if x.dim() == module.weight.dim() else 0
            s = x.pow(2).sum([d for d in range(x.dim()) if d != ch])
        sq[module] = sq[module] + s if module in sq else s

    handles = [m.register_forward_hook(hook) for m in modules]
    device = model_device(model)
    try:
        with eval_mode(model), torch.no_grad():
            for inputs, _ in batches_on(task.calibration_batches(n_batches), device):
                call_model(model, inputs)
    finally:
        for h in handles:
            h.remove()
    out = {}
    for m in modules:
        in_ch = m.in_features if isinstance(m, nn.Linear) else m.in_channels
        out[m] = sq[m].sqrt() if m in sq else torch.zeros(in_ch, device=device)
    return out
