"""Weight masks: unstructured (per layer or one global threshold) and N:M.

Masks are boolean (True = kept) and computed from importance scores of the same shape as
the weight. They are applied with ``torch.nn.utils.prune.custom_from_mask``, so they hold
through fine-tuning; applying a second mask multiplies it into the first (PyTorch's
``PruningContainer``), which is what makes iterative steps cumulative.
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
from torch import nn
from torch.nn.utils import prune

from autoprune.errors import ConfigError

__all__ = ["unstructured_mask", "global_masks", "nm_mask", "apply_mask", "make_permanent", "is_masked"]


def _check_amount(amount: float) -> None:
    if not (0.0 <= float(amount) <= 1.0):
        raise ConfigError(f"amount must be in [0, 1], but got amount={amount!r}.")


def _lowest(flat: torch.Tensor, k: int) -> torch.Tensor:
    # topk is ~10x faster than a full sort on large layers and deterministic on a device;
    # which of several tied scores goes is unspecified, the count is exact
    return torch.topk(flat, k, largest=False, sorted=False).indices


def unstructured_mask(scores: torch.Tensor, amount: float) -> torch.Tensor:
    """Keep the largest scores, removing exactly ``round(amount * scores.numel())``.

    Example:
        >>> unstructured_mask(torch.tensor([[3.0, 1.0], [4.0, 2.0]]), 0.5).tolist()
        [[True, False], [True, False]]
    """
    _check_amount(amount)
    k = round(amount * scores.numel())
    mask = torch.ones(scores.numel(), dtype=torch.bool, device=scores.device)
    mask[_lowest(scores.detach().reshape(-1), k)] = False
    return mask.view_as(scores)


def global_masks(scores_by_layer: Mapping[str, torch.Tensor], amount: float, *,
                 max_layer_amount: float = 1.0) -> dict[str, torch.Tensor]:
    """One threshold across layers: removes ``round(amount * total)`` of all scores together.

    Scores are compared raw, without per-layer normalisation: with magnitude scores this
    is global magnitude pruning (Han et al. 2015; ``torch.nn.utils.prune.global_unstructured``).
    Scores whose scale differs between layers (Taylor, Wanda) then favour some layers.
    ``max_layer_amount`` caps what one layer loses (``floor(cap * numel)`` weights, scores
    of ``-inf`` included); what a capped layer would have lost goes to the next-lowest
    scores of the other layers, so the total is exact unless every layer is capped.

    Example:
        >>> m = global_masks({"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([10.0, 20.0])}, 0.5,
        ...                  max_layer_amount=0.5)
        >>> m["a"].tolist(), m["b"].tolist()
        ([False, True], [False, True])
    """
    _check_amount(amount)
    _check_amount(max_layer_amount)
    names = list(scores_by_layer)
    flats = [scores_by_layer[n].detach().reshape(-1) for n in names]
    if not flats:
        return {}
    device = flats[0].device
    k = round(amount * sum(f.numel() for f in flats))
    values, positions = [], []
    for f in flats:
        # only the lowest floor(cap * n) of a layer may go: those are its candidates
        limit = f.numel() if max_layer_amount >= 1.0 else math.floor(max_layer_amount * f.numel() + 1e-9)
        lowest = _lowest(f, limit) if limit < f.numel() else torch.arange(f.numel(), device=f.device)
        values.append(f[lowest].to(device))
        positions.append(lowest)
    flat = torch.cat(values)
    chosen = _lowest(flat, min(k, flat.numel()))
    out, start = {}, 0
    for name, f, pos in zip(names, flats, positions):
        keep = torch.ones(f.numel(), dtype=torch.bool, device=f.device)
        mine = chosen[(chosen >= start) & (chosen < start + len(pos))] - start
        keep[pos[mine.to(pos.device)]] = False
        out[name] = keep.view_as(scores_by_layer[name])
        start += len(pos)
    return out


def nm_mask(scores: torch.Tensor, n_zero_per_group: int, m: int) -> torch.Tensor:
    """Zero the ``n_zero_per_group`` lowest scores in every group of ``m`` along the input dimension.

    For a Linear weight ``(out, in)`` a group is ``m`` consecutive input columns of one row;
    for a Conv weight ``(out, in, *kernel)`` it is ``m`` consecutive input channels at one
    ``(out, *kernel)`` position, the layout N:M sparse kernels (e.g. NVIDIA ASP) use. When
    the input dimension is not a multiple of ``m`` the last, incomplete group is left
    unpruned (a 1-channel input layer is left whole), so such a layer ends slightly denser
    than ``1 - n/m``; raising instead would make N:M unusable on common first layers.

    Example:
        >>> nm_mask(torch.tensor([[1.0, 4.0, 2.0, 3.0]]), 2, 4).tolist()
        [[False, True, False, True]]
    """
    if not (isinstance(m, int) and m >= 1):
        raise ConfigError(f"nm_m must be an int >= 1, but got nm_m={m!r}.")
    if not (isinstance(n_zero_per_group, int) and 0 <= n_zero_per_group <= m):
        raise ConfigError(
            f"zeros per group must be in [0, {m}], but got n_zero_per_group={n_zero_per_group!r}."
        )
    if scores.dim() < 2:
        raise ConfigError(f"N:M masks need a weight of 2 or more dimensions, but got shape {tuple(scores.shape)}.")
    moved = scores.detach().movedim(1, -1)  # input dimension last
    mask = torch.ones_like(moved, dtype=torch.bool)
    full = moved.shape[-1] // m * m
    if full and n_zero_per_group:
        groups = moved[..., :full].reshape(*moved.shape[:-1], full // m, m)
        lowest = torch.topk(groups, n_zero_per_group, dim=-1, largest=False, sorted=False).indices
        group_mask = torch.ones_like(groups, dtype=torch.bool).scatter_(-1, lowest, False)
        mask[..., :full] = group_mask.reshape(*moved.shape[:-1], full)
    return mask.movedim(-1, 1).contiguous()


def apply_mask(module: nn.Module, mask: torch.Tensor) -> None:
    """Hold ``mask`` on ``module.weight``, combined with any mask it already holds."""
    prune.custom_from_mask(module, "weight", mask.to(device=module.weight.device))


def is_masked(module: nn.Module) -> bool:
    return any(isinstance(h, prune.BasePruningMethod) for h in module._forward_pre_hooks.values())


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold every held mask into its weight (``prune.remove``) and drop the hooks."""
    for module in model.modules():
        names = [h._tensor_name for h in module._forward_pre_hooks.values() if isinstance(h, prune.BasePruningMethod)]
        for name in names:
            prune.remove(module, name)
    return model
