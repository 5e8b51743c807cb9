"""The Pruner: applies one recipe to a model, step by step, up to cumulative targets."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning._layers import prunable_layers, weight_mask
from autoprune.pruning.allocation import (
    allocate_by_sensitivity,
    sensitivity_scan,
    uniform_allocation,
)
from autoprune.pruning.criteria import weight_scores
from autoprune.pruning.masks import (
    apply_mask,
    global_masks,
    make_permanent,
    nm_mask,
    unstructured_mask,
)
from autoprune.pruning.structured import out_channels, prune_channels
from autoprune.recipe import Recipe
from autoprune.tasks import Task

__all__ = ["Pruner"]


class Pruner:
    """Brings a model to the cumulative sparsity targets of one recipe.

    ``unstructured`` and ``nm`` hold masks (``torch.nn.utils.prune``) that survive
    fine-tuning; each step scores the effective weights again and adds zeros to the ones
    already there. ``channel`` removes channels physically (Torch-Pruning), in place: the
    model's parameters are replaced, so build the optimizer after each step.

    Per-layer amounts follow ``recipe.allocation``: ``uniform`` (each layer the target),
    ``global`` (one threshold over raw weight scores; one ranking over normalised channel
    scores) or ``sensitivity`` (a per-layer scan, run on the first step, then
    :func:`~autoprune.pruning.allocation.allocate_by_sensitivity` at every step).

    Args:
        recipe: what to prune and how.
        task: calibration data (``taylor``, ``wanda``), the metric (sensitivity scan) and
            the example input (channel pruning).
        cache_dir: where sensitivity scans are cached; None: no cache.

    Example:
        >>> from autoprune import get_task
        >>> from autoprune.pruning import schedule_targets
        >>> task = get_task("digits-mlp")
        >>> recipe = Recipe(sparsity=0.75, schedule="iterative", steps=3)
        >>> pruner, model = Pruner(recipe, task), task.build_model()
        >>> for target in schedule_targets(recipe):
        ...     model = pruner.step(model, target)   # fine-tune between steps
        >>> model = pruner.finalize(model)
        >>> float((model[0].weight == 0).float().mean())
        0.75
    """

    def __init__(self, recipe: Recipe, task: Task, *, cache_dir: Path | None = None) -> None:
        self.recipe = recipe
        self.task = task
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        # recorded at the first step, so later steps count against the original model
        self.sizes: dict[str, int] = {}  # per layer: weights (unstructured) or channels (channel)
        self.original_channels: dict[str, int] = {}
        self.scan: dict[str, dict[float, float]] | None = None  # sensitivity allocation only
        self.scan_baseline = 0.0

    def step(self, model: nn.Module, target: float) -> nn.Module:
        """Prune ``model`` until the recipe's layers reach cumulative sparsity ``target``.

        ``target`` is a value from :func:`~autoprune.pruning.schedule_targets`. For ``nm``
        a group of ``m`` gets ``round(target * m)`` zeros (at most ``m - n``), and exactly
        ``m - n`` once ``target`` reaches the recipe's ``1 - n/m``.

        Returns:
            ``model`` itself, pruned.
        """
        if not (isinstance(target, (int, float)) and math.isfinite(target) and 0.0 <= target < 1.0):
            raise ConfigError(f"target sparsity must be in [0, 1), but got target={target!r}.")
        recipe = self.recipe
        layers = prunable_layers(model, recipe)
        if not self.sizes:
            self.original_channels = {n: out_channels(m) for n, m in layers}
            self.sizes = (
                dict(self.original_channels)
                if recipe.granularity == "channel"
                else {n: m.weight_orig.numel() if hasattr(m, "weight_orig") else m.weight.numel() for n, m in layers}
            )
        if recipe.allocation == "sensitivity" and self.scan is None:
            self.scan = sensitivity_scan(model, self.task, recipe, cache_dir=self.cache_dir)
            self.scan_baseline = float(self.task.evaluate(model))
        if target <= 0.0:
            return model
        if recipe.granularity == "channel":
            self._step_channels(model, target)
        else:
            self._step_masks(model, layers, target)
        return model

    def finalize(self, model: nn.Module) -> nn.Module:
        """Make masks permanent (``prune.remove``); channel-pruned models are already final."""
        return make_permanent(model)

    # -- internals ---------------------------------------------------------------------

    def _amounts(self, names: list[str], target: float) -> dict[str, float]:
        if self.recipe.allocation == "sensitivity":
            sizes = {n: self.sizes[n] for n in names}
            return allocate_by_sensitivity(self.scan, sizes, self.scan_baseline, target)
        return uniform_allocation(names, target)

    def _step_masks(self, model: nn.Module, layers: list[tuple[str, nn.Module]], target: float) -> None:
        recipe = self.recipe
        scores = weight_scores(recipe.criterion, layers, model, self.task, recipe)
        for name, module in layers:
            held = weight_mask(module)
            if held is not None:  # what an earlier step removed stays removed, and counts
                scores[name] = scores[name].masked_fill(held == 0, -torch.inf)
        if recipe.granularity == "nm":
            zeros = self._nm_zeros(target)
            if zeros == 0:
                return
            masks = {n: nm_mask(scores[n], zeros, recipe.nm_m) for n, _ in layers}
        elif recipe.allocation == "global":
            masks = global_masks(scores, target)
        else:
            amounts = self._amounts([n for n, _ in layers], target)
            masks = {n: unstructured_mask(scores[n], amounts[n]) for n, _ in layers}
        for name, module in layers:
            apply_mask(module, masks[name])

    def _nm_zeros(self, target: float) -> int:
        recipe = self.recipe
        final = recipe.nm_m - recipe.nm_n
        if target >= recipe.effective_sparsity - 1e-9:
            return final
        return min(round(target * recipe.nm_m), final)

    def _step_channels(self, model: nn.Module, target: float) -> None:
        if self.recipe.allocation == "global":
            prune_channels(model, self.task, self.recipe, target, original=self.original_channels, global_ranking=True)
        else:
            amounts = self._amounts(list(self.original_channels), target)
            prune_channels(model, self.task, self.recipe, amounts, original=self.original_channels)
