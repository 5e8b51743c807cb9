"""Mask granularities: ``unstructured`` single weights and ``nm`` N:M groups.

Both hold masks (``torch.nn.utils.prune``) that survive fine-tuning; each step scores the
effective weights again and adds zeros to the ones already there. The pruned model is
stored as packed sparse tensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

from autoprune.pruning._layers import weight_mask
from autoprune.pruning.granularity import Granularity, Layers, Scan, held_scores
from autoprune.pruning.masks import apply_mask, global_masks, nm_mask, unstructured_mask
from autoprune.recipe import Recipe
from autoprune.registry import GRANULARITIES
from autoprune.tasks import Task

if TYPE_CHECKING:
    from autoprune.pruning.pruner import Pruner

__all__ = ["Unstructured", "NM"]


@GRANULARITIES.register_instance("unstructured")
class Unstructured(Granularity):
    """Single weights, the lowest-scoring ones per layer (or across layers: ``global``, no
    layer losing more than the recipe's ``max_layer_sparsity``)."""

    def prune_step(self, pruner: Pruner, model: nn.Module, layers: Layers, target: float) -> None:
        scores = held_scores(model, layers, pruner.task, pruner.recipe)
        if pruner.allocation.global_ranking:
            masks = global_masks(scores, target, max_layer_amount=pruner.recipe.layer_cap)
        else:
            amounts = pruner.amounts([n for n, _ in layers], target)
            masks = {n: unstructured_mask(scores[n], amounts[n]) for n, _ in layers}
        for name, module in layers:
            apply_mask(module, masks[name])

    def scan(self, model: nn.Module, task: Task, recipe: Recipe, layers: Layers, levels: Sequence[float]) -> Scan:
        """Masks tried in place on one layer at a time, then undone."""
        scores = held_scores(model, layers, task, recipe)
        scan: Scan = {}
        for name, module in layers:
            s = scores[name]
            held = weight_mask(module)
            # the trainable tensor: weight_orig while a mask is held (the hook recomputes weight)
            param = module.weight_orig if hasattr(module, "weight_orig") else module.weight
            saved = param.detach().clone()
            scan[name] = {}
            try:
                for level in levels:
                    with torch.no_grad():
                        param.copy_(saved * unstructured_mask(s, level))
                    scan[name][level] = float(task.evaluate(model))
            finally:
                with torch.no_grad():
                    param.copy_(saved)
                if held is not None:  # module.weight is otherwise refreshed only by the next forward
                    module.weight = module.weight_orig * held
        return scan


@GRANULARITIES.register_instance("nm")
class NM(Granularity):
    """N:M groups along the input dimension: ``nm_n`` of every ``nm_m`` weights kept.

    The pattern fixes each layer's amount (``1 - nm_n / nm_m``), so the recipe's
    ``sparsity`` is ignored and only the ``uniform`` allocation applies. Step ``k`` of a
    schedule gives each group ``round(target * m)`` zeros (at most ``m - n``), and exactly
    ``m - n`` once ``target`` reaches ``1 - n/m``.
    """

    fixed_sparsity = True
    allocations = ("uniform",)
    allocation_note = "the N:M pattern fixes each layer's amount"

    def effective_sparsity(self, recipe: Recipe) -> float:
        return 1.0 - recipe.nm_n / recipe.nm_m

    def describe(self, recipe: Recipe) -> str:
        return f"{recipe.nm_n}:{recipe.nm_m}"

    def zeros_per_group(self, recipe: Recipe, target: float) -> int:
        """Zeros in each group of ``nm_m`` at cumulative ``target``."""
        final = recipe.nm_m - recipe.nm_n
        if target >= self.effective_sparsity(recipe) - 1e-9:
            return final
        return min(round(target * recipe.nm_m), final)

    def prune_step(self, pruner: Pruner, model: nn.Module, layers: Layers, target: float) -> None:
        recipe = pruner.recipe
        scores = held_scores(model, layers, pruner.task, recipe)
        zeros = self.zeros_per_group(recipe, target)
        if zeros == 0:
            return
        for name, module in layers:
            apply_mask(module, nm_mask(scores[name], zeros, recipe.nm_m))
