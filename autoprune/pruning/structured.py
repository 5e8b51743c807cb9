"""Channel pruning: output channels / neurons removed physically with Torch-Pruning.

Torch-Pruning's ``DependencyGraph`` finds which layers are coupled to a channel (the
batch norm after a conv, the other branch of a residual add, the slice of a
concatenation, the next layer's input) and cuts them all together, so tensors shrink and
the model stays consistent. Scores come from Torch-Pruning importances
(:func:`~autoprune.pruning.criteria.channel_importance`).

How many channels go is decided here rather than by ``tp.pruner.BasePruner``: a trial
takes several cumulative steps and each must land exactly on a fraction of the ORIGINAL
channel count, while ``BasePruner`` rounds with ``int()`` against the channels it saw
first. Here every step builds the graph of the model as it is, scores every group, then
removes ``current - round(original * (1 - target))`` channels per group (or the lowest
scores across all groups for global ranking).
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Mapping, Sequence

import torch
import torch_pruning as tp
from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning._layers import eval_mode, model_device, prunable_layers
from autoprune.pruning._transformer import attention_modules, qkv
from autoprune.pruning.criteria import channel_importance, channel_scoring
from autoprune.pruning.granularity import Granularity, Layers, Scan
from autoprune.recipe import Recipe
from autoprune.registry import GRANULARITIES
from autoprune.tasks import Task, call_model, to_device

if TYPE_CHECKING:
    from autoprune.pruning.pruner import Pruner

__all__ = ["Channel", "out_channels", "build_graph", "channel_scores", "normalized_scores", "prune_channels"]

_ROOT_TYPES = (nn.modules.conv._ConvNd, nn.Linear)


def out_channels(module: nn.Module) -> int:
    """Output neurons of a Linear, output channels of a Conv."""
    return module.out_features if isinstance(module, nn.Linear) else module.out_channels


def build_graph(model: nn.Module, task: Task) -> tp.DependencyGraph:
    """Trace ``model`` on ``task.example_input(1)`` into a Torch-Pruning dependency graph."""
    example = to_device(task.example_input(1), model_device(model))
    with eval_mode(model), torch.enable_grad():  # tracing leaves the model in eval mode otherwise
        return tp.DependencyGraph().build_dependency(model, example_inputs=example, forward_fn=call_model, verbose=False)


def _is_grouped_conv(m: nn.Module) -> bool:
    # grouped (not depthwise) convs need channel counts that stay multiples of the groups
    return isinstance(m, nn.modules.conv._ConvNd) and 1 < m.groups < m.in_channels


def prune_channels(
    model: nn.Module,
    task: Task,
    recipe: Recipe,
    target: float | Mapping[str, float],
    *,
    original: Mapping[str, int] | None = None,
    global_ranking: bool = False,
    scores: Mapping[str, torch.Tensor] | None = None,
) -> nn.Module:
    """Remove output channels of the recipe's prunable layers, in place.

    Args:
        model: the model, pruned in place (its parameters are replaced).
        task: example input for tracing, calibration data for ``taylor`` / ``wanda``.
        recipe: criterion, keep_layers, prune_classifier, calibration_batches.
        target: cumulative fraction of each layer's original channels to have removed,
            one float for all layers or a mapping layer name -> fraction. With
            ``global_ranking`` a float: the fraction of all original channels together.
        original: original channel count per layer name (defaults to the current ones);
            pass the counts from before the first step to make steps cumulative.
        global_ranking: rank the scores of all groups together, each group's divided by
            its mean (:func:`normalized_scores`); no group loses more than the recipe's
            ``max_layer_sparsity`` of its original channels.
        scores: channel scores from :func:`channel_scores` on this model as it is now
            (e.g. on the original of a deep copy); computed here when None.

    Layers coupled into one group (e.g. convs added by a residual) share their channels;
    their fraction is the mean of the members' fractions. A group coupled to a layer that
    is not prunable (say a residual add with a kept layer) is left whole. Every group keeps
    at least one channel. Linear / Conv modules that are not prunable (classifier, keep_layers) are
    never cut at their output, only at their input where a pruned layer feeds them.

    Example:
        >>> from autoprune import get_task
        >>> task = get_task("digits-mlp")
        >>> model = prune_channels(task.build_model(), task, Recipe(), 0.5)
        >>> model[0].out_features, model[2].in_features, model[4].in_features
        (256, 256, 256)
    """
    layers = prunable_layers(model, recipe)
    name_of = {m: n for n, m in layers}
    if global_ranking and not isinstance(target, (int, float)):
        raise ConfigError(f"global channel pruning takes one target fraction, but got target={target!r}.")
    if isinstance(target, (int, float)):
        fractions = {n: float(target) for n, _ in layers}
    else:
        missing = [n for n, _ in layers if n not in target]
        if missing:
            raise ConfigError(
                f"target has no fraction for prunable layer {missing[0]!r}; layers: {list(name_of.values())}."
            )
        fractions = dict(target)
    for n, f in fractions.items():
        if not 0.0 <= f < 1.0:
            raise ConfigError(f"channel fraction must be in [0, 1), but got {f!r} for layer {n!r}.")
    original = dict(original) if original is not None else {n: out_channels(m) for n, m in layers}
    graph = build_graph(model, task)
    groups = _prunable_groups(model, recipe, graph)
    if scores is None:
        scores = _score_groups(model, task, recipe, groups)
    scored = [(g, members, scores[members[0]]) for g, members in groups if members[0] in scores]
    for group, members, imp in scored:
        current = graph.get_out_channels(group[0].dep.target.module)
        if len(imp) != current:
            raise ConfigError(
                f"scores must match the model's channels, but got {len(imp)} scores for layer "
                f"{members[0]!r} with {current} channels."
            )

    if global_ranking:
        plan = _global_plan(scored, original, float(target), max_layer_amount=recipe.layer_cap)
    else:
        plan = []
        for group, members, imp in scored:
            fraction = sum(fractions[n] for n in members) / len(members)
            keep = max(1, round(original.get(members[0], len(imp)) * (1.0 - fraction)))
            n_remove = len(imp) - keep
            if n_remove > 0:
                plan.append((group, torch.argsort(imp, stable=True)[:n_remove]))

    for group, idxs in plan:
        root, handler = group[0].dep.target.module, group[0].dep.handler
        cut = graph.get_pruning_group(root, handler, sorted(int(i) for i in idxs))
        if graph.check_pruning_group(cut):
            cut.prune()
    return model


def _prunable_groups(model: nn.Module, recipe: Recipe, graph: tp.DependencyGraph) -> list:
    """``(group, member names)`` of every group rooted at a prunable layer, members in graph order."""
    name_of = {m: n for n, m in prunable_layers(model, recipe)}
    # attention heads stay whole: query / key / value channels are never cut one by one
    # (the attention reshapes them into heads); granularity=head removes whole heads
    heads = {id(lin) for _, m in attention_modules(model) for lin in qkv(m)}
    ignored = [m for m in model.modules() if isinstance(m, _ROOT_TYPES)
               and (m not in name_of or _is_grouped_conv(m) or id(m) in heads)]
    groups = []
    for group in graph.get_all_groups(ignored_layers=ignored, root_module_types=_ROOT_TYPES):
        members = []
        for dep, _ in group:
            name = name_of.get(dep.target.module)
            if name is not None and graph.is_out_channel_pruning_fn(dep.handler) and name not in members:
                members.append(name)
        if members:
            groups.append((group, members))
    return groups


def _score_groups(model: nn.Module, task: Task, recipe: Recipe, groups: list) -> dict[str, torch.Tensor]:
    importance = channel_importance(recipe.criterion)
    out = {}
    with channel_scoring(importance, model, task, recipe):  # score everything before cutting anything
        for group, members in groups:
            imp = importance(group)
            if imp is not None:  # a group without weights Torch-Pruning can score
                out[members[0]] = imp.detach().float().cpu()
    return out


def channel_scores(model: nn.Module, task: Task, recipe: Recipe) -> dict[str, torch.Tensor]:
    """Importance of the current channels of every prunable group, keyed by its first prunable layer.

    Coupled layers (a residual add) form one group, listed under one of their names.
    """
    return _score_groups(model, task, recipe, _prunable_groups(model, recipe, build_graph(model, task)))


def normalized_scores(imp: torch.Tensor) -> torch.Tensor:
    """A group's channel scores divided by their mean (Torch-Pruning's ``normalizer="mean"``).

    Global ranking compares groups whose raw scores differ by orders of magnitude (a layer
    of small weights, a wide layer): per group, a channel's score relative to its siblings
    is what is comparable. The built-in importances already normalise this way, and the
    mean normalisation is idempotent, so any importance (a plug-in's too) is ranked alike.
    A group whose mean is not positive and finite is left as it is.
    """
    mean = imp.mean() if imp.numel() else imp.new_tensor(0.0)
    if not (torch.isfinite(mean) and mean > 0):
        return imp
    return imp / mean


def _global_plan(scored: list, original: Mapping[str, int], target: float, *, max_layer_amount: float = 1.0,
                 normalize: bool = True) -> list:
    """The lowest (normalised) scores across all groups, exactly
    ``current - round(original * (1 - target))`` of them.

    A group keeps its best channel and at least ``ceil(original * (1 - max_layer_amount))``
    channels; what a capped group would have lost goes to the next-lowest scores of the
    others, so the total is exact unless every group is capped.

    Example:
        >>> a = torch.tensor([1.0, 2.0, 3.0, 6.0])
        >>> b = a / 1024  # the same channels, 1024 times smaller
        >>> plan = _global_plan([("A", ["a"], a), ("B", ["b"], b)], {"a": 4, "b": 4}, 0.5, normalize=False)
        >>> [(g, sorted(i.tolist())) for g, i in plan]
        [('A', [0]), ('B', [0, 1, 2])]
        >>> plan = _global_plan([("A", ["a"], a), ("B", ["b"], b)], {"a": 4, "b": 4}, 0.5)
        >>> [(g, sorted(i.tolist())) for g, i in plan]
        [('A', [0, 1]), ('B', [0, 1])]
    """
    if not scored:
        return []
    total_original = sum(original.get(members[0], len(imp)) for _, members, imp in scored)
    current = sum(len(imp) for _, _, imp in scored)
    n_remove = current - round(total_original * (1.0 - target))
    if n_remove <= 0:
        return []
    values, owners, positions = [], [], []
    for gi, (_, members, imp) in enumerate(scored):
        keep_min = max(1, math.ceil(original.get(members[0], len(imp)) * (1.0 - max_layer_amount) - 1e-9))
        order = torch.argsort(imp, stable=True)  # lowest first
        allowed = order[: max(0, len(imp) - keep_min)]  # the best channel(s) of every group stay
        ranked = normalized_scores(imp) if normalize else imp
        values.append(ranked[allowed])
        owners.append(torch.full((len(allowed),), gi))
        positions.append(allowed)
    values_t, owners_t, positions_t = torch.cat(values), torch.cat(owners), torch.cat(positions)
    chosen = torch.argsort(values_t, stable=True)[:n_remove]
    plan = []
    for gi, (group, _, _) in enumerate(scored):
        idxs = positions_t[chosen[owners_t[chosen] == gi]]
        if len(idxs):
            plan.append((group, idxs))
    return plan


@GRANULARITIES.register_instance("channel")
class Channel(Granularity):
    """Output channels / neurons removed physically (Torch-Pruning), stored dense.

    Amounts count against each layer's ORIGINAL channels (recorded at the first step);
    ``global`` ranks the normalised scores of all groups together, each capped at the
    recipe's ``max_layer_sparsity``.
    """

    packed = False

    def layer_sizes(self, layers: Layers) -> dict[str, int]:
        return {n: out_channels(m) for n, m in layers}

    def prune_step(self, pruner: Pruner, model: nn.Module, layers: Layers, target: float) -> None:
        if pruner.allocation.global_ranking:
            prune_channels(model, pruner.task, pruner.recipe, target, original=pruner.sizes, global_ranking=True)
        else:
            amounts = pruner.amounts(list(pruner.sizes), target)
            prune_channels(model, pruner.task, pruner.recipe, amounts, original=pruner.sizes)

    def scan(self, model: nn.Module, task: Task, recipe: Recipe, layers: Layers, levels: Sequence[float]) -> Scan:
        """Channels removed from a deep copy, one layer at a time; a copy with batch norms
        has their statistics recomputed before it is scored (:func:`_recalibrated`)."""
        original = {n: out_channels(m) for n, m in layers}
        scores = channel_scores(model, task, recipe)  # once: every copy starts from these channels
        scan: Scan = {}
        for name, _ in layers:
            scan[name] = {}
            for level in levels:
                trial = copy.deepcopy(model)
                fractions = {n: (level if n == name else 0.0) for n in original}
                prune_channels(trial, task, recipe, fractions, original=original, scores=scores)
                scan[name][level] = float(task.evaluate(_recalibrated(trial, task, recipe.calibration_batches)))
        return scan


def _recalibrated(model: nn.Module, task: Task, batches: int) -> nn.Module:
    """``model`` with every batch norm's running statistics recomputed on ``batches``
    calibration batches (a cumulative average), in place.

    Removing channels changes what reaches the batch norms downstream, so their stored
    statistics no longer fit: a pretrained BatchNorm CNN scored without this drops to near
    chance at every level of every layer, and the scan would rank layers by noise. A trial
    recomputes them before fine-tuning too, so the scan predicts what it starts from.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return model
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # None: the plain average over the batches seen
    was_training = model.training
    model.train()
    device = model_device(model)
    with torch.no_grad():
        for inputs, _ in task.calibration_batches(batches):
            call_model(model, to_device(inputs, device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    return model.train(was_training)
