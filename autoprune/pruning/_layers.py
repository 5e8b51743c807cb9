"""Which modules a recipe prunes, and the weights they compute with."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch import nn

from autoprune.errors import ConfigError
from autoprune.recipe import Recipe
from autoprune.tasks import to_device

__all__ = [
    "PRUNABLE_TYPES",
    "prunable_layers",
    "effective_weight",
    "weight_mask",
    "model_device",
    "batches_on",
    "eval_mode",
]

PRUNABLE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d)

# nn.MultiheadAttention reads out_proj.weight directly instead of calling out_proj, so a
# pruning mask (a forward pre-hook) would never be re-applied there.
_EXCLUDED_TYPES = (nn.modules.linear.NonDynamicallyQuantizableLinear,)


# attributes naming an attention module's head count (autoprune.pruning._transformer)
HEAD_ATTRS = ("num_attention_heads", "num_heads", "n_heads", "n_head")


def _is_transformer(model: nn.Module) -> bool:
    return any(isinstance(getattr(m, a, None), int) for m in model.modules() for a in HEAD_ATTRS)


def _in_embeddings(name: str) -> bool:
    """A layer of a transformer's embeddings (a ViT's patch projection, ...)."""
    return any(part == "embeddings" or part.endswith("_embeddings") or part.startswith("embed")
               for part in name.split("."))


def _is_weight_layer(module: nn.Module) -> bool:
    return isinstance(module, PRUNABLE_TYPES) and not isinstance(module, _EXCLUDED_TYPES)


def _name_list(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def prunable_layers(model: nn.Module, recipe: Recipe) -> list[tuple[str, nn.Module]]:
    """The ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d`` modules a recipe prunes, in module order.

    The last such module is taken to be the classifier and left out unless
    ``recipe.prune_classifier``; modules named in ``recipe.keep_layers`` (and everything
    under them) are left out too, and in a transformer (a module with a head-count
    attribute) the layers of its embeddings (a module path part ``embeddings``,
    ``*_embeddings`` or ``embed*``, e.g. a ViT's patch projection).

    Raises:
        ConfigError: a ``keep_layers`` name matches no module, or nothing is left to prune.

    Example:
        >>> from torch import nn
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> [name for name, _ in prunable_layers(model, Recipe())]
        ['0']
    """
    named = list(model.named_modules())
    names = [n for n, _ in named if n]
    for keep in recipe.keep_layers:
        if keep not in names:
            raise ConfigError(
                f"keep_layers must name modules of the model, but got {keep!r}; "
                f"module names: {_name_list(names)}."
            )
    layers = [(n, m) for n, m in named if _is_weight_layer(m)]
    classifier = layers[-1][0] if layers else None
    if layers and not recipe.prune_classifier:
        layers = layers[:-1]
    keep = tuple(recipe.keep_layers)
    layers = [(n, m) for n, m in layers if not any(n == k or n.startswith(k + ".") for k in keep)]
    if _is_transformer(model):  # a transformer's embeddings are kept, like its classifier
        layers = [(n, m) for n, m in layers if not _in_embeddings(n)]
    if not layers:
        raise ConfigError(
            f"model has no prunable layer (nn.Linear / nn.Conv1d / nn.Conv2d) besides the classifier "
            f"{classifier!r} and keep_layers={list(keep)!r}; allowed: a model with such a layer outside "
            f"keep_layers, or prune_classifier=True."
        )
    return layers


def effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight the module computes with: ``weight_orig * weight_mask`` while a mask is held.

    ``module.weight`` itself is only refreshed by the pruning hook on the next forward, so
    after an optimizer step it can be stale; this reads the parameter and mask directly.
    """
    mask = getattr(module, "weight_mask", None)
    if mask is not None and hasattr(module, "weight_orig"):
        return module.weight_orig * mask
    return module.weight


def weight_mask(module: nn.Module) -> torch.Tensor | None:
    """The pruning mask held on ``module.weight`` (1 = kept), or None if none is held."""
    return getattr(module, "weight_mask", None)


def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def batches_on(batches: Any, device: torch.device) -> Iterator[Any]:
    """Move each ``(inputs, targets)`` batch to ``device`` (a model on GPU, data on CPU)."""
    for batch in batches:
        yield to_device(batch, device)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the block, then every submodule's own mode back (frozen parts stay frozen)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training
