"""The pruning layer: turns a :class:`~autoprune.recipe.Recipe` into operations on torch modules.

- :mod:`~autoprune.pruning.criteria`: weight and channel importance scores
- :mod:`~autoprune.pruning.masks`: unstructured and N:M masks (``torch.nn.utils.prune``)
- :mod:`~autoprune.pruning.structured`: channel removal (Torch-Pruning dependency graph)
- :mod:`~autoprune.pruning.allocation`: per-layer amounts (uniform, global, sensitivity)
- :mod:`~autoprune.pruning.schedules`: cumulative targets per step, fine-tune epochs per step
- :class:`Pruner`: all of the above for one recipe
"""

from autoprune.pruning._layers import effective_weight, prunable_layers
from autoprune.pruning.allocation import (
    DEFAULT_LEVELS,
    allocate_by_sensitivity,
    sensitivity_scan,
    uniform_allocation,
)
from autoprune.pruning.criteria import (
    WEIGHT_CRITERIA,
    WandaChannelImportance,
    channel_importance,
    channel_scoring,
    weight_scores,
)
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

__all__ = [
    "Pruner",
    "prunable_layers",
    "effective_weight",
    "Schedule",
    "SCHEDULES",
    "get_schedule",
    "schedule_targets",
    "split_epochs",
    "WEIGHT_CRITERIA",
    "weight_scores",
    "channel_importance",
    "channel_scoring",
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
    "DEFAULT_LEVELS",
    "uniform_allocation",
    "sensitivity_scan",
    "allocate_by_sensitivity",
]
