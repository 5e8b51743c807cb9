"""The pruning recipe: every dimension a trial applies, as one typed, validated value.

The search layer only ever sees a :class:`Recipe`; the pruning layer turns it into
operations on torch modules. Names (criterion, granularity, allocation, schedule, timing)
are checked against the registries of :mod:`autoprune.registry`, which the pruning layer
fills, so a registered plug-in is a valid name here; what a granularity implies for the
recipe (N:M's own sparsity, the allocations it supports, its summary) is asked of the
registered granularity object.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import autoprune.registry as registry
from autoprune.errors import ConfigError

__all__ = [
    "Recipe",
    "CRITERIA",  # the registered names, read from autoprune.registry when asked
    "GRANULARITIES",
    "ALLOCATIONS",
    "SCHEDULES",
    "TIMINGS",
    "LAYER_CRITERIA",
    "LR_SCHEDULES",
    "BOUNDS",
]

LR_SCHEDULES = ("constant", "cosine")

# Inclusive bounds of the numeric recipe fields, declared once: a value outside them is
# refused before anything runs (``finetune_epochs=1e9`` would otherwise train until killed).
BOUNDS: dict[str, tuple[float, float]] = {
    "nm_n": (1, 1024),
    "nm_m": (2, 1024),
    "steps": (1, 1000),
    "finetune_epochs": (0, 10_000),
    "finetune_lr": (0.0, 100.0),
    "calibration_batches": (1, 100_000),
    "head_sparsity": (0.0, 0.99),
    "ffn_sparsity": (0.0, 0.99),
}

# the recipe field -> the registry its names come from
_REGISTRIES: dict[str, registry.Registry] = {
    "criterion": registry.CRITERIA,
    "granularity": registry.GRANULARITIES,
    "allocation": registry.ALLOCATIONS,
    "schedule": registry.SCHEDULES,
    "timing": registry.TIMINGS,
    "layer_criterion": registry.LAYER_CRITERIA,
}
_NAME_TUPLES = {
    "CRITERIA": "criterion",
    "GRANULARITIES": "granularity",
    "ALLOCATIONS": "allocation",
    "SCHEDULES": "schedule",
    "TIMINGS": "timing",
    "LAYER_CRITERIA": "layer_criterion",
}


def __getattr__(name: str) -> tuple[str, ...]:
    # CRITERIA, GRANULARITIES, ...: the names registered now (built-ins and plug-ins)
    if name in _NAME_TUPLES:
        return _REGISTRIES[_NAME_TUPLES[name]].names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_registered(name: str, value: Any) -> None:
    _REGISTRIES[name].get(value)  # raises for an unknown name, listing the valid ones


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, but got {name}={value!r}.")


def _check_bounded(name: str, value: Any, low: float, high: float, *, integer: bool) -> None:
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{name} must be {kind} in [{low:g}, {high:g}], but got {name}={value!r}.")


@dataclass(frozen=True)
class Recipe:
    """One pruning recipe.

    Args:
        criterion: how weights or channels are scored (``magnitude_l1``, ``magnitude_l2``,
            ``random``, ``taylor`` = |w * grad|, ``wanda`` = |w| * input activation norm).
        granularity: ``unstructured`` single weights, ``nm`` N:M groups along the input
            dimension, ``channel`` output channels / neurons removed physically; for
            transformers ``head`` (attention heads), ``ffn`` (feed-forward neurons),
            ``head+ffn`` (both, fractions ``head_sparsity`` / ``ffn_sparsity``) and
            ``layer`` (whole layers / residual blocks).
        sparsity: fraction removed, in [0, 1): of prunable weights (unstructured), of
            channels (channel), of heads, neurons or layers. Ignored for ``nm``, where it
            is ``1 - nm_n / nm_m``, and for ``head+ffn``.
        nm_n: weights kept in each group of ``nm_m`` (2:4 keeps 2 of every 4).
        nm_m: group size along the input dimension.
        allocation: per-layer amounts: ``uniform``, ``global`` (one threshold), or
            ``sensitivity`` (from a per-layer sensitivity scan).
        schedule: ``one_shot``, ``iterative`` (equal steps) or ``gradual`` (cubic ramp).
        steps: number of pruning steps for iterative / gradual schedules.
        timing: ``after_training`` (from the trained baseline), ``during_training``
            (gradual pruning while training from scratch), ``before_training``.
        finetune_epochs: epochs of fine-tuning spread over the steps (``after_training``).
        finetune_lr: learning rate of fine-tuning.
        finetune_schedule: learning rate over each fine-tune segment (``after_training``):
            ``constant``, or ``cosine``, annealed towards 0 by the segment's last epoch so
            the final model is not one noisy step of a high learning rate.
        keep_layers: names of modules never pruned, in addition to the classifier.
        prune_classifier: also prune the last prunable layer (off by default).
        calibration_batches: batches used by ``taylor`` and ``wanda`` scores.
        head_sparsity: fraction of the attention heads removed by ``granularity=head+ffn``.
        ffn_sparsity: fraction of the feed-forward neurons removed by ``granularity=head+ffn``.
        layer_criterion: which layers ``granularity=layer`` removes first:
            ``block_influence`` (least change between a layer's input and output on the
            calibration batches) or ``drop_alone`` (least metric drop when removed alone).

    Example:
        >>> Recipe(granularity="nm").effective_sparsity
        0.5
    """

    criterion: str = "magnitude_l1"
    granularity: str = "unstructured"
    sparsity: float = 0.5
    nm_n: int = 2
    nm_m: int = 4
    allocation: str = "uniform"
    schedule: str = "one_shot"
    steps: int = 1
    timing: str = "after_training"
    finetune_epochs: int = 2
    finetune_lr: float = 1e-3
    finetune_schedule: str = "constant"
    keep_layers: tuple[str, ...] = field(default_factory=tuple)
    prune_classifier: bool = False
    calibration_batches: int = 4
    head_sparsity: float = 0.25
    ffn_sparsity: float = 0.5
    layer_criterion: str = "block_influence"

    def __post_init__(self) -> None:
        for name in _REGISTRIES:
            _check_registered(name, getattr(self, name))
        _check_choice("finetune_schedule", self.finetune_schedule, LR_SCHEDULES)
        if not (isinstance(self.sparsity, (int, float)) and 0.0 <= self.sparsity < 1.0):
            raise ConfigError(f"sparsity must be in [0, 1), but got sparsity={self.sparsity!r}.")
        if not (isinstance(self.finetune_lr, (int, float)) and math.isfinite(self.finetune_lr) and self.finetune_lr > 0):
            raise ConfigError(f"finetune_lr must be > 0, but got finetune_lr={self.finetune_lr!r}.")
        for name, (low, high) in BOUNDS.items():
            _check_bounded(name, getattr(self, name), low, high, integer=self.__dataclass_fields__[name].type == "int")
        if not self.nm_n < self.nm_m:
            raise ConfigError(
                f"nm_n must satisfy 1 <= nm_n < nm_m, but got nm_n={self.nm_n}, nm_m={self.nm_m}."
            )
        if not isinstance(self.prune_classifier, bool):
            raise ConfigError(f"prune_classifier must be true or false, but got prune_classifier={self.prune_classifier!r}.")
        registry.GRANULARITIES.get(self.granularity).check(self)  # e.g. nm: allocation must be uniform
        # normalise so equal recipes compare and hash equal
        object.__setattr__(self, "keep_layers", tuple(self.keep_layers))
        object.__setattr__(self, "sparsity", float(self.sparsity))

    @property
    def effective_sparsity(self) -> float:
        """Fraction removed that the recipe targets (N:M implies its own)."""
        return registry.GRANULARITIES.get(self.granularity).effective_sparsity(self)

    @property
    def pruning_steps(self) -> int:
        """Number of pruning steps actually taken (one for ``one_shot``)."""
        return registry.SCHEDULES.get(self.schedule).pruning_steps(self.steps)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["keep_layers"] = list(self.keep_layers)
        return d

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Recipe":
        """Build a recipe from a mapping, rejecting keys that are not recipe fields."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(
                f"{unknown[0]!r} is not a recipe field; allowed: {', '.join(sorted(names))}."
            )
        return cls(**dict(values))

    @classmethod
    def from_strings(cls, assignments: list[str], base: "Recipe | None" = None) -> "Recipe":
        """Parse CLI ``key=value`` assignments on top of ``base`` (default recipe).

        >>> Recipe.from_strings(["sparsity=0.9", "steps=3"]).sparsity
        0.9
        """
        types = {f.name: f.type for f in fields(cls)}
        values = (base or cls()).to_dict()
        for item in assignments:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep:
                raise ConfigError(f"--set expects key=value, but got {item!r}.")
            if key not in types:
                raise ConfigError(
                    f"{key!r} is not a recipe field; allowed: {', '.join(sorted(types))}."
                )
            values[key] = _parse_value(key, raw.strip(), types[key])
        return cls.from_dict(values)

    def summary(self) -> str:
        """A short human-readable description, e.g. for tables."""
        what = registry.GRANULARITIES.get(self.granularity).describe(self)
        sched = self.schedule if self.schedule == "one_shot" else f"{self.schedule}x{self.steps}"
        parts = [what, self.criterion, self.allocation, sched]
        if registry.TIMINGS.get(self.timing).in_summary:
            parts.append(self.timing)
        lr_schedule = "" if self.finetune_schedule == "constant" else f" {self.finetune_schedule}"
        parts.append(f"ft{self.finetune_epochs}@{self.finetune_lr:.0e}{lr_schedule}")
        return " ".join(parts)


def _parse_value(key: str, raw: str, type_name: Any) -> Any:
    type_name = str(type_name)
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name == "bool":
            low = raw.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if type_name.startswith("tuple"):
            return tuple(p for p in (s.strip() for s in raw.split(",")) if p)
    except ValueError:
        raise ConfigError(
            f"{key} expects a value of type {type_name}, but got {key}={raw!r}."
        ) from None
    return raw
