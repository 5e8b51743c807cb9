"""What one trial returns: its measures, the recipe, the curve and the pruned model."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from autoprune.recipe import Recipe

__all__ = ["TrialStatus", "TrialResult", "MEASURES", "OBJECTIVE_MEASURES"]


class TrialStatus(str, enum.Enum):
    """The one vocabulary of trial states: what a trial returns and what the study stores."""

    COMPLETE = "complete"
    PRUNED = "pruned"  # stopped early by the trial pruner
    FAILED = "failed"
    RUNNING = "running"
    WAITING = "waiting"


# Measures a search may use as objectives or in constraints. ``accuracy_drop`` is
# ``baseline_accuracy - accuracy`` (a fraction: 0.01 is one point); the ``*_ratio``
# measures are the pruned value over the dense baseline's.
OBJECTIVE_MEASURES = (
    "accuracy",
    "accuracy_drop",
    "params_total",
    "params_nonzero",
    "size_bytes",
    "flops",
    "latency_ms",
    "sparsity_achieved",
    "params_ratio",
    "size_ratio",
    "flops_ratio",
    "latency_ratio",
)

MEASURES = (
    "accuracy",
    "baseline_accuracy",
    "params_total",
    "baseline_params_total",
    "params_nonzero",
    "size_bytes",
    "baseline_size_bytes",
    "flops",
    "baseline_flops",
    "latency_ms",
    "baseline_latency_ms",
    "sparsity_achieved",
    "finetune_epochs_run",
    "status",
    "seconds",
)


@dataclass
class TrialResult:
    """The measures of one pruned model beside its dense baseline.

    ``curve`` holds ``(step, accuracy)`` after each fine-tune epoch (step ``k`` after ``k``
    epochs), led by step 0 (the pruned model before fine-tuning) when pruning after training.
    ``model`` is the pruned model (masks made permanent); it is not part of :meth:`to_dict`.
    """

    recipe: Recipe
    accuracy: float
    baseline_accuracy: float
    params_total: int
    baseline_params_total: int
    params_nonzero: int
    size_bytes: int
    baseline_size_bytes: int
    flops: int
    baseline_flops: int
    latency_ms: float
    baseline_latency_ms: float
    sparsity_achieved: float
    finetune_epochs_run: int
    status: TrialStatus = TrialStatus.COMPLETE
    seconds: float = 0.0
    curve: list[tuple[int, float]] = field(default_factory=list)
    model: nn.Module | None = field(default=None, repr=False, compare=False)

    @property
    def accuracy_drop(self) -> float:
        return self.baseline_accuracy - self.accuracy

    def measure(self, name: str) -> float:
        """Value of a measure by name, derived ones (``accuracy_drop``, ``*_ratio``) included."""
        if name == "accuracy_drop":
            return self.accuracy_drop
        if name.endswith("_ratio"):
            base = {"params": "params_total", "size": "size_bytes", "flops": "flops", "latency": "latency_ms"}[
                name[: -len("_ratio")]
            ]
            return getattr(self, base) / max(getattr(self, "baseline_" + base), 1e-12)
        return float(getattr(self, name))

    def measures(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in MEASURES}
        out["status"] = self.status.value
        out["accuracy_drop"] = self.accuracy_drop
        for ratio in ("params_ratio", "size_ratio", "flops_ratio", "latency_ratio"):
            out[ratio] = self.measure(ratio)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**self.measures(), "curve": [list(p) for p in self.curve], "recipe": self.recipe.to_dict()}
