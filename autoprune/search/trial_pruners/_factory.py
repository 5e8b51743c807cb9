"""A trial pruner by name, as a search space writes it: checked, then built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from autoprune.errors import ConfigError
from autoprune.registry import TRIAL_PRUNERS
from autoprune.search.trial_pruners._base import TrialPruner

__all__ = ["TrialPrunerConfig", "make_trial_pruner", "validate_trial_pruner"]

# the single objective a pruner of the task metric (objectives_needed "one") can serve
_METRIC_OBJECTIVES = (("accuracy", "max"), ("accuracy_drop", "min"))


@dataclass(frozen=True)
class TrialPrunerConfig:
    """A trial pruner by name with its options, as written in the search space."""

    name: str = "none"
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}


def _fits(pruner: type[TrialPruner], n_objectives: int) -> bool:
    needed = getattr(pruner, "objectives_needed", "any")
    return (needed == "one" and n_objectives == 1) or (needed == "several" and n_objectives >= 2) or needed == "any"


def _entry(config: TrialPrunerConfig, n_objectives: int) -> type[TrialPruner]:
    """The registered class ``config`` names, with its options checked.

    Raises:
        ConfigError: unknown name or option, a bad option value, or a pruner that does
            not fit the number of objectives.
    """
    name = config.name
    if not isinstance(name, str) or name not in TRIAL_PRUNERS:
        raise ConfigError(f"{name!r} is not a trial pruner; allowed: {', '.join(TRIAL_PRUNERS.names())}.")
    pruner = TRIAL_PRUNERS.get(name)
    needed = getattr(pruner, "objectives_needed", "any")
    if needed == "one" and n_objectives != 1:
        fitting = [n for n, p in TRIAL_PRUNERS.items() if _fits(p, n_objectives)]
        raise ConfigError(
            f"{name} is for one objective, but the space has {n_objectives}; "
            f"allowed with {n_objectives} objectives: {', '.join(fitting)}."
        )
    if needed == "several" and n_objectives < 2:
        fitting = [n for n, p in TRIAL_PRUNERS.items() if _fits(p, 1)]
        raise ConfigError(
            f"{name} compares trials on their other objectives, so it needs two or more, "
            f"but the space has {n_objectives}; allowed with one objective: {', '.join(fitting)}."
        )
    allowed = getattr(pruner, "options", {})
    for key, value in config.options.items():
        if key not in allowed:
            raise ConfigError(f"{key!r} is not an option of {name}; allowed: {', '.join(allowed) or 'none'}.")
        allowed[key].check(key, value)
    if hasattr(pruner, "check_config"):
        pruner.check_config(config.options)
    return pruner


def _objective(objective: Any) -> tuple[str, str]:
    """``(name, direction)`` of an objective given as a pair or as an object with both."""
    if hasattr(objective, "name") and hasattr(objective, "direction"):
        return objective.name, objective.direction
    name, direction = objective
    return name, direction


def validate_trial_pruner(config: TrialPrunerConfig, objectives: Sequence[tuple[str, str]]) -> None:
    """Check a search space's trial pruner without building it (no Optuna object).

    Args:
        config: name and options (from the space's ``trial_pruner``).
        objectives: the space's objectives as ``(measure, "min" | "max")`` pairs, in order.

    Raises:
        ConfigError: unknown name or option, a bad option value or bounds, a pruner that
            does not fit the number of objectives, or a pruner of the task metric
            (``median``, ``hyperband``, ``successive_halving``) whose one objective is not
            ``accuracy: max`` or ``accuracy_drop: min``.

    Example:
        >>> validate_trial_pruner(TrialPrunerConfig("median"), [("latency_ms", "min")])
        Traceback (most recent call last):
        ...
        autoprune.errors.ConfigError: median compares the task metric across trials, so the objective must be \
accuracy: max or accuracy_drop: min, but got latency_ms: min.
    """
    pairs = [_objective(o) for o in objectives]
    name = config.name
    if isinstance(name, str) and name in TRIAL_PRUNERS and len(pairs) == 1:
        if getattr(TRIAL_PRUNERS.get(name), "objectives_needed", "any") == "one" and pairs[0] not in _METRIC_OBJECTIVES:
            raise ConfigError(
                f"{name} compares the task metric across trials, so the objective must be "
                f"accuracy: max or accuracy_drop: min, but got {pairs[0][0]}: {pairs[0][1]}."
            )
    _entry(config, len(pairs))


def make_trial_pruner(
    config: TrialPrunerConfig,
    n_objectives: int,
    min_value: float | None = None,
    *,
    directions: Mapping[str, str] | None = None,
    study_direction: str = "maximize",
    reference: Sequence[float] | None = None,
) -> TrialPruner:
    """Build the trial pruner a search space names (from :data:`autoprune.registry.TRIAL_PRUNERS`).

    Args:
        config: name and options (from the space's ``trial_pruner``).
        n_objectives: objectives of the study; ``median``, ``hyperband`` and
            ``successive_halving`` need exactly one, ``pareto`` two or more.
        min_value: metric value needed to meet the accuracy constraint (``pareto`` only).
        directions: ``{measure: "min" | "max"}`` of the measures ``pareto`` compares.
        study_direction: ``maximize`` or ``minimize``, of a single-objective study
            (Optuna's pruners).
        reference: the hypervolume's reference point (``pareto`` with
            ``min_hypervolume_gain``).

    Returns:
        :class:`NoTrialPruner`, :class:`ParetoTrialPruner`, or an
        :class:`OptunaTrialPruner` wrapping ``optuna.pruners.MedianPruner``,
        ``HyperbandPruner`` or ``SuccessiveHalvingPruner``. All answer ``decide``; create
        the study with ``pruner=result.study_pruner() or optuna.pruners.NopPruner()``.

    Raises:
        ConfigError: unknown name or option, a bad option value, or a pruner that does
            not fit the number of objectives.

    Example:
        >>> make_trial_pruner(TrialPrunerConfig("pareto", {"percentile": 50}), 3).percentile
        50.0
    """
    pruner = _entry(config, n_objectives)
    if not hasattr(pruner, "from_config"):  # a plain factory registered by a plug-in
        return pruner(**config.options)
    return pruner.from_config(dict(config.options), min_value=min_value, directions=directions,
                              study_direction=study_direction, reference=reference)
