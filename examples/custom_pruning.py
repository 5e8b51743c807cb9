"""A plug-in that adds one criterion and one granularity to autoprune.

Importing this module registers:

- the criterion ``grad_weighted``: ``|w| * mean |dL/dw|`` over the calibration batches
  (a weight matters when it is large AND the loss is sensitive to it);
- the granularity ``block``: zeroes whole 1x4 blocks of consecutive weights along the
  input dimension (the pattern some sparse kernels want), stored as packed sparse tensors.

Run one trial with them through the real CLI (``--plugin`` takes a file or a module name
and comes before the command)::

    autoprune --plugin examples/custom_pruning.py trial --task digits-mlp \\
        --set granularity=block criterion=grad_weighted sparsity=0.75 finetune_epochs=2

The same ``--plugin`` works for ``autoprune search`` (e.g. ``granularity: {choices:
[unstructured, block]}`` in the space); an installed package can declare the module as an
entry point in the group ``autoprune.plugins`` instead.

Check that both keep the contracts every built-in keeps (a test in your own suite)::

    from autoprune._plugins import load_plugin
    from autoprune.registry import CRITERIA, GRANULARITIES
    from autoprune.testing.pruning import check_criterion, check_granularity

    load_plugin("examples/custom_pruning.py")
    check_criterion(CRITERIA.get("grad_weighted"))
    check_granularity(GRANULARITIES.get("block"))
"""

from __future__ import annotations

import torch
from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning import (
    CRITERIA,
    GRANULARITIES,
    Criterion,
    Granularity,
    apply_mask,
    effective_weight,
    global_masks,
    held_scores,
    unstructured_mask,
)
from autoprune.tasks import to_device

BLOCK = 4  # weights per block, along the input dimension


@CRITERIA.register_instance("grad_weighted")
class GradWeighted(Criterion):
    """``|w| * mean |dL/dw|`` over ``recipe.calibration_batches`` training batches."""

    needs_data = True

    def weight_scores(self, layers, model, task=None, recipe=None):
        if task is None:
            raise ConfigError(f"criterion={self.name!r} needs calibration data, but got task=None.")
        n_batches = recipe.calibration_batches if recipe is not None else 4
        # while a mask is held the trainable tensor is weight_orig
        params = [m.weight_orig if hasattr(m, "weight_orig") else m.weight for _, m in layers]
        sums = [torch.zeros_like(p) for p in params]
        device = next(model.parameters()).device
        modes = [(m, m.training) for m in model.modules()]
        model.eval()  # batch-norm statistics stay as they are
        seen = 0
        try:
            with torch.enable_grad():
                for batch in task.calibration_batches(n_batches):
                    loss = task.training_step(model, to_device(batch, device))
                    # autograd.grad leaves no .grad behind on the model
                    for s, g in zip(sums, torch.autograd.grad(loss, params, allow_unused=True)):
                        if g is not None:
                            s.add_(g.abs())
                    seen += 1
        finally:
            for m, training in modes:
                m.training = training
        return {
            name: effective_weight(m).detach().abs() * (s / max(seen, 1))
            for (name, m), s in zip(layers, sums)
        }


def _blocks(scores: torch.Tensor) -> torch.Tensor:
    """``(out, n_blocks)`` block scores: the sum over each block (a short last block is padded)."""
    flat = scores.flatten(1)
    pad = (-flat.shape[1]) % BLOCK
    if pad:  # the padding never decides: it adds 0 to the block's sum
        flat = torch.nn.functional.pad(flat, (0, pad))
    return flat.view(flat.shape[0], -1, BLOCK).sum(-1)


def _expand(block_mask: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The weight-shaped mask of a block mask."""
    per_weight = block_mask.repeat_interleave(BLOCK, dim=1)[:, : weight[0].numel()]
    return per_weight.reshape(weight.shape)


@GRANULARITIES.register_instance("block")
class Block(Granularity):
    """Whole 1x4 blocks of consecutive input weights, the lowest-scoring blocks first.

    ``uniform`` gives each layer the target; ``global`` ranks the blocks of all layers
    together. There is no sensitivity scan, so ``sensitivity`` is refused when the recipe
    is built.
    """

    packed = True
    allocations = ("uniform", "global")

    def prune_step(self, pruner, model: nn.Module, layers, target: float) -> None:
        scores = held_scores(model, layers, pruner.task, pruner.recipe)  # removed blocks stay removed
        blocks = {name: _blocks(scores[name]) for name, _ in layers}
        if pruner.allocation.global_ranking:
            masks = global_masks(blocks, target)
        else:
            amounts = pruner.amounts([name for name, _ in layers], target)
            masks = {name: unstructured_mask(blocks[name], amounts[name]) for name, _ in layers}
        for name, module in layers:
            apply_mask(module, _expand(masks[name], effective_weight(module)))
