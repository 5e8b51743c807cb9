"""The Pareto trial pruner: its three rules, the first that says stop wins."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

from autoprune.errors import ConfigError
from autoprune.registry import TRIAL_PRUNERS
from autoprune.search.trial_pruners._base import Decision, RunningTrial, TrialHistory, TrialPruner, nop_pruner
from autoprune.search.trial_pruners._hypervolume import HypervolumeGainPruner
from autoprune.search.trial_pruners._options import Option, check_arguments, check_directions
from autoprune.search.trial_pruners._rules import AccuracyConstraintPruner, PeerPercentilePruner, check_min_value

__all__ = ["FirstStop", "ParetoTrialPruner"]


class FirstStop(TrialPruner):
    """Several trial pruners asked in order: the first that says stop wins; when none
    does, the last one's decision (and its reason) stands.

    Args:
        pruners: at least one.

    Example:
        >>> from autoprune.search.trial_pruners import NoTrialPruner
        >>> FirstStop([NoTrialPruner()]).decide(RunningTrial(0, {1: 0.5}), []).reason
        'no trial pruner'
    """

    def __init__(self, pruners: Sequence[TrialPruner]) -> None:
        if not pruners:
            raise ConfigError("FirstStop needs at least one trial pruner, but got pruners=[].")
        self.pruners = tuple(pruners)

    def decide(self, trial: RunningTrial, history: Sequence[TrialHistory]) -> Decision:
        for pruner in self.pruners:
            decision = pruner.decide(trial, history)
            if decision.stop:
                return decision
        return decision

    def study_pruner(self) -> Any:
        """The first of its pruners' Optuna pruners (None: none has one)."""
        return next((p for p in (q.study_pruner() for q in self.pruners) if p is not None), None)


# the options a search space may set, in the order error messages list them
_ORDER = ("percentile", "n_startup_trials", "n_warmup_steps", "n_min_peers", "margin", "min_hypervolume_gain",
          "n_neighbors", "neighbor_percentile", "size_slope")
_DECLARED = {**PeerPercentilePruner.options, **AccuracyConstraintPruner.options, **HypervolumeGainPruner.options}


@TRIAL_PRUNERS.register("pareto")
class ParetoTrialPruner(FirstStop):
    """Stops a trial that cannot meet the bar, cannot add to the front, or is behind its
    Pareto peers.

    At step ``s`` (the trial's latest report: 0 before fine-tuning, ``k`` after ``k``
    epochs), once ``n_startup_trials`` trials are complete and ``s >= n_warmup_steps``
    (as in Optuna: ``n_warmup_steps=0`` may stop a trial before it fine-tunes, ``2``
    never before its second epoch), and never at the trial's last step
    (``RunningTrial.n_steps``), it asks its rules in this order and stops at the first
    that says stop:

    1. :class:`AccuracyConstraintPruner`, with ``min_value`` set (the metric an accuracy
       constraint needs: baseline - allowed drop): the trial cannot reach it even with
       the largest later gain of the trials that were no better.
    2. :class:`HypervolumeGainPruner`, with ``min_hypervolume_gain`` set: the trial's
       expected final point would add less than that fraction of the front's
       hypervolume.
    3. :class:`PeerPercentilePruner`: the trial is more than ``margin`` below the
       ``percentile``-th percentile of its peers (the finished trials no worse than it
       on every other measure both know). When no rule stops, its reason is the one
       given.

    Args:
        percentile: in [0, 100]; 25 stops trials in the bottom quarter of their peers.
        n_startup_trials: complete trials needed before any stop.
        n_warmup_steps: steps below this are never stopped at (the default, 2, lets one
            fine-tune epoch pass: one epoch's accuracy jitters by about a point).
        n_min_peers: peers needed for the peer rule.
        min_value: metric value a trial must still be able to reach, or None.
        margin: how far behind is clearly behind, in metric units, for every rule.
        directions: ``{measure: "min" | "max"}`` for the ``objectives`` compared.
        min_hypervolume_gain: fraction of the front's hypervolume a trial must be
            expected to add, or None (the hypervolume rule off).
        n_neighbors: complete trials of the closest size that predict a trial's final
            value (hypervolume rule).
        neighbor_percentile: in [0, 100], the percentile of their predictions that the
            hypervolume rule expects (higher is more optimistic: fewer stops).
        size_slope: the hypervolume rule corrects each neighbour's prediction for the size
            difference: fewer stops of models larger than their neighbours.
        reference: the hypervolume's reference point (hypervolume rule).

    Example:
        >>> done = [TrialHistory(i, "complete", {1: v}) for i, v in enumerate([0.90, 0.92, 0.94, 0.96])]
        >>> ParetoTrialPruner(n_warmup_steps=0).decide(RunningTrial(4, {1: 0.80}), done).stop
        True
    """

    options: ClassVar[Mapping[str, Option]] = {name: _DECLARED[name] for name in _ORDER}
    objectives_needed = "several"

    def __init__(
        self,
        percentile: float = 25.0,
        n_startup_trials: int = 4,
        n_warmup_steps: int = 2,
        n_min_peers: int = 3,
        min_value: float | None = None,
        margin: float = 0.005,
        directions: Mapping[str, str] | None = None,
        min_hypervolume_gain: float | None = None,
        n_neighbors: int = 3,
        neighbor_percentile: float = 50.0,
        size_slope: bool = False,
        reference: Sequence[float] | None = None,
    ) -> None:
        check_arguments(
            self.options, percentile=percentile, n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps,
            n_min_peers=n_min_peers, margin=margin, n_neighbors=n_neighbors, neighbor_percentile=neighbor_percentile,
            size_slope=size_slope, min_hypervolume_gain=min_hypervolume_gain,
        )
        self.min_value = check_min_value(min_value, optional=True)
        self.directions = check_directions(directions)
        gates = {"n_startup_trials": n_startup_trials, "n_warmup_steps": n_warmup_steps, "margin": margin}
        rules: list[TrialPruner] = []
        if self.min_value is not None:
            rules.append(AccuracyConstraintPruner(self.min_value, **gates))
        if min_hypervolume_gain is not None:
            rules.append(HypervolumeGainPruner(min_hypervolume_gain, reference, n_neighbors=n_neighbors,
                                               neighbor_percentile=neighbor_percentile, size_slope=size_slope,
                                               directions=self.directions, **gates))
        rules.append(PeerPercentilePruner(percentile, n_min_peers=n_min_peers, directions=self.directions, **gates))
        super().__init__(rules)
        self.percentile = float(percentile)
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps
        self.n_min_peers = n_min_peers
        self.margin = float(margin)
        self.min_hypervolume_gain = None if min_hypervolume_gain is None else float(min_hypervolume_gain)
        self.n_neighbors = n_neighbors
        self.neighbor_percentile = float(neighbor_percentile)
        self.size_slope = size_slope
        self.reference = None if reference is None else tuple(float(x) for x in reference)

    def study_pruner(self) -> Any:
        return nop_pruner()

    @classmethod
    def from_config(
        cls,
        options: Mapping[str, Any],
        *,
        min_value: float | None = None,
        directions: Mapping[str, str] | None = None,
        study_direction: str = "maximize",
        reference: Sequence[float] | None = None,
    ) -> ParetoTrialPruner:
        return cls(**options, min_value=min_value, directions=directions, reference=reference)
