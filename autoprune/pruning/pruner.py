"""The Pruner: applies one recipe to a model, step by step, up to cumulative targets."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning.allocation import Allocation, allocation_of
from autoprune.pruning.criteria import Criterion, criterion_of
from autoprune.pruning.granularity import Granularity, granularity_of
from autoprune.recipe import Recipe
from autoprune.tasks import Task

__all__ = ["Pruner"]


class Pruner:
    """Brings a model to the cumulative sparsity targets of one recipe.

    The recipe's :class:`~autoprune.pruning.Granularity` prunes each step:
    ``unstructured`` and ``nm`` hold masks (``torch.nn.utils.prune``) that survive
    fine-tuning; each step scores the effective weights again and adds zeros to the ones
    already there. ``channel`` removes channels physically (Torch-Pruning), in place: the
    model's parameters are replaced, so build the optimizer after each step.

    Per-layer amounts follow the recipe's :class:`~autoprune.pruning.Allocation`:
    ``uniform`` (each layer the target), ``global`` (one threshold over raw weight scores;
    one ranking over normalised channel scores) or ``sensitivity`` (a per-layer scan, run
    on the first step, then
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
        self.granularity: Granularity = granularity_of(recipe)
        self.criterion: Criterion = criterion_of(recipe)
        self.allocation: Allocation = allocation_of(recipe)
        # recorded at the first step, so later steps count against the original model
        self.sizes: dict[str, int] = {}  # per layer: the granularity's units (weights, channels)
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
        layers = self.granularity.layers(model, self.recipe)
        if not self.sizes:
            self.sizes = self.granularity.layer_sizes(layers)
        self.allocation.prepare(self, model)
        if target <= 0.0:
            return model
        self.granularity.prune_step(self, model, layers, target)
        return model

    def finalize(self, model: nn.Module) -> nn.Module:
        """Make the pruning permanent (masks folded in); channel-pruned models are already final."""
        return self.granularity.finalize(model)

    def amounts(self, names: Iterable[str], target: float) -> dict[str, float]:
        """Per-layer amounts of the recipe's allocation for ``names`` at cumulative ``target``."""
        return self.allocation.amounts(self, {n: self.sizes[n] for n in names}, target)
