"""What every trial pruner sees and returns: the running trial, the other trials, the decision."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence

from autoprune.registry import TRIAL_PRUNERS
from autoprune.result import TrialStatus
from autoprune.search.trial_pruners._options import Option

__all__ = ["Decision", "RunningTrial", "TrialHistory", "TrialPruner", "NoTrialPruner", "nop_pruner"]


@dataclass(frozen=True)
class Decision:
    """What a trial pruner decided about a running trial, and why.

    Args:
        stop: True when the trial should stop now.
        reason: why, in words (stored with a stopped trial and shown in logs).
        rule: the rule that stopped the trial (``peer_percentile``, ``accuracy_constraint``,
            ``hypervolume_gain``, ``median``, ...); ``""`` when it goes on.

    Example:
        >>> Decision.halt("peer_percentile", "0.8 at step 1 is behind")
        Decision(stop=True, reason='0.8 at step 1 is behind', rule='peer_percentile')
        >>> Decision.go("step 0 is a warm-up step").stop
        False
    """

    stop: bool
    reason: str = ""
    rule: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop", bool(self.stop))  # numpy's bool_ too

    @classmethod
    def go(cls, reason: str = "") -> Decision:
        """The trial goes on."""
        return cls(False, reason, "")

    @classmethod
    def halt(cls, rule: str, reason: str) -> Decision:
        """The trial stops now, by ``rule``."""
        return cls(True, reason, rule)


@dataclass(frozen=True)
class RunningTrial:
    """A trial being run, as the trial pruner sees it.

    Args:
        number: the trial's number in the study.
        curve: ``{step: value}`` of the task metric (higher is better): step 0 is the
            pruned model before fine-tuning (when reported), step ``k`` the model after
            ``k`` fine-tune epochs. The last step is the one decided on.
        objectives: the trial's other measures known so far (e.g. ``params_total``,
            ``params_nonzero``), possibly a subset of the search objectives. Do not put
            the metric of the curve itself here.
        state: always ``running`` (a field so both trial views read alike).
        n_steps: how many steps the trial will report, if known. No stop is taken at the
            last one: the work is done by then.
        optuna_trial: the driver-side ``optuna.trial.Trial``; only
            :class:`~autoprune.search.trial_pruners.OptunaTrialPruner` needs it.
        to_point: the trial's objectives as a point of the front (normalised, to
            minimise, like :attr:`TrialHistory.point`) if its metric ended at the given
            value; NaN on the measures not taken yet (latency). Only the hypervolume rule
            needs it.
    """

    number: int
    curve: Mapping[int, float]
    objectives: Mapping[str, float] = field(default_factory=dict)
    state: TrialStatus = TrialStatus.RUNNING
    n_steps: int | None = None
    optuna_trial: Any = field(default=None, repr=False, compare=False)
    to_point: Callable[[float], Sequence[float]] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", TrialStatus(self.state))

    @property
    def step(self) -> int | None:
        """The latest reported step (None before the first report)."""
        return max(self.curve) if self.curve else None


@dataclass(frozen=True)
class TrialHistory:
    """A trial of the same study, finished or still running, for comparison.

    ``point``: a complete trial's objectives as a point of the front (normalised, to
    minimise); None otherwise. ``feasible``: whether it meets the constraints (only such
    points make the front).
    """

    number: int
    state: TrialStatus
    curve: Mapping[int, float] = field(default_factory=dict)
    objectives: Mapping[str, float] = field(default_factory=dict)
    point: Sequence[float] | None = None
    feasible: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", TrialStatus(self.state))  # "complete" -> COMPLETE

    @property
    def final_value(self) -> float | None:
        """The metric at the trial's last reported step."""
        return self.curve[max(self.curve)] if self.curve else None


class TrialPruner(abc.ABC):
    """Decides, after each fine-tune epoch, whether a running trial should stop.

    The controller calls :meth:`decide` after every report of a trial with the trial so
    far and the other trials of the study; a stopped trial is stored as PRUNED with its
    partial curve and the decision's reason.

    A pruner registered in :data:`autoprune.registry.TRIAL_PRUNERS` (so that a search
    space can name it) declares the options a space may set (:attr:`options`, their types
    and bounds) and how many objectives it works with (:attr:`objectives_needed`);
    :meth:`from_config` builds it from them.

    Example:
        >>> class Never(TrialPruner):
        ...     def decide(self, trial, history):
        ...         return Decision.go("never")
        >>> Never().decide(RunningTrial(0, {1: 0.5}), []).stop
        False
    """

    #: the options a search space may set, with their types and bounds
    options: ClassVar[Mapping[str, Option]] = {}
    #: the objectives it works with: ``one`` (the task metric alone), ``several`` or ``any``
    objectives_needed: ClassVar[str] = "any"

    @abc.abstractmethod
    def decide(self, trial: RunningTrial, history: Sequence[TrialHistory]) -> Decision:
        """Whether ``trial`` should stop now, given the other trials in ``history``."""

    def study_pruner(self) -> Any:
        """The Optuna pruner to create the study with; None when Optuna prunes nothing."""
        return None

    @classmethod
    def check_config(cls, options: Mapping[str, Any]) -> None:
        """Checks between options (each one is already checked against :attr:`options`).

        Raises:
            ConfigError: options that do not fit together.
        """

    @classmethod
    def from_config(
        cls,
        options: Mapping[str, Any],
        *,
        min_value: float | None = None,
        directions: Mapping[str, str] | None = None,
        study_direction: str = "maximize",
        reference: Sequence[float] | None = None,
    ) -> TrialPruner:
        """The pruner a search space names, with its (checked) ``options`` and what the
        study knows: the metric the accuracy constraint needs (``min_value``), the
        directions of the measures, the study's direction and the hypervolume's reference
        point. Use what applies; by default ``cls(**options)``."""
        return cls(**options)


@TRIAL_PRUNERS.register("none")
class NoTrialPruner(TrialPruner):
    """Never stops a trial."""

    def decide(self, trial: RunningTrial, history: Sequence[TrialHistory]) -> Decision:
        return Decision.go("no trial pruner")

    def study_pruner(self) -> Any:
        return nop_pruner()


def nop_pruner() -> Any:
    """``optuna.pruners.NopPruner()``: the study of a search whose trial pruner is ours."""
    import optuna

    return optuna.pruners.NopPruner()
