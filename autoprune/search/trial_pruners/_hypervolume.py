"""The Pareto pruner's rule that predicts a trial's final value: cannot add to the front."""

from __future__ import annotations

import math
from typing import ClassVar, Mapping, Sequence

import numpy as np

from autoprune.search._pareto import hypervolume, pareto_front
from autoprune.search.trial_pruners._base import Decision, RunningTrial, TrialHistory
from autoprune.search.trial_pruners._options import (
    MARGIN,
    N_STARTUP_TRIALS,
    N_WARMUP_STEPS,
    PERCENTILE,
    Option,
    check_arguments,
    check_directions,
)
from autoprune.search.trial_pruners._rules import CurveRule, Situation, no_worse

__all__ = ["HypervolumeGainPruner"]


def _size_keys(a: Mapping[str, float], b: Mapping[str, float]) -> list[str]:
    """The measures two trials both know and can compare on a log scale (positive)."""
    return sorted(k for k in a.keys() & b.keys() if a[k] > 0 and b[k] > 0)


def _size_distance(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """How far apart two trials are on the positive measures both know, on a log scale
    (a model of 2k parameters is as far from 4k as 20k is from 40k)."""
    return sum(abs(math.log(a[k]) - math.log(b[k])) for k in _size_keys(a, b))


def _log_size(measures: Mapping[str, float], keys: Sequence[str]) -> float:
    return sum(math.log(measures[k]) for k in keys) / len(keys)


def _log_size_difference(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """How much larger ``a`` is than ``b`` (mean log ratio over the positive measures
    both know; 0 with none)."""
    keys = _size_keys(a, b)
    return _log_size(a, keys) - _log_size(b, keys) if keys else 0.0


def _size_slope(complete: Sequence[TrialHistory], like: Mapping[str, float]) -> float:
    """How much the complete trials' final value rises per unit of log size (least
    squares on the size measures of ``like``; 0 with fewer than 3 sizes or a falling fit)."""
    keys = _size_keys(like, like)
    if not keys:
        return 0.0
    points = [(_log_size(h.objectives, keys), h.final_value) for h in complete
              if h.final_value is not None and math.isfinite(h.final_value) and _size_keys(like, h.objectives) == keys]
    if len({x for x, _ in points}) < 3:
        return 0.0
    return max(0.0, float(np.polyfit([x for x, _ in points], [y for _, y in points], 1)[0]))


class HypervolumeGainPruner(CurveRule):
    """Stops a trial that is not expected to add to the front (rule 3 of the Pareto pruner).

    Its final value is predicted from the ``n_neighbors`` complete trials closest to it in
    size (the measures both know, e.g. ``params_nonzero``, compared on a log scale; ties
    by value at ``s``) that reported ``s`` and its last step ``L``
    (``RunningTrial.n_steps``; without it no stop): each predicts its own value at ``L``
    plus the share ``s / L`` of the trial's lead over it at ``s``; with ``size_slope``,
    plus the rest, ``1 - s / L``, of what the size difference is worth (the least-squares
    slope of the complete trials' final values over log size, when positive and fitted on
    at least 3 sizes), so that a model larger or smaller than its neighbours is not
    expected to end where they did. Right after pruning (``s = 0``) the damage says little
    about what fine-tuning recovers, so the prediction is what models of that size
    reached; by the last step the trial's own curve is all that counts. The expected final
    value is the ``neighbor_percentile``-th percentile of these predictions (50: the
    median, 100: the most optimistic), at least ``value(s)``, plus ``margin``. Its point
    is ``RunningTrial.to_point(expected)`` (no point: no stop); an axis not measured yet
    (latency) is estimated as the worst value among the complete trials that are no worse
    than it on the measures both know (a model with no more parameters is no slower). It
    stops when that point would add less than ``min_hypervolume_gain`` of the hypervolume
    of the front (the feasible points among ``TrialHistory.point``; ``reference``). A
    front is crowded where the sampler keeps proposing, so this rule stops most trials
    that would only refine a part of the front already well covered, often before they
    fine-tune (step 0).

    Args:
        min_hypervolume_gain: in [0, 1], the fraction of the front's hypervolume a trial
            must be expected to add.
        reference: the hypervolume's reference point (needed once a trial has a point).
        n_startup_trials, n_warmup_steps, margin: see :class:`CurveRule`.
        n_neighbors: complete trials of the closest size that predict the final value.
        neighbor_percentile: in [0, 100], the percentile of their predictions expected
            (higher is more optimistic: fewer stops).
        size_slope: correct each neighbour's prediction for the size difference.
        directions: ``{measure: "min" | "max"}`` of the measures compared.
    """

    rule = "hypervolume_gain"
    options: ClassVar[Mapping[str, Option]] = {
        "n_startup_trials": N_STARTUP_TRIALS,
        "n_warmup_steps": N_WARMUP_STEPS,
        "margin": MARGIN,
        "min_hypervolume_gain": Option("float", 0.0, 1.0, optional=True),
        "n_neighbors": Option("int", 1),
        "neighbor_percentile": PERCENTILE,
        "size_slope": Option("bool"),
    }

    def __init__(
        self,
        min_hypervolume_gain: float,
        reference: Sequence[float] | None,
        n_startup_trials: int = 4,
        n_warmup_steps: int = 2,
        margin: float = 0.005,
        n_neighbors: int = 3,
        neighbor_percentile: float = 50.0,
        size_slope: bool = False,
        directions: Mapping[str, str] | None = None,
    ) -> None:
        self.options["min_hypervolume_gain"].check("min_hypervolume_gain", min_hypervolume_gain)
        check_arguments(self.options, n_neighbors=n_neighbors, neighbor_percentile=neighbor_percentile,
                        size_slope=size_slope)
        super().__init__(n_startup_trials, n_warmup_steps, margin)
        self.min_hypervolume_gain = float(min_hypervolume_gain)
        self.reference = None if reference is None else np.asarray(reference, dtype=float)
        self.n_neighbors = n_neighbors
        self.neighbor_percentile = float(neighbor_percentile)
        self.size_slope = size_slope
        self.directions = check_directions(directions)

    def judge(self, situation: Situation) -> Decision:
        trial, step, value = situation.trial, situation.step, situation.value
        if trial.to_point is None:
            return Decision.go("no point to compare with the front (RunningTrial.to_point)")
        adds = self.expected_gain(trial, situation.complete)
        if adds is None:
            return Decision.go(f"no evidence of what the trial adds to the front at step {step}")
        text = (f"expected final {adds[1]:.4g} (at step {step}: {value:.4g}) would add "
                f"{100 * adds[0]:.3g}% to the front's hypervolume")
        if adds[0] < self.min_hypervolume_gain:
            return Decision.halt(self.rule, f"{text}, less than {100 * self.min_hypervolume_gain:g}%")
        return Decision.go(f"{text}, at least {100 * self.min_hypervolume_gain:g}%")

    def expected_gain(self, trial: RunningTrial, complete: Sequence[TrialHistory]) -> tuple[float, float] | None:
        """(fraction of the front's hypervolume the trial is expected to add, its expected
        final value), or None when the complete trials give no evidence.

        Raises:
            TypeError: no ``reference`` point.
        """
        if self.reference is None:
            raise TypeError("min_hypervolume_gain needs the hypervolume's reference point (reference=...).")
        if trial.to_point is None:
            return None
        measured = [h for h in complete if h.point is not None]
        on_front = [h for h in measured if h.feasible]
        expected = self.expected_final(trial, complete) if on_front else None
        if expected is None:
            return None
        point = np.asarray(trial.to_point(expected), dtype=float)
        unknown = np.isnan(point)
        if unknown.any():  # e.g. latency: no better than that of smaller models
            smaller = [h.point for h in measured if no_worse(h.objectives, trial.objectives, self.directions)]
            if not smaller:
                return None
            point[unknown] = np.max(np.asarray(smaller, dtype=float)[:, unknown], axis=0)
        points = np.asarray([h.point for h in on_front], dtype=float)
        front = points[pareto_front(points)]
        now = hypervolume(front, self.reference)
        if not now > 0:
            return None
        return (hypervolume(np.vstack([front, point]), self.reference) - now) / now, expected

    def expected_final(self, trial: RunningTrial, complete: Sequence[TrialHistory]) -> float | None:
        """The trial's expected final value, predicted by the complete trials closest in
        size (None without a budget, ``RunningTrial.n_steps``, left to run, or trials
        that reached it)."""
        step, last = trial.step, trial.n_steps
        if step is None or last is None or step >= last:
            return None
        value = trial.curve[step]
        references = [h for h in complete if step in h.curve and last in h.curve
                      and math.isfinite(h.curve[step]) and math.isfinite(h.curve[last])]
        if not references:
            return None
        nearest = sorted(references, key=lambda h: (_size_distance(h.objectives, trial.objectives),
                                                    abs(h.curve[step] - value)))[: self.n_neighbors]
        carried = step / last  # how much of its lead at this step a trial keeps
        # until its own curve shows where it stands, its size does (size_slope)
        slope = _size_slope(complete, trial.objectives) if self.size_slope else 0.0
        predictions = [h.curve[last] + carried * (value - h.curve[step])
                       + (1 - carried) * slope * _log_size_difference(trial.objectives, h.objectives)
                       for h in nearest]
        return max(value, float(np.percentile(predictions, self.neighbor_percentile))) + self.margin
