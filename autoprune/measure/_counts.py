"""Parameter counts and multiply-accumulates."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from autoprune.tasks import call_model, model_device, to_device

__all__ = ["count_params", "count_flops"]


def _sdpa_flops(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, out_shape: Any = None,
                **kwargs: Any) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# Fused attention kernels FlopCounterMode has no formula for: without these, attention
# through torch's scaled_dot_product_attention on CPU (Hugging Face's default "sdpa") would
# count nothing, while the same model in "eager" attention counts its two matmuls. The
# formula is torch's own for the CUDA kernels: Q @ K^T and scores @ V.
_ATTENTION_OPS = {
    op: _sdpa_flops
    for name in ("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_fused_attention_overrideable")
    if (op := getattr(torch.ops.aten, name, None)) is not None
}


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
    any forward works (tensor, tuple or dict inputs), and halved: it reports 2 FLOPs per
    MAC. Matrix products and convolutions are counted, attention included (the score and
    value products, ``2 * seq^2 * hidden`` MACs per layer and example, whether the model
    runs them as matmuls or through ``scaled_dot_product_attention`` on any device);
    element-wise ops (activations, softmax, normalisation, bias) are not. Zeros inside
    dense kernels still count (a dense kernel multiplies them); removed channels, heads
    and layers do not.

    Example:
        >>> count_flops(nn.Sequential(nn.Linear(64, 512), nn.Linear(512, 10)), torch.zeros(1, 64))
        37888
    """
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False, custom_mapping=_ATTENTION_OPS)
        with torch.inference_mode(), counter:
            call_model(model, to_device(example_input, model_device(model)))  # inputs follow the model
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
