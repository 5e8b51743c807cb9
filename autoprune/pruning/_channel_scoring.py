"""Channel importance from weight scores, and the context that prepares an importance to score."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

import torch
import torch_pruning as tp
from torch import nn
from torch_pruning.pruner import function as tp_fn

from autoprune.pruning._calibration import calibration_grads, need_data
from autoprune.pruning._layers import PRUNABLE_TYPES
from autoprune.recipe import Recipe
from autoprune.tasks import Task

if TYPE_CHECKING:
    from autoprune.pruning.criteria import Criterion

__all__ = ["WeightScoreChannelImportance", "channel_scoring"]


class WeightScoreChannelImportance(tp.importance.GroupMagnitudeImportance):
    """A channel's importance: the summed weight scores of every weight it carries.

    For a group of coupled channels, each Conv/Linear producing the channel contributes the
    sum of its output row's scores and each one consuming it the sum of its input column's;
    contributions are reduced and normalised like
    :class:`tp.importance.GroupMagnitudeImportance` (mean, mean), so scores of different
    groups are comparable for global ranking. Any criterion's weight scores turn into a
    channel importance this way (the default of :meth:`Criterion.channel_importance`).

    Call :meth:`set_scores` (or use :func:`channel_scoring`) before scoring groups.

    Args:
        criterion: the criterion whose weight scores are summed.
    """

    def __init__(self, criterion: Criterion) -> None:
        super().__init__(p=1, group_reduction="mean", normalizer="mean", target_types=[nn.Conv1d, nn.Conv2d, nn.Linear])
        self.criterion = criterion
        self.scores: dict[nn.Module, torch.Tensor] = {}

    def set_scores(self, model: nn.Module, task: Task | None, recipe: Recipe | None) -> None:
        """Score every weight of every Conv/Linear of ``model`` with the criterion."""
        modules = [m for m in model.modules() if isinstance(m, PRUNABLE_TYPES)]
        layers = [(str(i), m) for i, m in enumerate(modules)]
        scores = self.criterion.weight_scores(layers, model, task, recipe)
        self.scores = {m: scores[n] for n, m in layers}

    @torch.no_grad()
    def __call__(self, group: tp.dependency.Group) -> torch.Tensor | None:
        group_imp, group_idxs = [], []
        for i, (dep, idxs) in enumerate(group):
            layer, fn = dep.target.module, dep.handler
            score = self.scores.get(layer)
            if score is None:
                continue
            if fn in (tp_fn.prune_conv_out_channels, tp_fn.prune_linear_out_channels):
                local = score[idxs].flatten(1).sum(1)
            elif fn in (tp_fn.prune_conv_in_channels, tp_fn.prune_linear_in_channels):
                local = score.transpose(0, 1).flatten(1).sum(1)
                if isinstance(layer, nn.modules.conv._ConvNd) and layer.groups not in (1, layer.in_channels):
                    local = local.repeat(layer.groups)
                local = local[idxs]
            else:
                continue
            group_imp.append(local)
            group_idxs.append(group[i].root_idxs)
        if not group_imp:
            return None
        return self._normalize(self._reduce(group_imp, group_idxs), self.normalizer)


@contextlib.contextmanager
def channel_scoring(
    importance: tp.importance.Importance, model: nn.Module, task: Task | None, recipe: Recipe | None
) -> Iterator[tp.importance.Importance]:
    """Prepare ``importance`` to score the groups of ``model`` as it is now.

    Taylor reads ``.grad``: the summed calibration gradients are placed there for the
    duration and the previous ``.grad`` values are put back on exit. Weight-score
    importances compute their scores on entry and release them on exit. Score every group
    inside the block, prune after it (pruning replaces parameters).
    """
    if isinstance(importance, tp.importance.GroupTaylorImportance):
        task, n = need_data("taylor", task, recipe)
        params = [p for p in model.parameters() if p.requires_grad]
        saved = [p.grad for p in params]
        grads = calibration_grads(model, params, task, n)
        try:
            for p, g in zip(params, grads):
                p.grad = g
            yield importance
        finally:
            for p, g in zip(params, saved):
                p.grad = g
    elif isinstance(importance, WeightScoreChannelImportance):
        importance.set_scores(model, task, recipe)
        try:
            yield importance
        finally:
            importance.scores = {}
    else:
        yield importance
