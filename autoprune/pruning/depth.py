"""Depth pruning: the ``layer`` granularity removes whole transformer layers and residual blocks.

Blocks that can go, found by structure:

- a transformer layer: an element of a ``ModuleList`` / ``Sequential`` holding one
  attention module (:func:`~autoprune.pruning._transformer.attention_modules`; BERT, ViT,
  ...). It is deleted from the list, the others renumbered, and ``config.num_hidden_layers``
  follows the list's length;
- a residual block whose output is ``x + f(x)`` with ``x``'s shape: a torchvision-style
  ``BasicBlock`` / ``Bottleneck`` (``conv1``, ``conv2``, ``downsample=None``, every conv of
  stride 1, channels in = out) or any module marked with :func:`mark_residual`. It becomes
  ``nn.Identity`` (its name stays, so the other blocks keep theirs). A BasicBlock ends
  with ``relu(x + f(x))``: the identity is exact because its input already comes out of
  a ReLU.

Which blocks go first is decided by the recipe's ``layer_criterion``, registered in
:data:`~autoprune.registry.LAYER_CRITERIA`: ``block_influence`` (1 - cosine similarity of a
block's input and output on the calibration batches, the angular-distance score of
Men et al. 2024 "ShortGPT" / Gromov et al. 2024; low: the block changes little) or
``drop_alone`` (the task's metric with the block removed alone; high: the block matters
little). The sparsity is the fraction of blocks removed, rounded: per list of blocks
(``uniform``) or over all of them (``global``). A recipe that would remove every block is
refused before the trial.
"""

from __future__ import annotations

import abc
import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import torch
from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning._layers import batches_on, eval_mode, model_device
from autoprune.pruning._transformer import attention_modules, layer_of
from autoprune.pruning.granularity import Granularity, Layers
from autoprune.recipe import Recipe
from autoprune.registry import ALLOCATIONS, GRANULARITIES, LAYER_CRITERIA
from autoprune.tasks import Task, call_model

if TYPE_CHECKING:
    from autoprune.pruning.pruner import Pruner

__all__ = ["Block", "LayerCriterion", "Depth", "LAYER_CRITERIA", "mark_residual", "removable_blocks",
           "remove_blocks", "restore_depth"]

RESIDUAL_MARK = "autoprune_residual"


def mark_residual(module: nn.Module) -> nn.Module:
    """Mark ``module`` as a residual block (output ``x + f(x)``, shaped like ``x``) that
    ``granularity=layer`` may replace by the identity; returns the module."""
    setattr(module, RESIDUAL_MARK, True)
    return module


@dataclass
class Block:
    """A removable block: ``container[index]``; ``layer`` True for a transformer layer."""

    container: str
    index: int
    module: nn.Module
    layer: bool

    @property
    def name(self) -> str:
        return f"{self.container}.{self.index}" if self.container else str(self.index)


def _convs(module: nn.Module) -> list[nn.modules.conv._ConvNd]:
    skip = module.downsample if isinstance(getattr(module, "downsample", None), nn.Module) else None
    inner = set(skip.modules()) if skip is not None else set()
    return [m for m in module.modules() if isinstance(m, nn.modules.conv._ConvNd) and m not in inner]


def _is_residual(module: nn.Module) -> bool:
    if getattr(module, RESIDUAL_MARK, False) is True:
        return True
    if not (hasattr(module, "downsample") and module.downsample is None):
        return False
    if not all(isinstance(getattr(module, c, None), nn.modules.conv._ConvNd) for c in ("conv1", "conv2")):
        return False
    convs = _convs(module)
    return all(all(s == 1 for s in c.stride) for c in convs) and convs[0].in_channels == convs[-1].out_channels


def _is_block(module: nn.Module) -> bool:
    return len(attention_modules(module)) == 1 or _is_residual(module)


def removable_blocks(model: nn.Module, recipe: Recipe | None = None) -> list[Block]:
    """The blocks ``granularity=layer`` may remove, in module order (``keep_layers`` left out)."""
    modules = dict(model.named_modules())
    layers = {}
    for name, _ in attention_modules(model):
        layer = layer_of(name, model)
        if layer is not None:
            layers[layer] = layers.get(layer, 0) + 1
    blocks = []
    for name, module in modules.items():
        if not name or (recipe is not None and any(name == k or name.startswith(k + ".") for k in recipe.keep_layers)):
            continue
        container, _, index = name.rpartition(".")
        if not index.isdigit() or not isinstance(modules.get(container), (nn.ModuleList, nn.Sequential)):
            continue
        if layers.get(name) == 1:
            blocks.append(Block(container, int(index), module, True))
        elif name not in layers and _is_residual(module):
            blocks.append(Block(container, int(index), module, False))
    return blocks


