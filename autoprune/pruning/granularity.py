"""The granularity extension point: what a pruning step removes, and how it is stored.

A :class:`Granularity` is registered in :data:`~autoprune.registry.GRANULARITIES`. The
built-ins: ``unstructured`` and ``nm`` (:mod:`~autoprune.pruning.unstructured`, masks
stored as packed sparse tensors), ``channel`` (:mod:`~autoprune.pruning.structured`,
channels removed physically, stored dense), ``head``, ``ffn`` and ``head+ffn``
(:mod:`~autoprune.pruning.transformer`) and ``layer`` (:mod:`~autoprune.pruning.depth`),
each one class in one module; a granularity over other units than Linear / Conv weights
overrides :meth:`Granularity.layers` and :meth:`Granularity.layer_sizes`.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning._layers import prunable_layers, weight_mask
from autoprune.pruning.criteria import weight_scores
from autoprune.pruning.masks import make_permanent
from autoprune.recipe import Recipe
from autoprune.registry import GRANULARITIES
from autoprune.tasks import Task

if TYPE_CHECKING:
    from autoprune.pruning.pruner import Pruner

__all__ = ["Granularity", "GRANULARITIES", "Scan", "granularity_of", "held_scores"]

Layers = list[tuple[str, nn.Module]]
Scan = dict[str, dict[float, float]]  # {layer: {level: metric}}


class Granularity(abc.ABC):
    """What one pruning step removes; one required method, :meth:`prune_step`.

    Attributes:
        name: the name it is registered under (set on registration).
        packed: True when the pruned model is stored as packed sparse tensors (zeros in
            place of the removed weights), False when it is stored dense (the removed
            parts are gone from the tensors).
        fixed_sparsity: True when the granularity implies its own sparsity (the recipe's
            ``sparsity`` is then ignored, see :meth:`effective_sparsity`).
        allocations: the allocations it supports; None: all.
        allocation_note: why ``allocations`` is restricted (read in the error message).
    """

    name: str = ""
    packed: bool = True
    fixed_sparsity: bool = False
    allocations: tuple[str, ...] | None = None
    allocation_note: str = ""

    @abc.abstractmethod
    def prune_step(self, pruner: Pruner, model: nn.Module, layers: Layers, target: float) -> None:
        """Prune ``layers`` of ``model`` in place until they reach cumulative ``target``.

        Args:
            pruner: the recipe, task, criterion and allocation of the trial, with
                :meth:`~autoprune.pruning.Pruner.amounts` (per-layer amounts) and
                :attr:`~autoprune.pruning.Pruner.sizes` (recorded at the first step).
            model: the model; its parameters may be replaced (build optimizers after).
            layers: ``(name, module)`` of the recipe's prunable layers in ``model`` now.
            target: the cumulative fraction in (0, 1) to have removed.
        """

    def layers(self, model: nn.Module, recipe: Recipe) -> Layers:
        """The ``(name, module)`` pairs this granularity prunes, in module order.

        Default: :func:`~autoprune.pruning.prunable_layers` (Linear / Conv weights). A
        granularity over other units (attention modules for heads, blocks for whole layers)
        returns those; :meth:`prune_step`, :meth:`layer_sizes` and :meth:`scan` receive them.
        """
        return prunable_layers(model, recipe)

    def check(self, recipe: Recipe) -> None:
        """Reject recipes this granularity cannot apply (called when a Recipe is built).

        Raises:
            ConfigError: the recipe's allocation is not one of :attr:`allocations`.
        """
        if self.allocations is not None and recipe.allocation not in self.allocations:
            allowed = " or ".join(self.allocations)
            note = f" ({self.allocation_note})" if self.allocation_note else ""
            raise ConfigError(
                f"allocation must be {allowed} for granularity={self.name}{note}, "
                f"but got allocation={recipe.allocation!r}."
            )

    def check_model(self, model: nn.Module, task: Task, recipe: Recipe) -> None:
        """Refuse, before any training, a model this granularity cannot prune.

        Default: :meth:`layers` finds something to prune.

        Raises:
            ConfigError: one line naming what the model lacks and what is allowed.
        """
        self.layers(model, recipe)

    def effective_sparsity(self, recipe: Recipe) -> float:
        """The fraction removed the recipe targets (the recipe's ``sparsity`` by default)."""
        return recipe.sparsity

    def describe(self, recipe: Recipe) -> str:
        """This granularity's part of :meth:`Recipe.summary`, e.g. ``unstructured 0.50``."""
        return f"{self.name} {recipe.sparsity:.2f}"

    def layer_sizes(self, layers: Layers) -> dict[str, int]:
        """Per layer, the units an amount counts (weights by default); the allocation weighs
        layers by these and cumulative steps count against them."""
        return {n: m.weight_orig.numel() if hasattr(m, "weight_orig") else m.weight.numel() for n, m in layers}

    @property
    def scannable(self) -> bool:
        """True when :meth:`scan` is implemented (the sensitivity allocation needs it)."""
        return type(self).scan is not Granularity.scan

    def scan(self, model: nn.Module, task: Task, recipe: Recipe, layers: Layers, levels: Sequence[float]) -> Scan:
        """The task's metric after pruning ONE layer at each level, for every layer.

        ``model`` must be left as it was. Not every granularity can be scanned.

        Raises:
            ConfigError: this granularity has no sensitivity scan.
        """
        supported = [n for n, g in GRANULARITIES.items() if getattr(g, "scannable", False)]
        raise ConfigError(
            f"the sensitivity scan supports granularity {' or '.join(supported)}, but got "
            f"granularity={self.name!r}."
        )

    def finalize(self, model: nn.Module) -> nn.Module:
        """Make the pruning permanent (masks folded into the weights)."""
        return make_permanent(model)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def granularity_of(recipe: Recipe) -> Granularity:
    """The :class:`Granularity` a recipe names.

    Example:
        >>> granularity_of(Recipe(granularity="channel")).packed
        False
    """
    return GRANULARITIES.get(recipe.granularity)


def held_scores(model: nn.Module, layers: Layers, task: Task | None, recipe: Recipe) -> dict[str, torch.Tensor]:
    """The recipe criterion's weight scores, ``-inf`` where a held mask already removed a weight
    (what an earlier step removed stays removed, and counts toward the target)."""
    scores = weight_scores(recipe.criterion, layers, model, task, recipe)
    for name, module in layers:
        held = weight_mask(module)
        if held is not None:
            scores[name] = scores[name].masked_fill(held == 0, -torch.inf)
    return scores
