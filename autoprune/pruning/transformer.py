"""Transformer width granularities: ``head`` (attention heads), ``ffn`` (feed-forward
neurons) and ``head+ffn`` (both at once, each with its own fraction).

What is a head or an FFN block, how units are scored and removed: see
:mod:`~autoprune.pruning._transformer`. Every step builds Torch-Pruning's dependency graph
of the model as it is, scores each unit with the recipe's criterion (the weight scores of
the weights it carries, summed: magnitude, Taylor, Wanda, random all work), then removes
``current - max(1, round(original * (1 - amount)))`` units per layer (amounts from the
allocation, against the counts recorded at the first step), or with ``global`` the
lowest-scoring units across layers, the best one of every layer kept. At least one head
per attention module and one neuron per block always stays. Pruned models are stored
dense (the removed parts are gone from the tensors).
"""

from __future__ import annotations

import abc
import copy
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import torch
import torch_pruning as tp
from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning._transformer import (
    attention_modules,
    attention_projections,
    down_projection,
    ffn_layers,
    head_count,
    head_scores,
    neuron_scores,
    remove_heads,
    remove_neurons,
    sync_attributes,
)
from autoprune.pruning.granularity import Granularity, Layers, Scan
from autoprune.pruning.structured import build_graph
from autoprune.recipe import Recipe
from autoprune.registry import GRANULARITIES
from autoprune.tasks import Task

if TYPE_CHECKING:
    from autoprune.pruning.pruner import Pruner

__all__ = ["Head", "FFN", "HeadFFN", "prune_heads", "prune_ffn"]

Plan = list[tuple[int, torch.Tensor]]  # (unit index, positions to remove)


def _local_plan(scores: list[torch.Tensor], originals: list[int], fractions: list[float]) -> Plan:
    plan = []
    for i, (imp, orig, f) in enumerate(zip(scores, originals, fractions)):
        keep = max(1, round(orig * (1.0 - f)))
        n_remove = len(imp) - keep
        if n_remove > 0:
            plan.append((i, torch.argsort(imp, stable=True)[:n_remove]))
    return plan


def _global_plan(scores: list[torch.Tensor], originals: list[int], target: float) -> Plan:
    """The lowest scores across units, ``current - round(original * (1 - target))`` of them;
    the best of every unit stays."""
    current = sum(len(s) for s in scores)
    n_remove = current - round(sum(originals) * (1.0 - target))
    if n_remove <= 0 or not scores:
        return []
    values, owners, positions = [], [], []
    for i, imp in enumerate(scores):
        rest = torch.argsort(imp, descending=True, stable=True)[1:]
        values.append(imp[rest])
        owners.append(torch.full((len(rest),), i))
        positions.append(rest)
    values_t, owners_t, positions_t = torch.cat(values), torch.cat(owners), torch.cat(positions)
    chosen = torch.argsort(values_t, stable=True)[:n_remove]
    return [(i, positions_t[chosen[owners_t[chosen] == i]]) for i in range(len(scores))
            if bool((owners_t[chosen] == i).any())]


def _fractions_of(names: list[str], target: float | Mapping[str, float]) -> list[float] | None:
    if isinstance(target, (int, float)):
        return None
    missing = [n for n in names if n not in target]
    if missing:
        raise ConfigError(f"target has no fraction for unit {missing[0]!r}; units: {names}.")
    return [float(target[n]) for n in names]


def prune_heads(model: nn.Module, task: Task, recipe: Recipe, target: float | Mapping[str, float], *,
                original: Mapping[str, int] | None = None, global_ranking: bool = False,
                graph: tp.DependencyGraph | None = None) -> nn.Module:
    """Remove attention heads, in place: a fraction of every attention module's original
    heads (one float, or a mapping module name -> fraction), or with ``global_ranking``
    the fraction of all heads together.

    Raises:
        ConfigError: the model has no attention module the graph recognises.
    """
    modules = attention_modules(model, recipe)
    if not modules:
        raise ConfigError(_no_attention(model))
    graph = graph or build_graph(model, task)
    units = attention_projections(model, graph, modules)
    names = [u.name for u in units]
    original = dict(original) if original else {u.name: u.heads for u in units}
    scores = head_scores(units, model, task, recipe)
    originals = [original.get(n, len(s)) for n, s in zip(names, scores)]
    fractions = _fractions_of(names, target)
    if global_ranking or fractions is None:
        plan = _global_plan(scores, originals, float(target)) if global_ranking else \
            _local_plan(scores, originals, [float(target)] * len(units))
    else:
        plan = _local_plan(scores, originals, fractions)
    for i, heads in plan:
        remove_heads(graph, units[i], heads.tolist())
    sync_attributes(model)
    return model


