"""Importance criteria: weight scores (unstructured, N:M) and channel scores (Torch-Pruning).

Weight-level scores have the shape of the weight; larger means more important:

- ``magnitude_l1``: ``|w|``
- ``magnitude_l2``: ``w ** 2``
- ``random``: uniform noise from a fixed-seed generator (a control, reproducible)
- ``taylor``: ``|w * dL/dw|``, the gradient summed over the calibration batches
  (Molchanov et al. 2019, first order)
- ``wanda``: ``|w_ij| * ||X_j||_2``, ``X_j`` the j-th input feature over all calibration
  tokens / positions (Sun et al. 2023)

Scores are computed on the effective weights (``weight_orig * mask`` while a mask is held),
so a weight pruned by an earlier step scores 0 (the pruner also forces it to stay pruned).
Data-driven criteria run the model in eval mode (batch-norm statistics stay fixed) and
leave no gradients or hooks behind.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator

import torch
import torch_pruning as tp
from torch import nn
from torch_pruning.pruner import function as tp_fn

from autoprune.errors import ConfigError
from autoprune.pruning._layers import (
    PRUNABLE_TYPES,
    batches_on,
    effective_weight,
    eval_mode,
    model_device,
)
from autoprune.recipe import Recipe
from autoprune.tasks import Task, call_model

__all__ = [
    "WEIGHT_CRITERIA",
    "RANDOM_SEED",
    "weight_scores",
    "channel_importance",
    "channel_scoring",
    "WandaChannelImportance",
    "input_norms",
    "calibration_grads",
]

Layers = list[tuple[str, nn.Module]]
WeightCriterion = Callable[[Layers, nn.Module, "Task | None", "Recipe | None"], dict[str, torch.Tensor]]

RANDOM_SEED = 0  # random scores are a reproducible control, the same for every trial seed


def _need_data(criterion: str, task: Task | None, recipe: Recipe | None) -> tuple[Task, int]:
    if task is None:
        raise ConfigError(f"criterion={criterion!r} needs calibration data, but got task=None.")
    return task, (recipe.calibration_batches if recipe is not None else Recipe().calibration_batches)


def _magnitude_l1(
    layers: Layers, model: nn.Module, task: Task | None, recipe: Recipe | None
) -> dict[str, torch.Tensor]:
    return {n: effective_weight(m).detach().abs() for n, m in layers}


def _magnitude_l2(
    layers: Layers, model: nn.Module, task: Task | None, recipe: Recipe | None
) -> dict[str, torch.Tensor]:
    return {n: effective_weight(m).detach().pow(2) for n, m in layers}


def _random(layers: Layers, model: nn.Module, task: Task | None, recipe: Recipe | None) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(RANDOM_SEED)
    out = {}
    for n, m in layers:
        w = effective_weight(m)
        out[n] = torch.rand(w.shape, generator=gen).to(w.device)
    return out


def _weight_param(module: nn.Module) -> nn.Parameter:
    # while a mask is held the trainable tensor is weight_orig; its gradient is mask * dL/dw
    return module.weight_orig if hasattr(module, "weight_orig") else module.weight


def calibration_grads(model: nn.Module, params: list[nn.Parameter], task: Task, n_batches: int) -> list[torch.Tensor]:
    """Gradients of the task loss w.r.t. ``params``, summed over ``n_batches`` calibration batches.

    Uses ``torch.autograd.grad``, so no ``.grad`` attribute is touched.
    """
    sums = [torch.zeros_like(p) for p in params]
    device = model_device(model)
    with eval_mode(model), torch.enable_grad():
        for batch in batches_on(task.calibration_batches(n_batches), device):
            loss = task.training_step(model, batch)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            for s, g in zip(sums, grads):
                if g is not None:
                    s.add_(g)
    return sums


def _taylor(layers: Layers, model: nn.Module, task: Task | None, recipe: Recipe | None) -> dict[str, torch.Tensor]:
    task, n = _need_data("taylor", task, recipe)
    grads = calibration_grads(model, [_weight_param(m) for _, m in layers], task, n)
    return {name: (effective_weight(m).detach() * g).abs() for (name, m), g in zip(layers, grads)}


def input_norms(
    model: nn.Module, modules: Iterable[nn.Module], task: Task, n_batches: int
) -> dict[nn.Module, torch.Tensor]:
    """L2 norm of each input feature / channel of ``modules`` over the calibration batches.

    Linear: inputs flattened to ``(-1, in_features)``, norm over rows. Conv: norm over batch
    and spatial positions of each input channel. A module the forward never reached gets
    zeros.
    """
    modules = list(modules)
    sq: dict[nn.Module, torch.Tensor] = {}

    def hook(module: nn.Module, inputs: tuple, output: object) -> None:
        x = inputs[0].detach().float()
        if isinstance(module, nn.Linear):
            s = x.reshape(-1, x.shape[-1]).pow(2).sum(0)
        else:  # batched conv input (N, C, ...) or unbatched (C, ...)
            ch = 1 if x.dim() == module.weight.dim() else 0
            s = x.pow(2).sum([d for d in range(x.dim()) if d != ch])
        sq[module] = sq[module] + s if module in sq else s

    handles = [m.register_forward_hook(hook) for m in modules]
    device = model_device(model)
    try:
        with eval_mode(model), torch.no_grad():
            for inputs, _ in batches_on(task.calibration_batches(n_batches), device):
                call_model(model, inputs)
    finally:
        for h in handles:
            h.remove()
    out = {}
    for m in modules:
        in_ch = m.in_features if isinstance(m, nn.Linear) else m.in_channels
        out[m] = sq[m].sqrt() if m in sq else torch.zeros(in_ch, device=device)
    return out


def _wanda_weight_scores(module: nn.Module, norm: torch.Tensor) -> torch.Tensor:
    w = effective_weight(module).detach().abs()
    if isinstance(module, nn.Linear):
        return w * norm.to(w)
    # grouped conv: out channel o sees input channels of its group only
    groups = module.groups
    per_out = norm.to(w).view(groups, -1).repeat_interleave(w.shape[0] // groups, dim=0)
    return w * per_out.view(*per_out.shape, *([1] * (w.dim() - 2)))


def _wanda(layers: Layers, model: nn.Module, task: Task | None, recipe: Recipe | None) -> dict[str, torch.Tensor]:
    task, n = _need_data("wanda", task, recipe)
    norms = input_norms(model, [m for _, m in layers], task, n)
    return {name: _wanda_weight_scores(m, norms[m]) for name, m in layers}


WEIGHT_CRITERIA: dict[str, WeightCriterion] = {
    "magnitude_l1": _magnitude_l1,
    "magnitude_l2": _magnitude_l2,
    "random": _random,
    "taylor": _taylor,
    "wanda": _wanda,
}


def _check_criterion(criterion: str) -> None:
    if criterion not in WEIGHT_CRITERIA:
        raise ConfigError(
            f"criterion must be one of {', '.join(WEIGHT_CRITERIA)}, but got criterion={criterion!r}."
        )


def weight_scores(
    criterion: str,
    layers: Layers,
    model: nn.Module,
    task: Task | None = None,
    recipe: Recipe | None = None,
) -> dict[str, torch.Tensor]:
    """Importance of every weight of ``layers``, keyed by layer name, shaped like the weight.

    Args:
        criterion: one of :data:`WEIGHT_CRITERIA`.
        layers: ``(name, module)`` pairs, e.g. from :func:`prunable_layers`.
        model: the model the layers belong to (forwarded for ``taylor`` / ``wanda``).
        task: supplies calibration batches and the loss (``taylor``, ``wanda``).
        recipe: supplies ``calibration_batches``.

    Example:
        >>> from torch import nn
        >>> lin = nn.Linear(2, 1, bias=False)
        >>> _ = lin.weight.data.copy_(torch.tensor([[1.0, -3.0]]))
        >>> weight_scores("magnitude_l1", [("fc", lin)], lin)["fc"].tolist()
        [[1.0, 3.0]]
    """
    _check_criterion(criterion)
    return WEIGHT_CRITERIA[criterion](layers, model, task, recipe)


# -- channel importances (Torch-Pruning groups) -------------------------------------------


class WandaChannelImportance(tp.importance.GroupMagnitudeImportance):
    """Wanda for channels: the summed Wanda scores of every weight a channel carries.

    For a group of coupled channels, each Conv/Linear producing the channel contributes
    ``sum_j |W[c, j]| * ||X_j||`` (its output row) and each one consuming it contributes
    ``||X_c|| * sum_o |W[o, c]|`` (its input column); contributions are reduced and
    normalised like :class:`tp.importance.GroupMagnitudeImportance` (mean, mean), so scores
    of different groups are comparable for global ranking.

    Torch-Pruning's own ``ActivationImportance`` is not used: it keeps only the last
    calibration batch, scores by activation alone (no weights) and leaves ``_importance``
    attributes on the modules that go stale once channels are removed.

    Call :meth:`set_scores` (or use :func:`channel_scoring`) before scoring groups.
    """

    def __init__(self) -> None:
        super().__init__(p=1, group_reduction="mean", normalizer="mean", target_types=[nn.Conv1d, nn.Conv2d, nn.Linear])
        self.scores: dict[nn.Module, torch.Tensor] = {}

    def set_scores(self, model: nn.Module, task: Task, n_batches: int) -> None:
        """Compute Wanda weight scores of every Conv/Linear of ``model`` on calibration data."""
        modules = [m for m in model.modules() if isinstance(m, PRUNABLE_TYPES)]
        norms = input_norms(model, modules, task, n_batches)
        self.scores = {m: _wanda_weight_scores(m, norms[m]) for m in modules}

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


def channel_importance(criterion: str) -> tp.importance.Importance:
    """The Torch-Pruning importance that scores channel groups for ``criterion``.

    ``taylor`` and ``wanda`` need calibration data: score groups inside
    :func:`channel_scoring`, which provides it.
    """
    _check_criterion(criterion)
    if criterion == "magnitude_l1":
        return tp.importance.GroupMagnitudeImportance(p=1)
    if criterion == "magnitude_l2":
        return tp.importance.GroupMagnitudeImportance(p=2)
    if criterion == "random":
        return tp.importance.RandomImportance()  # draws from torch's global generator
    if criterion == "taylor":
        return tp.importance.GroupTaylorImportance()
    return WandaChannelImportance()


@contextlib.contextmanager
def channel_scoring(
    importance: tp.importance.Importance, model: nn.Module, task: Task | None, recipe: Recipe | None
) -> Iterator[tp.importance.Importance]:
    """Prepare ``importance`` to score the groups of ``model`` as it is now.

    Taylor reads ``.grad``: the summed calibration gradients are placed there for the
    duration and the previous ``.grad`` values are put back on exit. Score every group
    inside the block, prune after it (pruning replaces parameters).
    """
    if isinstance(importance, tp.importance.GroupTaylorImportance):
        task, n = _need_data("taylor", task, recipe)
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
    elif isinstance(importance, WandaChannelImportance):
        task, n = _need_data("wanda", task, recipe)
        importance.set_scores(model, task, n)
        try:
            yield importance
        finally:
            importance.scores = {}
    else:
        yield importance
