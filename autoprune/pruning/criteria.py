"""Importance criteria: weight scores (unstructured, N:M) and channel scores (Torch-Pruning).

A :class:`Criterion` scores every weight of a layer (the tensor has the weight's shape;
larger means more important) and names the Torch-Pruning importance that scores channel
groups. The built-ins, registered in :data:`~autoprune.registry.CRITERIA`:

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

import abc

import torch
import torch_pruning as tp
from torch import nn

from autoprune.pruning._calibration import (
    calibration_grads,
    input_norms,
    need_data,
    weight_param,
)
from autoprune.pruning._channel_scoring import WeightScoreChannelImportance, channel_scoring
from autoprune.pruning._layers import effective_weight
from autoprune.recipe import Recipe
from autoprune.registry import CRITERIA
from autoprune.tasks import Task

__all__ = [
    "Criterion",
    "CRITERIA",
    "WEIGHT_CRITERIA",
    "RANDOM_SEED",
    "criterion_of",
    "weight_scores",
    "channel_importance",
    "channel_scoring",
    "WeightScoreChannelImportance",
    "WandaChannelImportance",
    "input_norms",
    "calibration_grads",
]

Layers = list[tuple[str, nn.Module]]

RANDOM_SEED = 0  # random scores are a reproducible control, the same for every trial seed

#: The criteria by name (the registry itself; kept under its former name).
WEIGHT_CRITERIA = CRITERIA


class Criterion(abc.ABC):
    """How important each weight is; one required method, :meth:`weight_scores`.

    Attributes:
        name: the name it is registered under (set on registration).
        needs_data: True when scoring runs the model on calibration batches (the
            sensitivity cache then keys on ``calibration_batches``).

    Example:
        >>> @CRITERIA.register_instance("magnitude_max_doc")
        ... class MagnitudeMax(Criterion):
        ...     def weight_scores(self, layers, model, task=None, recipe=None):
        ...         return {n: effective_weight(m).detach().abs() for n, m in layers}
        >>> CRITERIA.unregister("magnitude_max_doc")
    """

    name: str = ""
    needs_data: bool = False

    @abc.abstractmethod
    def weight_scores(
        self, layers: Layers, model: nn.Module, task: Task | None = None, recipe: Recipe | None = None
    ) -> dict[str, torch.Tensor]:
        """Importance of every weight of ``layers``, keyed by layer name, shaped like the weight."""

    def channel_importance(self) -> tp.importance.Importance:
        """The Torch-Pruning importance scoring channel groups (default: summed weight scores).

        Score groups inside :func:`channel_scoring`, which prepares it.
        """
        return WeightScoreChannelImportance(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


@CRITERIA.register_instance("magnitude_l1")
class MagnitudeL1(Criterion):
    """``|w|``; channels: the group's L1 norm."""

    def weight_scores(
        self, layers: Layers, model: nn.Module, task: Task | None = None, recipe: Recipe | None = None
    ) -> dict[str, torch.Tensor]:
        return {n: effective_weight(m).detach().abs() for n, m in layers}

    def channel_importance(self) -> tp.importance.Importance:
        return tp.importance.GroupMagnitudeImportance(p=1)


@CRITERIA.register_instance("magnitude_l2")
class MagnitudeL2(Criterion):
    """``w ** 2``; channels: the group's L2 norm."""

    def weight_scores(
        self, layers: Layers, model: nn.Module, task: Task | None = None, recipe: Recipe | None = None
    ) -> dict[str, torch.Tensor]:
        return {n: effective_weight(m).detach().pow(2) for n, m in layers}

    def channel_importance(self) -> tp.importance.Importance:
        return tp.importance.GroupMagnitudeImportance(p=2)