def prune_ffn(model: nn.Module, task: Task, recipe: Recipe, target: float | Mapping[str, float], *,
              original: Mapping[str, int] | None = None, global_ranking: bool = False,
              graph: tp.DependencyGraph | None = None) -> nn.Module:
    """Remove intermediate neurons of the feed-forward blocks, in place (fractions as
    :func:`prune_heads`, counted against each block's original width).

    Raises:
        ConfigError: the model has no feed-forward block of a transformer layer.
    """
    ups = ffn_layers(model, recipe)
    if not ups:
        raise ConfigError(_no_ffn(model))
    graph = graph or build_graph(model, task)
    units = [(n, up, down_projection(graph, n, up)) for n, up in ups]
    names = [n for n, _, _ in units]
    original = dict(original) if original else {n: up.out_features for n, up, _ in units}
    scores = neuron_scores(units, model, task, recipe)
    originals = [original.get(n, len(s)) for n, s in zip(names, scores)]
    fractions = _fractions_of(names, target)
    if global_ranking:
        plan = _global_plan(scores, originals, float(target))
    else:
        plan = _local_plan(scores, originals, fractions or [float(target)] * len(units))
    for i, neurons in plan:
        remove_neurons(graph, units[i][1], neurons.tolist())
    sync_attributes(model)
    return model


def _no_attention(model: nn.Module) -> str:
    return (f"granularity=head needs attention modules (a head count attribute and query/key/value "
            f"Linear children), but model {type(model).__name__} has none outside keep_layers; allowed: "
            f"a transformer (BERT, ViT, ...), or granularity channel / unstructured / nm.")


def _no_ffn(model: nn.Module) -> str:
    return (f"granularity=ffn needs feed-forward blocks of transformer layers (a widening Linear in a "
            f"layer with one attention module), but model {type(model).__name__} has none outside "
            f"keep_layers; allowed: a transformer, or granularity channel / unstructured / nm.")


class _Units(Granularity):
    """Shared by ``head`` and ``ffn``: units listed by :meth:`layers`, removed by ``_prune``."""

    packed = False
    _prune: Callable[..., nn.Module]

    def check_model(self, model: nn.Module, task: Task, recipe: Recipe) -> None:
        """Refuse a model without such units, or whose graph does not couple them, before any training."""
        layers = self.layers(model, recipe)
        self._units(model, build_graph(model, task), layers)

    @abc.abstractmethod
    def _units(self, model: nn.Module, graph: tp.DependencyGraph, layers: Layers) -> list:
        """The dependency-graph groups of every unit in ``layers`` (refusing a model whose
        graph does not couple them)."""

    def prune_step(self, pruner: Pruner, model: nn.Module, layers: Layers, target: float) -> None:
        if pruner.allocation.global_ranking:
            type(self)._prune(model, pruner.task, pruner.recipe, target, original=pruner.sizes, global_ranking=True)
        else:
            amounts = pruner.amounts([n for n, _ in layers], target)
            type(self)._prune(model, pruner.task, pruner.recipe, amounts, original=pruner.sizes)

    def scan(self, model: nn.Module, task: Task, recipe: Recipe, layers: Layers, levels: Sequence[float]) -> Scan:
        """Units removed from a deep copy, one layer at a time."""
        original = self.layer_sizes(layers)
        scan: Scan = {}
        for name, _ in layers:
            scan[name] = {}
            for level in levels:
                trial = copy.deepcopy(model)
                fractions = {n: (level if n == name else 0.0) for n in original}
                type(self)._prune(trial, task, recipe, fractions, original=original)
                scan[name][level] = float(task.evaluate(trial))
        return scan


