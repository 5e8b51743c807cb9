"""Optuna's own pruners, for single-objective studies on the task metric."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

from autoprune.errors import ConfigError
from autoprune.registry import TRIAL_PRUNERS
from autoprune.search.trial_pruners._base import Decision, RunningTrial, TrialHistory, TrialPruner
from autoprune.search.trial_pruners._options import Option

__all__ = [
    "OptunaTrialPruner",
    "MedianTrialPruner",
    "HyperbandTrialPruner",
    "SuccessiveHalvingTrialPruner",
]


class OptunaTrialPruner(TrialPruner):
    """One of Optuna's pruners, for single-objective studies on the task metric.

    The study must be created with :meth:`study_pruner`; :meth:`decide` reports the
    trial's latest value through ``RunningTrial.optuna_trial`` (``trial.report``) and
    stops when ``trial.should_prune()`` says so. In a minimised study (objective
    ``accuracy_drop``) the metric is reported negated, so that lower is better there as
    Optuna expects. History is not used: Optuna reads the finished trials from the study.

    Args:
        pruner: an ``optuna.pruners.BasePruner``.
        maximize: whether the study maximises (the metric is reported as is).

    Example:
        >>> import optuna
        >>> OptunaTrialPruner(optuna.pruners.MedianPruner()).study_pruner().__class__.__name__
        'MedianPruner'
    """

    objectives_needed = "one"
    #: the name a stop carries (:attr:`Decision.rule`)
    rule: ClassVar[str] = "optuna"

    def __init__(self, pruner: Any, *, maximize: bool = True) -> None:
        self.pruner = pruner
        self.maximize = maximize

    def study_pruner(self) -> Any:
        return self.pruner

    def decide(self, trial: RunningTrial, history: Sequence[TrialHistory]) -> Decision:
        if trial.optuna_trial is None:
            raise TypeError(
                f"{type(self.pruner).__name__} needs RunningTrial.optuna_trial (the driver-side "
                "optuna trial) to report to."
            )
        step = trial.step
        if step is None:
            return Decision.go("no report yet")
        value = trial.curve[step]
        trial.optuna_trial.report(value if self.maximize else -value, step)
        if trial.n_steps is not None and step >= trial.n_steps:
            return Decision.go(f"step {step} is the last")
        stop = bool(trial.optuna_trial.should_prune())
        reason = f"{type(self.pruner).__name__} says {'stop' if stop else 'continue'}"
        return Decision.halt(self.rule, reason) if stop else Decision.go(reason)

    @classmethod
    def from_config(
        cls,
        options: Mapping[str, Any],
        *,
        min_value: float | None = None,
        directions: Mapping[str, str] | None = None,
        study_direction: str = "maximize",
        reference: Sequence[float] | None = None,
    ) -> OptunaTrialPruner:
        if study_direction not in ("maximize", "minimize"):
            raise ConfigError(
                f"study_direction must be maximize or minimize, but got study_direction={study_direction!r}."
            )
        try:
            return cls(**options, maximize=study_direction == "maximize")
        except (TypeError, ValueError) as exc:  # optuna's own checks, as one line
            raise ConfigError(f"{cls.rule}: {exc}") from None


def _bootstrap_check(name: str, options: Mapping[str, Any], resource: str) -> None:
    """Optuna refuses bootstrap trials with an ``auto`` resource; say so before building it
    (the text is Optuna's)."""
    count = options.get("bootstrap_count", 0)
    if count > 0 and options.get(resource, "auto") == "auto":
        raise ConfigError(
            f"{name}: bootstrap_count > 0 and {resource} == 'auto' are mutually incompatible, "
            f"bootstrap_count is {count}"
        )


@TRIAL_PRUNERS.register("median")
class MedianTrialPruner(OptunaTrialPruner):
    """``optuna.pruners.MedianPruner`` (same arguments and defaults)."""

    rule = "median"
    options: ClassVar[Mapping[str, Option]] = {
        "n_startup_trials": Option("int", 0),
        "n_warmup_steps": Option("int", 0),
        "interval_steps": Option("int", 1),
        "n_min_trials": Option("int", 1),
    }

    def __init__(self, n_startup_trials: int = 5, n_warmup_steps: int = 0, interval_steps: int = 1,
                 n_min_trials: int = 1, *, maximize: bool = True) -> None:
        import optuna

        super().__init__(optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps,
                                                     interval_steps=interval_steps, n_min_trials=n_min_trials),
                         maximize=maximize)


@TRIAL_PRUNERS.register("hyperband")
class HyperbandTrialPruner(OptunaTrialPruner):
    """``optuna.pruners.HyperbandPruner`` (same arguments and defaults)."""

    rule = "hyperband"
    options: ClassVar[Mapping[str, Option]] = {
        "min_resource": Option("int", 1),
        "max_resource": Option("int|auto", 1),
        "reduction_factor": Option("int", 2),
        "bootstrap_count": Option("int", 0),
    }

    def __init__(self, min_resource: int = 1, max_resource: int | str = "auto", reduction_factor: int = 3,
                 bootstrap_count: int = 0, *, maximize: bool = True) -> None:
        import optuna

        super().__init__(optuna.pruners.HyperbandPruner(min_resource=min_resource, max_resource=max_resource,
                                                        reduction_factor=reduction_factor,
                                                        bootstrap_count=bootstrap_count),
                         maximize=maximize)

    @classmethod
    def check_config(cls, options: Mapping[str, Any]) -> None:
        low, high = options.get("min_resource", 1), options.get("max_resource", "auto")
        if high != "auto" and low > high:
            raise ConfigError(
                f"min_resource must be <= max_resource, but got min_resource={low}, max_resource={high}."
            )
        _bootstrap_check(cls.rule, options, "max_resource")


@TRIAL_PRUNERS.register("successive_halving")
class SuccessiveHalvingTrialPruner(OptunaTrialPruner):
    """``optuna.pruners.SuccessiveHalvingPruner`` (same arguments and defaults)."""

    rule = "successive_halving"
    options: ClassVar[Mapping[str, Option]] = {
        "min_resource": Option("int|auto", 1),
        "reduction_factor": Option("int", 2),
        "min_early_stopping_rate": Option("int", 0),
        "bootstrap_count": Option("int", 0),
    }

    def __init__(self, min_resource: int | str = "auto", reduction_factor: int = 4, min_early_stopping_rate: int = 0,
                 bootstrap_count: int = 0, *, maximize: bool = True) -> None:
        import optuna

        super().__init__(optuna.pruners.SuccessiveHalvingPruner(
            min_resource=min_resource, reduction_factor=reduction_factor,
            min_early_stopping_rate=min_early_stopping_rate, bootstrap_count=bootstrap_count,
        ), maximize=maximize)

    @classmethod
    def check_config(cls, options: Mapping[str, Any]) -> None:
        _bootstrap_check(cls.rule, options, "min_resource")