def _renumber(container: nn.Module) -> None:
    for i, layer in enumerate(container):
        for m in layer.modules():
            if isinstance(getattr(m, "layer_idx", None), int):
                m.layer_idx = i


def _sync_layer_count(model: nn.Module, containers: list[nn.Module]) -> None:
    config = getattr(model, "config", None)
    if config is not None and len(containers) == 1 and isinstance(getattr(config, "num_hidden_layers", None), int):
        config.num_hidden_layers = len(containers[0])


def remove_blocks(model: nn.Module, blocks: list[Block]) -> nn.Module:
    """Delete transformer layers from their lists, replace residual blocks by ``nn.Identity``."""
    modules = dict(model.named_modules())
    changed = []
    for block in sorted(blocks, key=lambda b: (b.container, -b.index)):
        container = modules[block.container] if block.container else model
        if block.layer:
            del container[block.index]
            if container not in changed:
                changed.append(container)
        else:
            container[block.index] = nn.Identity()
    for container in changed:
        _renumber(container)
    if changed:
        _sync_layer_count(model, changed)
    return model


def restore_depth(model: nn.Module, state_dict: Mapping[str, Any]) -> nn.Module:
    """Give ``model`` (built dense) the depth of a saved depth-pruned one, in place: layer
    lists truncated to the layers the state dict holds (saved layers are numbered from
    0), residual blocks whose tensors it lacks replaced by the identity."""
    keys = list(state_dict)
    layer_lists: dict[str, int] = {}
    residual = []
    for block in removable_blocks(model):
        prefix = block.name + "."
        present = any(k.startswith(prefix) for k in keys)
        has_tensors = any(True for _ in block.module.state_dict())
        if block.layer:
            layer_lists.setdefault(block.container, 0)
            if present:
                layer_lists[block.container] = max(layer_lists[block.container], block.index + 1)
        elif has_tensors and not present:
            residual.append(block)
    modules = dict(model.named_modules())
    changed = []
    for container_name, count in layer_lists.items():
        container = modules[container_name]
        if count < len(container):
            for i in range(len(container) - 1, count - 1, -1):
                del container[i]
            changed.append(container)
    for container in changed:
        _renumber(container)
    if changed:
        _sync_layer_count(model, changed)
    return remove_blocks(model, residual)


# -- which blocks go first ---------------------------------------------------------------


