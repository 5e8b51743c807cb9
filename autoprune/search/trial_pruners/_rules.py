"""The Pareto pruner's rules that read the curves alone: behind its peers, cannot meet the bar.

Every rule first passes the same gates (:meth:`CurveRule.situation`): a value reported and
finite, not the trial's last step, past the warm-up steps, enough complete trials. Only
then does the rule itself judge (:meth:`CurveRule.judge`).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from autoprune.errors import ConfigError
from autoprune.result import TrialStatus
from autoprune.search.trial_pruners._base import Decision, RunningTrial, TrialHistory, TrialPruner
from autoprune.search.trial_pruners._options import (
    MARGIN,
    N_STARTUP_TRIALS,
    N_WARMUP_STEPS,
    PERCENTILE,
    Option,
    check_arguments,
    check_directions,
)

__all__ = ["Situation", "CurveRule", "PeerPercentilePruner", "AccuracyConstraintPruner", "no_worse"]

_FINISHED = (TrialStatus.COMPLETE, TrialStatus.PRUNED)


@dataclass(frozen=True)
class Situation:
    """What a rule judges, once the gates are passed.

    Args:
        trial: the running trial.
        step: its latest step.
        value: its (finite) value there.
        finished: the other trials that are complete or pruned.
        complete: those of them that are complete.
    """

    trial: RunningTrial
    step: int
    value: float
    finished: tuple[TrialHistory, ...]
    complete: tuple[TrialHistory, ...]


def no_worse(peer: Mapping[str, float], candidate: Mapping[str, float], directions: Mapping[str, str]) -> bool:
    """True when ``peer`` is at least as good as ``candidate`` on every measure both know
    (each minimised unless ``directions`` says ``max``; NaN is never as good)."""
    for name in peer.keys() & candidate.keys():
        if directions.get(name, "min") == "max":
            if not peer[name] >= candidate[name]:
                return False
        elif not peer[name] <= candidate[name]:
            return False
    return True


class CurveRule(TrialPruner):
    """A rule of the Pareto pruner: the shared gates, then :meth:`judge`.

    Args:
        n_startup_trials: complete trials needed before any stop.
        n_warmup_steps: steps below this are never stopped at (``0`` may stop a trial
            before it fine-tunes).
        margin: how far behind is clearly behind, in metric units.
    """

    #: the name a stop of this rule carries (:attr:`Decision.rule`)
    rule: ClassVar[str] = ""

    def __init__(self, n_startup_trials: int = 4, n_warmup_steps: int = 2, margin: float = 0.005) -> None:
        check_arguments(type(self).options, n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps,
                        margin=margin)
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps
        self.margin = float(margin)

    def situation(self, trial: RunningTrial, history: Sequence[TrialHistory]) -> Situation | Decision:
        """The situation to judge, or the decision to go on when a gate holds."""
        step = trial.step
        if step is None:
            return Decision.go("no report yet")
        value = trial.curve[step]
        if not math.isfinite(value):
            return Decision.go(f"value {value} at step {step} is not finite")
        if trial.n_steps is not None and step >= trial.n_steps:
            return Decision.go(f"step {step} is the last")
        if step < self.n_warmup_steps:
            return Decision.go(f"step {step} is a warm-up step")
        finished = tuple(h for h in history if h.number != trial.number and h.state in _FINISHED)
        complete = tuple(h for h in finished if h.state == TrialStatus.COMPLETE)
        if len(complete) < self.n_startup_trials:
            return Decision.go(f"{len(complete)} of {self.n_startup_trials} startup trials complete")
        return Situation(trial, step, value, finished, complete)

    def decide(self, trial: RunningTrial, history: Sequence[TrialHistory]) -> Decision:
        situation = self.situation(trial, history)
        return situation if isinstance(situation, Decision) else self.judge(situation)

    @abc.abstractmethod
    def judge(self, situation: Situation) -> Decision:
        """The rule's decision, once the gates are passed."""