@GRANULARITIES.register_instance("head")
class Head(_Units):
    """Whole attention heads: Q, K, V out-features and the output projection's in-features."""

    _prune = staticmethod(prune_heads)

    def layers(self, model: nn.Module, recipe: Recipe) -> Layers:
        modules = attention_modules(model, recipe)
        if not modules:
            raise ConfigError(_no_attention(model))
        return modules

    def layer_sizes(self, layers: Layers) -> dict[str, int]:
        return {n: int(head_count(m)) for n, m in layers}

    def _units(self, model: nn.Module, graph: tp.DependencyGraph, layers: Layers) -> list:
        return attention_projections(model, graph, layers)


@GRANULARITIES.register_instance("ffn")
class FFN(_Units):
    """Intermediate neurons of feed-forward blocks: up-projection rows, down-projection columns."""

    _prune = staticmethod(prune_ffn)

    def layers(self, model: nn.Module, recipe: Recipe) -> Layers:
        ups = ffn_layers(model, recipe)
        if not ups:
            raise ConfigError(_no_ffn(model))
        return ups  # type: ignore[return-value]

    def layer_sizes(self, layers: Layers) -> dict[str, int]:
        return {n: m.out_features for n, m in layers}

    def _units(self, model: nn.Module, graph: tp.DependencyGraph, layers: Layers) -> list:
        return [down_projection(graph, n, up) for n, up in layers]


@GRANULARITIES.register_instance("head+ffn")
class HeadFFN(Granularity):
    """Heads and FFN neurons in one recipe: ``head_sparsity`` of the heads and
    ``ffn_sparsity`` of the neurons (the recipe's ``sparsity`` is ignored). A schedule
    step to ``t`` of the final ``max(head_sparsity, ffn_sparsity)`` brings each part to
    the same share of its own fraction; the allocation applies within each part."""

    packed = False
    fixed_sparsity = True

    def _parts(self) -> tuple[Head, FFN]:
        return GRANULARITIES.get("head"), GRANULARITIES.get("ffn")

    def check(self, recipe: Recipe) -> None:
        super().check(recipe)
        if recipe.head_sparsity == 0.0 and recipe.ffn_sparsity == 0.0:
            raise ConfigError("granularity=head+ffn needs head_sparsity > 0 or ffn_sparsity > 0, but got both 0.")

    def effective_sparsity(self, recipe: Recipe) -> float:
        return max(recipe.head_sparsity, recipe.ffn_sparsity)

    def describe(self, recipe: Recipe) -> str:
        return f"head {recipe.head_sparsity:.2f} + ffn {recipe.ffn_sparsity:.2f}"

    def layers(self, model: nn.Module, recipe: Recipe) -> Layers:
        head, ffn = self._parts()
        return head.layers(model, recipe) + ffn.layers(model, recipe)

    def _split(self, layers: Layers) -> tuple[Layers, Layers]:
        heads = [(n, m) for n, m in layers if not isinstance(m, nn.Linear)]
        return heads, [(n, m) for n, m in layers if isinstance(m, nn.Linear)]

    def layer_sizes(self, layers: Layers) -> dict[str, int]:
        head, ffn = self._parts()
        heads, ups = self._split(layers)
        return {**head.layer_sizes(heads), **ffn.layer_sizes(ups)}

    def check_model(self, model: nn.Module, task: Task, recipe: Recipe) -> None:
        for part in self._parts():
            part.check_model(model, task, recipe)

    def prune_step(self, pruner: Pruner, model: nn.Module, layers: Layers, target: float) -> None:
        recipe = pruner.recipe
        share = target / self.effective_sparsity(recipe)
        heads, ups = self._split(layers)
        head, ffn = self._parts()
        for part, part_layers, fraction in ((head, heads, recipe.head_sparsity), (ffn, ups, recipe.ffn_sparsity)):
            if fraction > 0.0:
                part.prune_step(pruner, model, part_layers, min(fraction * share, fraction))

    @property
    def scannable(self) -> bool:
        return True

    def scan(self, model: nn.Module, task: Task, recipe: Recipe, layers: Layers, levels: Sequence[float]) -> Scan:
        head, ffn = self._parts()
        heads, ups = self._split(layers)
        return {**head.scan(model, task, recipe, heads, levels), **ffn.scan(model, task, recipe, ups, levels)}