class LayerCriterion(abc.ABC):
    """How important each removable block is (higher: kept longer); registered in
    :data:`~autoprune.registry.LAYER_CRITERIA`, named by the recipe's ``layer_criterion``."""

    name: str = ""

    @abc.abstractmethod
    def scores(self, model: nn.Module, blocks: list[Block], task: Task, recipe: Recipe) -> list[float]:
        """One finite score per block, ``model`` left as it was."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    return getattr(value, "last_hidden_state", None)


@LAYER_CRITERIA.register_instance("block_influence")
class BlockInfluence(LayerCriterion):
    """``1 - cos(input, output)`` of the block, per token (transformers) or per example
    (CNNs), averaged over the calibration batches: how much the block changes its input."""

    def scores(self, model: nn.Module, blocks: list[Block], task: Task, recipe: Recipe) -> list[float]:
        sums = [0.0] * len(blocks)
        counts = [0] * len(blocks)

        def hook(i: int) -> Any:
            def fn(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
                x = args[0] if args else next(iter(kwargs.values()), None)
                y = _first_tensor(output)
                if not isinstance(x, torch.Tensor) or y is None or x.shape != y.shape:
                    return
                flat = (lambda t: t.reshape(-1, t.shape[-1])) if blocks[i].layer else (lambda t: t.flatten(1))
                cos = nn.functional.cosine_similarity(flat(x).float(), flat(y).float(), dim=-1)
                sums[i] += float((1.0 - cos).sum())
                counts[i] += cos.numel()
            return fn

        handles = [b.module.register_forward_hook(hook(i), with_kwargs=True) for i, b in enumerate(blocks)]
        try:
            with eval_mode(model), torch.no_grad():
                for inputs, _ in batches_on(task.calibration_batches(recipe.calibration_batches), model_device(model)):
                    call_model(model, inputs)
        finally:
            for h in handles:
                h.remove()
        return [s / c if c else 0.0 for s, c in zip(sums, counts)]


@LAYER_CRITERIA.register_instance("drop_alone")
class DropAlone(LayerCriterion):
    """The drop of the task's metric when the block alone is removed (from a copy): the
    block whose removal costs least goes first."""

    def scores(self, model: nn.Module, blocks: list[Block], task: Task, recipe: Recipe) -> list[float]:
        out = []
        for block in blocks:
            trial = copy.deepcopy(model)
            twin = next(b for b in removable_blocks(trial) if b.name == block.name)
            out.append(-float(task.evaluate(remove_blocks(trial, [twin]))))  # the baseline is the same for all
        return out


# -- the granularity ---------------------------------------------------------------------


@GRANULARITIES.register_instance("layer")
class Depth(Granularity):
    """Whole transformer layers and residual blocks (see the module docstring).

    Units are counted per list of blocks (:meth:`layers` gives ``(list name, list)``);
    ``uniform`` removes the fraction from each list, ``global`` the lowest-scoring blocks
    over all of them. The criterion is the recipe's ``layer_criterion``.
    """

    packed = False
    # global first: what a search's other allocations (sensitivity) stand for; on a
    # transformer (one list of layers) both are the same
    allocations = ("global", "uniform")
    allocation_note = "blocks are ranked over all lists (global) or per list of blocks (uniform)"

    def describe(self, recipe: Recipe) -> str:
        return f"layer {recipe.sparsity:.2f} {recipe.layer_criterion}"

    def layers(self, model: nn.Module, recipe: Recipe) -> Layers:
        blocks = removable_blocks(model, recipe)
        if not blocks:
            raise ConfigError(
                f"granularity=layer needs transformer layers or residual blocks (output x + f(x)), but model "
                f"{type(model).__name__} has none outside keep_layers; allowed: a transformer, a ResNet-style "
                f"network, or blocks marked with autoprune.pruning.mark_residual.")
        modules = dict(model.named_modules())
        names = list(dict.fromkeys(b.container for b in blocks))
        return [(n, modules[n] if n else model) for n in names]

    def layer_sizes(self, layers: Layers) -> dict[str, int]:
        """Per list, the blocks in it that can still be removed."""
        return {n: sum(1 for child in container if _is_block(child)) for n, container in layers}

    def check_model(self, model: nn.Module, task: Task, recipe: Recipe) -> None:
        blocks = removable_blocks(model, recipe)
        self.layers(model, recipe)
        keep = self._keep(blocks, recipe.effective_sparsity, recipe, None)
        if sum(keep.values()) == 0:
            raise ConfigError(
                f"granularity=layer with sparsity={recipe.sparsity} would remove every one of the "
                f"{len(blocks)} layers / blocks; allowed: a sparsity that keeps at least one "
                f"(below {1 - 0.5 / len(blocks):.3f}).")

    def _keep(self, blocks: list[Block], target: float, recipe: Recipe, original: Mapping[str, int] | None) -> dict:
        counts: dict[str, int] = {}
        for b in blocks:
            counts[b.container] = counts.get(b.container, 0) + 1
        original = original or counts
        if ALLOCATIONS.get(recipe.allocation).global_ranking:
            return {"": round(sum(original.values()) * (1.0 - target))}
        return {c: round(original.get(c, n) * (1.0 - target)) for c, n in counts.items()}

    def prune_step(self, pruner: Pruner, model: nn.Module, layers: Layers, target: float) -> None:
        recipe = pruner.recipe
        blocks = removable_blocks(model, recipe)
        scores = LAYER_CRITERIA.get(recipe.layer_criterion).scores(model, blocks, pruner.task, recipe)
        keep = self._keep(blocks, target, recipe, pruner.sizes)
        if sum(keep.values()) == 0:
            raise ConfigError(f"granularity=layer at {target:.2f} would remove every layer / block; "
                              f"allowed: a sparsity that keeps at least one.")
        chosen = []
        for container, n_keep in keep.items():
            members = [i for i, b in enumerate(blocks) if not container or b.container == container]
            order = sorted(members, key=lambda i: (scores[i], i))
            chosen += order[: max(0, len(members) - n_keep)]
        remove_blocks(model, [blocks[i] for i in chosen])