class PeerPercentilePruner(CurveRule):
    """Stops a trial that is behind its Pareto peers (rule 1 of the Pareto pruner).

    Its peers are the finished trials (complete or pruned) that reported a value at the
    trial's step ``s`` and are no worse than it on every other measure both know
    (``RunningTrial.objectives``; each minimised unless ``directions`` says ``max``). With
    at least ``n_min_peers`` peers, the trial stops when its value at ``s`` is more than
    ``margin`` below the ``percentile``-th percentile (numpy's linear interpolation) of
    theirs. A trial better than the others on size or latency has few peers, so it is
    kept: it may be on the front with a lower accuracy.

    Args:
        percentile: in [0, 100]; 25 stops trials in the bottom quarter of their peers.
        n_startup_trials, n_warmup_steps, margin: see :class:`CurveRule`.
        n_min_peers: peers needed to stop.
        directions: ``{measure: "min" | "max"}`` for the measures compared.

    Example:
        >>> done = [TrialHistory(i, "complete", {1: v}) for i, v in enumerate([0.90, 0.92, 0.94, 0.96])]
        >>> PeerPercentilePruner(n_warmup_steps=0).decide(RunningTrial(4, {1: 0.80}), done).rule
        'peer_percentile'
    """

    rule = "peer_percentile"
    options: ClassVar[Mapping[str, Option]] = {
        "percentile": PERCENTILE,
        "n_startup_trials": N_STARTUP_TRIALS,
        "n_warmup_steps": N_WARMUP_STEPS,
        "n_min_peers": Option("int", 1),
        "margin": MARGIN,
    }

    def __init__(
        self,
        percentile: float = 25.0,
        n_startup_trials: int = 4,
        n_warmup_steps: int = 2,
        n_min_peers: int = 3,
        margin: float = 0.005,
        directions: Mapping[str, str] | None = None,
    ) -> None:
        check_arguments(self.options, percentile=percentile, n_min_peers=n_min_peers)
        super().__init__(n_startup_trials, n_warmup_steps, margin)
        self.percentile = float(percentile)
        self.n_min_peers = n_min_peers
        self.directions = check_directions(directions)

    def judge(self, situation: Situation) -> Decision:
        step, value, trial = situation.step, situation.value, situation.trial
        peers = [
            h.curve[step]
            for h in situation.finished
            if step in h.curve
            and math.isfinite(h.curve[step])
            and no_worse(h.objectives, trial.objectives, self.directions)
        ]
        if len(peers) < self.n_min_peers:
            return Decision.go(f"{len(peers)} peers at step {step}, {self.n_min_peers} needed")
        threshold = float(np.percentile(peers, self.percentile))
        if value + self.margin < threshold:
            return Decision.halt(self.rule, (
                f"{value:.4g} at step {step} is more than {self.margin:.4g} below the "
                f"{self.percentile:g}th percentile {threshold:.4g} of {len(peers)} peers"
            ))
        return Decision.go(
            f"{value:.4g} at step {step} is not more than {self.margin:.4g} below {threshold:.4g} ({len(peers)} peers)"
        )


def check_min_value(min_value: Any, *, optional: bool) -> float | None:
    """``min_value`` as a float (None allowed when ``optional``).

    Raises:
        ConfigError: not a finite number.
    """
    if min_value is None and optional:
        return None
    if not (isinstance(min_value, (int, float)) and not isinstance(min_value, bool) and math.isfinite(min_value)):
        allowed = "a finite number or None" if optional else "a finite number"
        raise ConfigError(f"min_value must be {allowed}, but got min_value={min_value!r}.")
    return float(min_value)


class AccuracyConstraintPruner(CurveRule):
    """Stops a trial that cannot meet the accuracy bar (rule 2 of the Pareto pruner).

    At step ``s`` it stops when ``value(s) + max(0, largest gain) + margin < min_value``,
    where the largest gain is ``final - value(s)`` over the complete trials whose value at
    ``s`` was no higher than this trial's and that ran at least as many steps as this one
    will (none: no stop).

    Args:
        min_value: the metric a trial must still be able to reach (the accuracy
            constraint's: baseline - allowed drop).
        n_startup_trials, n_warmup_steps, margin: see :class:`CurveRule`.

    Example:
        >>> done = [TrialHistory(i, "complete", {1: 0.80, 2: 0.84}) for i in range(4)]
        >>> AccuracyConstraintPruner(0.95, n_warmup_steps=0).decide(RunningTrial(4, {1: 0.85}, n_steps=2), done).rule
        'accuracy_constraint'
    """

    rule = "accuracy_constraint"
    options: ClassVar[Mapping[str, Option]] = {
        "n_startup_trials": N_STARTUP_TRIALS,
        "n_warmup_steps": N_WARMUP_STEPS,
        "margin": MARGIN,
    }

    def __init__(self, min_value: float, n_startup_trials: int = 4, n_warmup_steps: int = 2,
                 margin: float = 0.005) -> None:
        self.min_value = check_min_value(min_value, optional=False)
        super().__init__(n_startup_trials, n_warmup_steps, margin)

    def judge(self, situation: Situation) -> Decision:
        step, value, trial = situation.step, situation.value, situation.trial
        # gains only of trials that were no better at this step and ran at least as long
        # as this one will: one far behind has more to recover than the leaders showed
        # (a 90%-pruned model gains 10 points, a 50%-pruned one 1), and more epochs
        # recover more; with no such trial there is no evidence to stop on
        last = trial.n_steps or step
        gains = [
            h.final_value - h.curve[step]
            for h in situation.complete
            if step in h.curve and h.curve[step] <= value and max(h.curve) >= last
            and math.isfinite(h.final_value - h.curve[step])
        ]
        if not gains:
            return Decision.go(f"no complete trial no higher at step {step} ran {last} steps")
        gain = max(0.0, max(gains))
        text = (f"{self.min_value:.4g}: {value:.4g} at step {step} "
                f"+ largest later gain {gain:.4g} + margin {self.margin:.4g}")
        if value + gain + self.margin < self.min_value:
            return Decision.halt(self.rule, "cannot reach " + text)
        return Decision.go("can reach " + text)
