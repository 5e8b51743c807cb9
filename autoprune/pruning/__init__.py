"""The pruning layer: turns a :class:`~autoprune.recipe.Recipe` into operations on torch modules.

One small base class and one registry per extension point (the registries are declared
in :mod:`autoprune.registry` and re-exported here):

- :class:`Criterion` (:data:`CRITERIA`, :mod:`~autoprune.pruning.criteria`): weight scores
  and the channel importance (Torch-Pruning)
- :class:`Granularity` (:data:`GRANULARITIES`): what a step removes and how it is stored:
  :mod:`~autoprune.pruning.unstructured` (``unstructured``, ``nm``: masks,
  ``torch.nn.utils.prune``), :mod:`~autoprune.pruning.structured` (``channel``:
  Torch-Pruning dependency graph), :mod:`~autoprune.pruning.transformer` (``head``,
  ``ffn``, ``head+ffn``: attention heads and feed-forward neurons of transformers),
  :mod:`~autoprune.pruning.depth` (``layer``: whole transformer layers and residual
  blocks, ordered by a :class:`LayerCriterion` of :data:`LAYER_CRITERIA`)
- :class:`Allocation` (:data:`ALLOCATIONS`, :mod:`~autoprune.pruning.allocation`): per-layer
  amounts (uniform, global, sensitivity)
- :class:`Schedule` (:data:`SCHEDULES`, :mod:`~autoprune.pruning.schedules`): cumulative
  targets per step, fine-tune epochs per step
- :class:`Timing` (:data:`TIMINGS`, :mod:`~autoprune.pruning.timing`): when the steps
  happen relative to training
- :class:`Pruner`: all of the above for one recipe

A third-party implementation registers itself the same way, e.g.
``@GRANULARITIES.register_instance("block")`` on a :class:`Granularity` subclass; the
contract checks in :mod:`autoprune.testing.pruning` apply to it.
"""

from autoprune.pruning._layers import effective_weight, prunable_layers

# first, so the registry lists the granularities in their documented order (unstructured,
# nm, channel): error messages and the CLI's choices read it
from autoprune.pruning.unstructured import NM, Unstructured  # isort: skip
from autoprune.pruning.allocation import (
    ALLOCATIONS,
    DEFAULT_LEVELS,
    Allocation,
    allocate_by_sensitivity,
    allocation_of,
    sensitivity_scan,
    uniform_allocation,
)
from autoprune.pruning.criteria import (
    CRITERIA,
    WEIGHT_CRITERIA,
    Criterion,
    WandaChannelImportance,
    WeightScoreChannelImportance,
    channel_importance,
    channel_scoring,
    criterion_of,
    weight_scores,
)
from autoprune.pruning.granularity import GRANULARITIES, Granularity, granularity_of, held_scores
from autoprune.pruning.masks import (
    apply_mask,
    global_masks,
    make_permanent,
    nm_mask,
    unstructured_mask,
)
from autoprune.pruning.pruner import Pruner
from autoprune.pruning.schedules import (
    SCHEDULES,
    Schedule,
    get_schedule,
    schedule_targets,
    split_epochs,
)
from autoprune.pruning.structured import (
    build_graph,
    channel_scores,
    out_channels,
    prune_channels,
)
from autoprune.pruning.timing import TIMINGS, FineTune, Timing, prune_epochs, timing_of
from autoprune.pruning.transformer import FFN, Head, HeadFFN, prune_ffn, prune_heads  # isort: skip
from autoprune.pruning.depth import (  # isort: skip
    LAYER_CRITERIA,
    Depth,
    LayerCriterion,
    mark_residual,
    removable_blocks,
    remove_blocks,
    restore_depth,
)

__all__ = [
    "Pruner",
    "Unstructured",
    "NM",
    "Criterion",
    "Granularity",
    "Allocation",
    "Schedule",
    "Timing",
    "FineTune",
    "CRITERIA",
    "GRANULARITIES",
    "ALLOCATIONS",
    "SCHEDULES",
    "TIMINGS",
    "criterion_of",
    "granularity_of",
    "allocation_of",
    "timing_of",
    "held_scores",
    "prunable_layers",
    "effective_weight",
    "get_schedule",
    "schedule_targets",
    "split_epochs",
    "prune_epochs",
    "WEIGHT_CRITERIA",
    "weight_scores",
    "channel_importance",
    "channel_scoring",
    "WeightScoreChannelImportance",
    "WandaChannelImportance",
    "unstructured_mask",
    "global_masks",
    "nm_mask",
    "apply_mask",
    "make_permanent",
    "build_graph",
    "out_channels",
    "channel_scores",
    "prune_channels",
    "Head",
    "FFN",
    "HeadFFN",
    "prune_heads",
    "prune_ffn",
    "Depth",
    "LayerCriterion",
    "LAYER_CRITERIA",
    "mark_residual",
    "removable_blocks",
    "remove_blocks",
    "restore_depth",
    "DEFAULT_LEVELS",
    "uniform_allocation",
    "sensitivity_scan",
    "allocate_by_sensitivity",
]
