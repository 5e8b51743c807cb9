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
    "DEFAULT_FINETUNE_EPOCHS",
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
    "finetune_steps": (1, 10_000_000),
    "report_every": (1, 10_000_000),
    "report_batches": (1, 100_000),
    "finetune_lr_scale": (0.0, 1000.0),
    "bn_recalibration_batches": (1, 100_000),
    "distill_weight": (0.0, 1.0),
    "distill_temperature": (0.0, 100.0),
    "max_layer_sparsity": (0.05, 1.0),
    "head_sparsity": (0.0, 0.99),
    "ffn_sparsity": (0.0, 0.99),
}
# float fields among BOUNDS (the rest are integers); optional ones may be None (derived)
_OPTIONAL = ("finetune_lr", "finetune_steps", "report_every", "report_batches")
_FLOATS = ("finetune_lr", "finetune_lr_scale", "distill_weight", "distill_temperature", "max_layer_sparsity",
           "head_sparsity", "ffn_sparsity")
_POSITIVE = ("finetune_lr", "finetune_lr_scale", "distill_temperature")  # 0 would mean nothing happens

#: fine-tune epochs of a recipe that sets neither ``finetune_epochs`` nor ``finetune_steps``
DEFAULT_FINETUNE_EPOCHS = 2

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
        finetune_epochs: epochs of fine-tuning spread over the steps (``after_training``);
            added to the task's ``baseline_epochs`` by the other timings. Default: 2, or 0
            when ``finetune_steps`` is set (setting both is refused).
        finetune_lr: learning rate of fine-tuning; None (the default) means
            ``finetune_lr_scale * task.baseline_lr``, so a model is fine-tuned at a rate
            that fits it (a pretrained model whose task says ``baseline_lr = 2e-5`` is not
            wrecked by 1e-3). A number is used as it is.
        finetune_schedule: learning rate over each fine-tune segment (``after_training``):
            ``constant``, or ``cosine``, annealed towards 0 by the segment's last epoch so
            the final model is not one noisy step of a high learning rate.
        keep_layers: names of modules never pruned, in addition to the classifier.
        prune_classifier: also prune the last prunable layer (off by default).
        calibration_batches: batches used by ``taylor`` and ``wanda`` scores.
        finetune_steps: the fine-tune budget in optimizer steps instead of epochs (None:
            epochs). Spread over the pruning steps like epochs; the curve and the trial
            pruners then count optimizer steps.
        report_every: with ``finetune_steps``, report to the trial pruner every this many
            optimizer steps (None: once at the end of each fine-tune segment). Epoch
            budgets report after every epoch.
        report_batches: intermediate reports are evaluated on the first this many
            validation batches, a fixed subset (None: all of them); the final score always
            uses the whole validation data.
        finetune_lr_scale: the fine-tune learning rate relative to the task's
            ``baseline_lr`` when ``finetune_lr`` is None (the search explores this one).
        bn_recalibration: recompute BatchNorm running statistics after every pruning step,
            before fine-tuning, on ``bn_recalibration_batches`` training batches (None: on
            when the model has BatchNorm).
        bn_recalibration_batches: training batches BN recalibration averages over.
        distill_weight: weight ``w`` of knowledge distillation from the dense model while
            fine-tuning, in [0, 1]: loss = (1 - w) * task loss + w * the task's
            ``distillation_loss`` (T^2 * KL of the softened logits). 0 turns it off.
        distill_temperature: temperature ``T`` softening both models' logits (> 0).
        max_layer_sparsity: the largest fraction any one layer loses under the ``global``
            and ``sensitivity`` allocations, in [0.05, 1] (``uniform`` gives every layer
            the target anyway). A cap below the recipe's ``sparsity`` is raised to it, so
            the target stays reachable. Default 0.95: one ranking across layers no
            longer empties a layer whose scores happen to be small.
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
    finetune_epochs: int | None = None
    finetune_lr: float | None = None
    finetune_schedule: str = "constant"
    keep_layers: tuple[str, ...] = field(default_factory=tuple)
    prune_classifier: bool = False
    calibration_batches: int = 4
    finetune_steps: int | None = None
    report_every: int | None = None
    report_batches: int | None = None
    finetune_lr_scale: float = 1.0
    bn_recalibration: bool | None = None
    bn_recalibration_batches: int = 10
    distill_weight: float = 0.0
    distill_temperature: float = 2.0
    max_layer_sparsity: float = 0.95
    head_sparsity: float = 0.25
    ffn_sparsity: float = 0.5
    layer_criterion: str = "block_influence"

    def __post_init__(self) -> None:
        for name in _REGISTRIES:
            _check_registered(name, getattr(self, name))
        _check_choice("finetune_schedule", self.finetune_schedule, LR_SCHEDULES)
        if not (isinstance(self.sparsity, (int, float)) and 0.0 <= self.sparsity < 1.0):
            raise ConfigError(f"sparsity must be in [0, 1), but got sparsity={self.sparsity!r}.")
        for name in _POSITIVE:
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be > 0, but got {name}={value!r}.")
        self._check_budget()  # first: it fills in finetune_epochs
        for name, (low, high) in BOUNDS.items():
            if getattr(self, name) is not None or name not in _OPTIONAL:
                _check_bounded(name, getattr(self, name), low, high, integer=name not in _FLOATS)
        self._check_pairs()
        if self.bn_recalibration is not None and not isinstance(self.bn_recalibration, bool):
            raise ConfigError(f"bn_recalibration must be true, false or null (on with BatchNorm), "
                              f"but got bn_recalibration={self.bn_recalibration!r}.")
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
        for name in _FLOATS:
            if getattr(self, name) is not None:
                object.__setattr__(self, name, float(getattr(self, name)))

    def _check_budget(self) -> None:
        """One budget unit, epochs or optimizer steps: an unset ``finetune_epochs``
        becomes 0 beside ``finetune_steps``, else :data:`DEFAULT_FINETUNE_EPOCHS`."""
        if self.finetune_steps is not None:
            if self.finetune_epochs:  # 0 epochs beside a step budget is what to_dict() writes
                raise ConfigError(
                    f"finetune_steps and finetune_epochs are both set (finetune_steps={self.finetune_steps}, "
                    f"finetune_epochs={self.finetune_epochs}); allowed: one of them."
                )
            object.__setattr__(self, "finetune_epochs", 0)
        elif self.finetune_epochs is None:
            object.__setattr__(self, "finetune_epochs", DEFAULT_FINETUNE_EPOCHS)

    def _check_pairs(self) -> None:
        """Fields that only mean something beside another one, or instead of it."""
        if self.finetune_steps is None and self.report_every is not None:
            raise ConfigError(
                f"report_every counts optimizer steps and needs finetune_steps, but got "
                f"report_every={self.report_every} with finetune_steps=None; allowed: report_every=None "
                f"(a report after every epoch) or a finetune_steps budget."
            )
        if self.finetune_lr is not None and self.finetune_lr_scale != 1.0:
            raise ConfigError(
                f"finetune_lr and finetune_lr_scale are both set (finetune_lr={self.finetune_lr!r}, "
                f"finetune_lr_scale={self.finetune_lr_scale!r}); allowed: one of them."
            )

    @property
    def budget_unit(self) -> str:
        """``steps`` when the fine-tune budget is ``finetune_steps``, else ``epochs``."""
        return "epochs" if self.finetune_steps is None else "steps"

    @property
    def finetune_budget(self) -> int:
        """The fine-tune budget in :attr:`budget_unit`."""
        return self.finetune_epochs if self.finetune_steps is None else self.finetune_steps

    def learning_rate(self, baseline_lr: float) -> float:
        """The fine-tune learning rate for a task whose ``baseline_lr`` is given.

        >>> Recipe(finetune_lr_scale=0.1).learning_rate(2e-5)
        2e-06
        >>> Recipe(finetune_lr=1e-3).learning_rate(2e-5)
        0.001
        """
        return self.finetune_lr if self.finetune_lr is not None else self.finetune_lr_scale * baseline_lr

    @property
    def effective_sparsity(self) -> float:
        """Fraction removed that the recipe targets (N:M implies its own)."""
        return registry.GRANULARITIES.get(self.granularity).effective_sparsity(self)

    @property
    def layer_cap(self) -> float:
        """The cap in effect: ``max_layer_sparsity``, raised to ``sparsity`` if below it."""
        return max(self.max_layer_sparsity, self.sparsity)

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
        assigned = {item.partition("=")[0].strip() for item in assignments}
        # a field given here replaces the base's alternative to it (a step budget, an explicit lr)
        for given, replaced in _ALTERNATIVES.items():
            if given in assigned:
                for name in replaced:
                    if name not in assigned:
                        values[name] = _DEFAULTS[name]
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
        allocation = self.allocation
        if allocation in ("global", "sensitivity") and self.max_layer_sparsity != 0.95:
            allocation += f"<={self.layer_cap:.2f}"
        parts = [what, self.criterion, allocation, sched]
        if registry.TIMINGS.get(self.timing).in_summary:
            parts.append(self.timing)
        lr_schedule = "" if self.finetune_schedule == "constant" else f" {self.finetune_schedule}"
        budget = f"{self.finetune_epochs}" if self.finetune_steps is None else f"{self.finetune_steps}s"
        lr = f"{self.finetune_lr:.0e}" if self.finetune_lr is not None else f"{self.finetune_lr_scale:.2g}xlr"
        parts.append(f"ft{budget}@{lr}{lr_schedule}")
        if self.distill_weight > 0:
            parts.append(f"kd{self.distill_weight:.2g}T{self.distill_temperature:.2g}")
        if self.bn_recalibration is not None:
            parts.append("bn-recal" if self.bn_recalibration else "no-bn-recal")
        return " ".join(parts)


# field set by --set -> fields of the base recipe it replaces unless also set
_ALTERNATIVES = {
    "finetune_steps": ("finetune_epochs",),
    "finetune_epochs": ("finetune_steps", "report_every"),
    "finetune_lr": ("finetune_lr_scale",),
    "finetune_lr_scale": ("finetune_lr",),
}
_DEFAULTS = {f.name: f.default for f in fields(Recipe)}


def _parse_value(key: str, raw: str, type_name: Any) -> Any:
    type_name = str(type_name)
    if type_name.endswith(" | None"):
        if raw.lower() in ("none", "null"):
            return None
        type_name = type_name.removesuffix(" | None")
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
