"""Parameter counts and multiply-accumulates."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from autoprune.tasks import call_model, model_device, to_device

__all__ = ["count_params", "count_flops"]


def count_params(model: nn.Module) -> tuple[int, int]:
    """``(total, nonzero)`` over the model's parameters.

    Parameters of ``torch.nn.utils.prune`` are counted through their masks (``w_orig`` is
    read as ``w = w_orig * w_mask``), so a masked model counts what it would ship.

    Example:
        >>> count_params(nn.Linear(3, 2))[0]
        8
    """
    total = nonzero = 0
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if name.endswith("_orig") and hasattr(module, name[: -len("_orig")]):
                param = getattr(module, name[: -len("_orig")])
            total += param.numel()
            nonzero += int(torch.count_nonzero(param))
    return total, nonzero


def count_flops(model: nn.Module, example_input: Any) -> int:
    """Multiply-accumulates (MACs) of one forward of ``example_input``.

    Counted with :class:`torch.utils.flop_counter.FlopCounterMode` at the aten level, so
    any forward works (tensor, tuple or dict inputs, attention through SDPA), and halved:
    it reports 2 FLOPs per MAC. Matrix products and convolutions are counted, element-wise
    ops (activations, normalisation, bias) are not. Zeros inside dense kernels still count
    (a dense kernel multiplies them); removed channels do not.

    Example:
        >>> count_flops(nn.Sequential(nn.Linear(64, 512), nn.Linear(512, 10)), torch.zeros(1, 64))
        37888
    """
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.inference_mode(), counter:
            call_model(model, to_device(example_input, model_device(model)))  # inputs follow the model
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
