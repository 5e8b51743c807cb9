"""What one trial returns: its measures, the recipe, the curve and the pruned model."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any

from torch import nn

from autoprune.measures import MEASURES as _MEASURE_TABLE
from autoprune.measures import OBJECTIVE_MEASURES
from autoprune.recipe import Recipe

__all__ = ["TrialStatus", "TrialResult", "MEASURES", "OBJECTIVE_MEASURES"]


class TrialStatus(str, enum.Enum):
    """The one vocabulary of trial states: what a trial returns and what the study stores."""

    COMPLETE = "complete"
    PRUNED = "pruned"  # stopped early by the trial pruner
    FAILED = "failed"
    RUNNING = "running"
    WAITING = "waiting"

    @classmethod
    def of_optuna(cls, state: Any) -> "TrialStatus":
        """The status of an ``optuna.trial.TrialState`` (the one place the two meet)."""
        return cls(_OPTUNA_STATES.get(state.name, state.name.lower()))


_OPTUNA_STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
                  "WAITING": "waiting"}


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
        of = _MEASURE_TABLE[name].ratio_of if name in _MEASURE_TABLE else None
        if of is not None:
            return getattr(self, of) / max(getattr(self, "baseline_" + of), 1e-12)
        return float(getattr(self, name))

    def measures(self) -> dict[str, Any]:
        """Every value of :data:`MEASURES` plus ``accuracy_drop`` and the ratios (the
        measure table's derived measures), as stored with the trial."""
        out: dict[str, Any] = {name: getattr(self, name) for name in MEASURES}
        out["status"] = self.status.value
        out["accuracy_drop"] = self.accuracy_drop
        for ratio in _RATIOS:
            out[ratio] = self.measure(ratio)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**self.measures(), "curve": [list(p) for p in self.curve], "recipe": self.recipe.to_dict()}


#: the values a trial result holds (its fields besides recipe, curve and model), in order
MEASURES = tuple(f.name for f in fields(TrialResult) if f.name not in ("recipe", "curve", "model"))
_RATIOS = tuple(name for name, m in _MEASURE_TABLE.items() if m.ratio_of)