@CRITERIA.register_instance("random")
class Random(Criterion):
    """Uniform noise from a generator seeded with :data:`RANDOM_SEED`; channels: Torch-Pruning's
    ``RandomImportance`` (torch's global generator, seeded by the trial)."""

    def weight_scores(
        self, layers: Layers, model: nn.Module, task: Task | None = None, recipe: Recipe | None = None
    ) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(RANDOM_SEED)
        out = {}
        for n, m in layers:
            w = effective_weight(m)
            out[n] = torch.rand(w.shape, generator=gen).to(w.device)
        return out

    def channel_importance(self) -> tp.importance.Importance:
        return tp.importance.RandomImportance()


@CRITERIA.register_instance("taylor")
class Taylor(Criterion):
    """``|w * dL/dw|`` over the calibration batches; channels: ``GroupTaylorImportance``."""

    needs_data = True

    def weight_scores(
        self, layers: Layers, model: nn.Module, task: Task | None = None, recipe: Recipe | None = None
    ) -> dict[str, torch.Tensor]:
        task, n = need_data(self.name, task, recipe)
        grads = calibration_grads(model, [weight_param(m) for _, m in layers], task, n)
        return {name: (effective_weight(m).detach() * g).abs() for (name, m), g in zip(layers, grads)}

    def channel_importance(self) -> tp.importance.Importance:
        return tp.importance.GroupTaylorImportance()


def wanda_layer_scores(module: nn.Module, norm: torch.Tensor) -> torch.Tensor:
    """``|W| * ||X||`` of one Linear / Conv given the norms of its input features / channels."""
    w = effective_weight(module).detach().abs()
    if isinstance(module, nn.Linear):
        return w * norm.to(w)
    # grouped conv: out channel o sees input channels of its group only
    groups = module.groups
    per_out = norm.to(w).view(groups, -1).repeat_interleave(w.shape[0] // groups, dim=0)
    return w * per_out.view(*per_out.shape, *([1] * (w.dim() - 2)))


@CRITERIA.register_instance("wanda")
class Wanda(Criterion):
    """``|w_ij| * ||X_j||``; channels: the summed scores (:class:`WandaChannelImportance`)."""

    needs_data = True

    def weight_scores(
        self, layers: Layers, model: nn.Module, task: Task | None = None, recipe: Recipe | None = None
    ) -> dict[str, torch.Tensor]:
        task, n = need_data(self.name, task, recipe)
        norms = input_norms(model, [m for _, m in layers], task, n)
        return {name: wanda_layer_scores(m, norms[m]) for name, m in layers}

    def channel_importance(self) -> tp.importance.Importance:
        return WandaChannelImportance()


class WandaChannelImportance(WeightScoreChannelImportance):
    """Wanda for channels: the summed Wanda scores of every weight a channel carries.

    For a group, each Conv/Linear producing the channel contributes
    ``sum_j |W[c, j]| * ||X_j||`` and each one consuming it ``||X_c|| * sum_o |W[o, c]|``.
    Torch-Pruning's own ``ActivationImportance`` is not used: it keeps only the last
    calibration batch, scores by activation alone (no weights) and leaves ``_importance``
    attributes on the modules that go stale once channels are removed.
    """

    def __init__(self) -> None:
        super().__init__(CRITERIA.get("wanda"))


def criterion_of(recipe: Recipe) -> Criterion:
    """The :class:`Criterion` a recipe names."""
    return CRITERIA.get(recipe.criterion)


def weight_scores(
    criterion: str | Criterion,
    layers: Layers,
    model: nn.Module,
    task: Task | None = None,
    recipe: Recipe | None = None,
) -> dict[str, torch.Tensor]:
    """Importance of every weight of ``layers``, keyed by layer name, shaped like the weight.

    Args:
        criterion: a registered name (see :data:`CRITERIA`) or a :class:`Criterion`.
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
    return CRITERIA.resolve(criterion).weight_scores(layers, model, task, recipe)


def channel_importance(criterion: str | Criterion) -> tp.importance.Importance:
    """The Torch-Pruning importance that scores channel groups for ``criterion``.

    ``taylor`` and ``wanda`` need calibration data: score groups inside
    :func:`channel_scoring`, which provides it.
    """
    return CRITERIA.resolve(criterion).channel_importance()
