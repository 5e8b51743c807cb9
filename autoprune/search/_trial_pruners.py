"""Trial pruners: stop a running trial early from its curve and the finished trials.

The controller calls :meth:`TrialPruner.should_stop` after every fine-tune epoch of a
trial with a :class:`RunningTrial` (its curve so far and the measures already known) and
the finished trials as :class:`TrialHistory`. Returning True stops the trial; it is then
stored as PRUNED with its partial curve.

Optuna 5 refuses ``trial.report`` in multi-objective studies, so early stopping in a
Pareto search is ours (:class:`ParetoTrialPruner`). A single-objective search on the
task metric can use Optuna's own pruners through :class:`OptunaTrialPruner`.

Every pruner also says which Optuna pruner the study is created with
(:meth:`TrialPruner.study_pruner`): Optuna's own for :class:`OptunaTrialPruner`,
``NopPruner`` otherwise, so the controller always writes
``optuna.create_study(..., pruner=trial_pruner.study_pruner())``.
"""

from __future__ import annotations

import abc
import enum
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from autoprune.errors import ConfigError
from autoprune.search._pareto import hypervolume, pareto_front

__all__ = [
    "TRIAL_PRUNERS",
    "TrialState",
    "RunningTrial",
    "TrialHistory",
    "TrialPruner",
    "NoTrialPruner",
    "ParetoTrialPruner",
    "OptunaTrialPruner",
    "TrialPrunerConfig",
    "make_trial_pruner",
]


class TrialState(str, enum.Enum):
    """Optuna's trial states, as the lower-case words the run records use."""

    WAITING = "waiting"
    RUNNING = "running"
    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"


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
            :class:`OptunaTrialPruner` needs it.
        to_point: the trial's objectives as a point of the front (normalised, to
            minimise, like :attr:`TrialHistory.point`) if its metric ended at the given
            value; NaN on the measures not taken yet (latency). Only
            :class:`ParetoTrialPruner`'s hypervolume rule needs it.
    """

    number: int
    curve: Mapping[int, float]
    objectives: Mapping[str, float] = field(default_factory=dict)
    state: TrialState = TrialState.RUNNING
    n_steps: int | None = None
    optuna_trial: Any = field(default=None, repr=False, compare=False)
    to_point: Callable[[float], Sequence[float]] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", TrialState(self.state))

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
    state: TrialState
    curve: Mapping[int, float] = field(default_factory=dict)
    objectives: Mapping[str, float] = field(default_factory=dict)
    point: Sequence[float] | None = None
    feasible: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", TrialState(self.state))  # "complete" -> COMPLETE

    @property
    def final_value(self) -> float | None:
        """The metric at the trial's last reported step."""
        return self.curve[max(self.curve)] if self.curve else None


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


class TrialPruner(abc.ABC):
    """Decides, after each fine-tune epoch, whether a running trial should stop."""

    #: why the last :meth:`should_stop` decided as it did (for logs)
    last_reason: str = ""

    @abc.abstractmethod
    def should_stop(self, trial: RunningTrial, history: Sequence[TrialHistory]) -> bool:
        """True when ``trial`` should stop now, given the other trials in ``history``."""

    def study_pruner(self) -> Any:
        """The Optuna pruner to create the study with (``NopPruner`` unless Optuna's own)."""
        import optuna

        return optuna.pruners.NopPruner()


class NoTrialPruner(TrialPruner):
    """Never stops a trial."""

    def should_stop(self, trial: RunningTrial, history: Sequence[TrialHistory]) -> bool:
        self.last_reason = "no trial pruner"
        return False


class ParetoTrialPruner(TrialPruner):
    """Stops a trial that is behind its Pareto peers, cannot meet the bar, or cannot add
    to the front.

    At step ``s`` (the trial's latest report: 0 before fine-tuning, ``k`` after ``k``
    epochs), once ``n_startup_trials`` trials are complete and ``s >= n_warmup_steps``
    (as in Optuna: ``n_warmup_steps=0`` may stop a trial before it fine-tunes, ``2``
    never before its second epoch), the trial stops when either:

    1. **Behind its peers.** Its peers are the finished trials (complete or pruned, any
       number) that reported a value at ``s`` and are no worse than it on every other
       objective both know (``objectives``; each minimised unless ``directions`` says
       ``max``). With at least ``n_min_peers`` peers, the trial stops when its value at
       ``s`` is more than ``margin`` below the ``percentile``-th percentile (numpy's
       linear interpolation) of their values at ``s``. A trial that is better than the
       others on size or latency has few peers, so it is kept: it may be on the front with
       a lower accuracy.
    2. **Cannot meet the bar.** With ``min_value`` set (the metric an accuracy
       constraint needs: baseline - allowed drop), it stops when
       ``value(s) + max(0, largest gain) + margin < min_value``, where the largest gain is
       ``final - value(s)`` over the complete trials whose value at ``s`` was no higher
       than this trial's and that ran at least as many steps as this one will (none: no
       stop).
    3. **Cannot add to the front.** With ``min_hypervolume_gain`` set, its final value
       is predicted from the ``n_neighbors`` complete trials closest to it in size (the
       measures both know, e.g. ``params_nonzero``, compared on a log scale; ties by
       value at ``s``) that reported ``s`` and its last step ``L``
       (``RunningTrial.n_steps``; without it rule 3 does not stop): each predicts its
       own value at ``L`` plus the share ``s / L`` of the trial's lead over it at ``s``;
       with ``size_slope``, plus the rest, ``1 - s / L``, of what the size difference is
       worth (the least-squares slope of the complete trials' final values over log
       size, when positive and fitted on at least 3 sizes), so that a model larger or
       smaller than its neighbours is not expected to end where they did. Right after
       pruning (``s = 0``) the damage says little about what fine-tuning recovers, so
       the prediction is what models of that size reached; by the last step the
       trial's own curve is all that counts. The expected final value is the
       ``neighbor_percentile``-th percentile of these predictions (50: the median, 100:
       the most optimistic), at least ``value(s)``, plus ``margin``. Its point is
       ``RunningTrial.to_point(expected)``; an axis not measured yet (latency) is
       estimated as the worst value among the complete trials that are no worse than it
       on the measures both know (a model with no more parameters is no slower). It stops
       when that point would add less than ``min_hypervolume_gain`` of the hypervolume of
       the front (the feasible points among ``TrialHistory.point``; ``reference``). A
       front is crowded where the sampler keeps proposing, so this rule stops most trials
       that would only refine a part of the front already well covered, often before
       they fine-tune (step 0).

    No stop is taken at a trial's last step (``RunningTrial.n_steps``).

    Args:
        percentile: in [0, 100]; 25 stops trials in the bottom quarter of their peers.
        n_startup_trials: complete trials needed before any stop.
        n_warmup_steps: steps below this are never stopped at (the default, 2, lets one
            fine-tune epoch pass: one epoch's accuracy jitters by about a point).
        n_min_peers: peers needed for rule 1.
        min_value: metric value a trial must still be able to reach (rule 2), or None.
        margin: how far behind is clearly behind, in metric units, for every rule.
        directions: ``{measure: "min" | "max"}`` for the ``objectives`` compared.
        min_hypervolume_gain: fraction of the front's hypervolume a trial must be
            expected to add (rule 3), or None (rule 3 off).
        n_neighbors: complete trials of the closest size that predict a trial's final
            value (rule 3).
        neighbor_percentile: in [0, 100], the percentile of their predictions that rule 3
            expects (higher is more optimistic: fewer stops).
        size_slope: rule 3 corrects each neighbour's prediction for the size difference:
            fewer stops of models larger than their neighbours (less hypervolume lost,
            fewer epochs saved).
        reference: the hypervolume's reference point (rule 3).

    Example:
        >>> done = [TrialHistory(i, TrialState.COMPLETE, {1: v}) for i, v in enumerate([0.90, 0.92, 0.94, 0.96])]
        >>> ParetoTrialPruner(n_warmup_steps=0).should_stop(RunningTrial(4, {1: 0.80}), done)
        True
    """

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
        _check_option("percentile", percentile, float, 0.0, 100.0)
        _check_option("n_startup_trials", n_startup_trials, int, 0)
        _check_option("n_warmup_steps", n_warmup_steps, int, 0)
        _check_option("n_min_peers", n_min_peers, int, 1)
        _check_option("margin", margin, float, 0.0)
        _check_option("n_neighbors", n_neighbors, int, 1)
        _check_option("neighbor_percentile", neighbor_percentile, float, 0.0, 100.0)
        _check_option("size_slope", size_slope, bool)
        if min_hypervolume_gain is not None:
            _check_option("min_hypervolume_gain", min_hypervolume_gain, float, 0.0, 1.0)
        if min_value is not None and not (isinstance(min_value, (int, float)) and math.isfinite(min_value)):
            raise ConfigError(f"min_value must be a finite number or None, but got min_value={min_value!r}.")
        directions = dict(directions or {})
        for name, direction in directions.items():
            if direction not in ("min", "max"):
                raise ConfigError(f"directions[{name!r}] must be min or max, but got {direction!r}.")
        self.percentile = float(percentile)
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps
        self.n_min_peers = n_min_peers
        self.min_value = None if min_value is None else float(min_value)
        self.margin = float(margin)
        self.directions = directions
        self.min_hypervolume_gain = None if min_hypervolume_gain is None else float(min_hypervolume_gain)
        self.n_neighbors = n_neighbors
        self.neighbor_percentile = float(neighbor_percentile)
        self.size_slope = size_slope
        self.reference = None if reference is None else np.asarray(reference, dtype=float)

    def should_stop(self, trial: RunningTrial, history: Sequence[TrialHistory]) -> bool:
        stop, self.last_reason = self._decide(trial, history)
        return stop

    def _decide(self, trial: RunningTrial, history: Sequence[TrialHistory]) -> tuple[bool, str]:
        step = trial.step
        if step is None:
            return False, "no report yet"
        value = trial.curve[step]
        if not math.isfinite(value):
            return False, f"value {value} at step {step} is not finite"
        if trial.n_steps is not None and step >= trial.n_steps:
            return False, f"step {step} is the last"
        if step < self.n_warmup_steps:
            return False, f"step {step} is a warm-up step"
        finished = [
            h
            for h in history
            if h.number != trial.number and h.state in (TrialState.COMPLETE, TrialState.PRUNED)
        ]
        complete = [h for h in finished if h.state == TrialState.COMPLETE]
        if len(complete) < self.n_startup_trials:
            return False, f"{len(complete)} of {self.n_startup_trials} startup trials complete"

        if self.min_value is not None:
            # gains only of trials that were no better at this step and ran at least as long
            # as this one will: one far behind has more to recover than the leaders showed
            # (a 90%-pruned model gains 10 points, a 50%-pruned one 1), and more epochs
            # recover more; with no such trial there is no evidence to stop on
            last = trial.n_steps or step
            gains = [
                h.final_value - h.curve[step]
                for h in complete
                if step in h.curve and h.curve[step] <= value and max(h.curve) >= last
                and math.isfinite(h.final_value - h.curve[step])
            ]
            if gains:
                best_case = value + max(0.0, max(gains)) + self.margin
                if best_case < self.min_value:
                    return True, (
                        f"cannot reach {self.min_value:.4g}: {value:.4g} at step {step} "
                        f"+ largest later gain {max(0.0, max(gains)):.4g} + margin {self.margin:.4g}"
                    )

        if self.min_hypervolume_gain is not None and trial.to_point is not None:
            adds = self._hypervolume_gain(trial, complete)
            if adds is not None and adds[0] < self.min_hypervolume_gain:
                return True, (
                    f"expected final {adds[1]:.4g} (at step {step}: {value:.4g}) would add "
                    f"{100 * adds[0]:.3g}% to the front's hypervolume, less than {100 * self.min_hypervolume_gain:g}%"
                )

        peers = [
            h.curve[step]
            for h in finished
            if step in h.curve
            and math.isfinite(h.curve[step])
            and self._no_worse(h.objectives, trial.objectives)
        ]
        if len(peers) < self.n_min_peers:
            return False, f"{len(peers)} peers at step {step}, {self.n_min_peers} needed"
        threshold = float(np.percentile(peers, self.percentile))
        if value + self.margin < threshold:
            return True, (
                f"{value:.4g} at step {step} is more than {self.margin:.4g} below the "
                f"{self.percentile:g}th percentile {threshold:.4g} of {len(peers)} peers"
            )
        return False, f"{value:.4g} at step {step} is not more than {self.margin:.4g} below {threshold:.4g} ({len(peers)} peers)"

    def _hypervolume_gain(self, trial: RunningTrial, complete: Sequence[TrialHistory]) -> tuple[float, float] | None:
        """(fraction of the front's hypervolume the trial is expected to add, its expected
        final value), or None when the finished trials give no evidence (rule 3)."""
        if self.reference is None:
            raise TypeError("min_hypervolume_gain needs the hypervolume's reference point (reference=...).")
        measured = [h for h in complete if h.point is not None]
        on_front = [h for h in measured if h.feasible]
        expected = self._expected_final(trial, complete) if on_front else None
        if expected is None:
            return None
        point = np.asarray(trial.to_point(expected), dtype=float)
        unknown = np.isnan(point)
        if unknown.any():  # e.g. latency: no better than that of smaller models
            smaller = [h.point for h in measured if self._no_worse(h.objectives, trial.objectives)]
            if not smaller:
                return None
            point[unknown] = np.max(np.asarray(smaller, dtype=float)[:, unknown], axis=0)
        points = np.asarray([h.point for h in on_front], dtype=float)
        front = points[pareto_front(points)]
        now = hypervolume(front, self.reference)
        if not now > 0:
            return None
        return (hypervolume(np.vstack([front, point]), self.reference) - now) / now, expected

    def _expected_final(self, trial: RunningTrial, complete: Sequence[TrialHistory]) -> float | None:
        """Rule 3's expected final value: predicted by the complete trials closest in size
        (None without a budget, ``RunningTrial.n_steps``, left to run, or trials that reached it)."""
        step, last = trial.step, trial.n_steps
        if last is None or step >= last:
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

    def _no_worse(self, peer: Mapping[str, float], candidate: Mapping[str, float]) -> bool:
        """True when ``peer`` is at least as good as ``candidate`` on every shared objective."""
        for name in peer.keys() & candidate.keys():
            if self.directions.get(name, "min") == "max":
                if not peer[name] >= candidate[name]:
                    return False
            elif not peer[name] <= candidate[name]:
                return False
        return True


class OptunaTrialPruner(TrialPruner):
    """One of Optuna's pruners, for single-objective studies on the task metric.

    The study must be created with :meth:`study_pruner`; :meth:`should_stop` reports the
    trial's latest value through ``RunningTrial.optuna_trial`` (``trial.report``) and
    returns ``trial.should_prune()``. In a minimised study (objective ``accuracy_drop``)
    the metric is reported negated, so that lower is better there as Optuna expects.
    History is not used: Optuna reads the finished trials from the study.
    """

    def __init__(self, pruner: Any, *, maximize: bool = True) -> None:
        self.pruner = pruner
        self.maximize = maximize

    def study_pruner(self) -> Any:
        return self.pruner

    def should_stop(self, trial: RunningTrial, history: Sequence[TrialHistory]) -> bool:
        if trial.optuna_trial is None:
            raise TypeError(
                f"{type(self.pruner).__name__} needs RunningTrial.optuna_trial (the driver-side "
                "optuna trial) to report to."
            )
        step = trial.step
        if step is None:
            self.last_reason = "no report yet"
            return False
        value = trial.curve[step]
        trial.optuna_trial.report(value if self.maximize else -value, step)
        if trial.n_steps is not None and step >= trial.n_steps:
            self.last_reason = f"step {step} is the last"
            return False
        stop = bool(trial.optuna_trial.should_prune())
        self.last_reason = f"{type(self.pruner).__name__} says {'stop' if stop else 'continue'}"
        return stop


@dataclass(frozen=True)
class TrialPrunerConfig:
    """A trial pruner by name with its options, as written in the search space."""

    name: str = "none"
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}


# name -> {option: (type, minimum, maximum)} (a bool option: (bool,)); "int|auto" also takes the string "auto".
_OPTIONS: dict[str, dict[str, tuple[Any, ...]]] = {
    "none": {},
    "median": {
        "n_startup_trials": (int, 0, None),
        "n_warmup_steps": (int, 0, None),
        "interval_steps": (int, 1, None),
        "n_min_trials": (int, 1, None),
    },
    "hyperband": {
        "min_resource": (int, 1, None),
        "max_resource": ("int|auto", 1, None),
        "reduction_factor": (int, 2, None),
        "bootstrap_count": (int, 0, None),
    },
    "successive_halving": {
        "min_resource": ("int|auto", 1, None),
        "reduction_factor": (int, 2, None),
        "min_early_stopping_rate": (int, 0, None),
        "bootstrap_count": (int, 0, None),
    },
    "pareto": {
        "percentile": (float, 0.0, 100.0),
        "n_startup_trials": (int, 0, None),
        "n_warmup_steps": (int, 0, None),
        "n_min_peers": (int, 1, None),
        "margin": (float, 0.0, None),
        "min_hypervolume_gain": (float, 0.0, 1.0),
        "n_neighbors": (int, 1, None),
        "neighbor_percentile": (float, 0.0, 100.0),
        "size_slope": (bool,),
    },
}
_SINGLE_OBJECTIVE = ("median", "hyperband", "successive_halving")

#: trial pruner names accepted in a search space
TRIAL_PRUNERS = tuple(_OPTIONS)


def _check_option(name: str, value: Any, kind: Any, low: float = 0.0, high: float | None = None) -> None:
    """``value`` is of ``kind`` (bounds ``[low, high]`` for numbers; none for bool)."""
    if kind == "int|auto" and value == "auto":
        return
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, but got {name}={value!r}.")
        return
    if kind in (int, "int|auto"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        what = "an integer" + (" or 'auto'" if kind == "int|auto" else "")
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        what = "a number"
    if ok and value >= low and (high is None or value <= high):
        return
    bounds = f">= {low:g}" if high is None else f"in [{low:g}, {high:g}]"
    raise ConfigError(f"{name} must be {what} {bounds}, but got {name}={value!r}.")


def make_trial_pruner(
    config: TrialPrunerConfig,
    n_objectives: int,
    min_value: float | None = None,
    *,
    directions: Mapping[str, str] | None = None,
    study_direction: str = "maximize",
    reference: Sequence[float] | None = None,
) -> TrialPruner:
    """Build the trial pruner a search space names.

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
        ``HyperbandPruner`` or ``SuccessiveHalvingPruner``. All answer ``should_stop``;
        create the study with ``pruner=result.study_pruner()``.

    Raises:
        ConfigError: unknown name or option, a bad option value, or a pruner that does
            not fit the number of objectives.

    Example:
        >>> make_trial_pruner(TrialPrunerConfig("pareto", {"percentile": 50}), 3).percentile
        50.0
    """
    name = config.name
    if name not in _OPTIONS:
        raise ConfigError(f"{name!r} is not a trial pruner; allowed: {', '.join(TRIAL_PRUNERS)}.")
    if name in _SINGLE_OBJECTIVE and n_objectives != 1:
        fitting = [n for n in TRIAL_PRUNERS if n not in _SINGLE_OBJECTIVE]
        raise ConfigError(
            f"{name} is for one objective, but the space has {n_objectives}; "
            f"allowed with {n_objectives} objectives: {', '.join(fitting)}."
        )
    if name == "pareto" and n_objectives < 2:
        raise ConfigError(
            "pareto compares trials on their other objectives, so it needs two or more, "
            f"but the space has {n_objectives}; allowed with one objective: none, {', '.join(_SINGLE_OBJECTIVE)}."
        )
    allowed = _OPTIONS[name]
    for key, value in config.options.items():
        if key not in allowed:
            raise ConfigError(
                f"{key!r} is not an option of {name}; allowed: {', '.join(allowed) or 'none'}."
            )
        _check_option(key, value, *allowed[key])
    options = dict(config.options)

    if name == "none":
        return NoTrialPruner()
    if name == "pareto":
        return ParetoTrialPruner(**options, min_value=min_value, directions=directions, reference=reference)
    if study_direction not in ("maximize", "minimize"):
        raise ConfigError(
            f"study_direction must be maximize or minimize, but got study_direction={study_direction!r}."
        )
    import optuna

    if name == "hyperband":
        low, high = options.get("min_resource", 1), options.get("max_resource", "auto")
        if high != "auto" and low > high:
            raise ConfigError(
                f"min_resource must be <= max_resource, but got min_resource={low}, max_resource={high}."
            )
    factory = {
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    }[name]
    try:
        pruner = factory(**options)
    except (TypeError, ValueError) as exc:  # optuna's own checks, as one line
        raise ConfigError(f"{name}: {exc}") from None
    return OptunaTrialPruner(pruner, maximize=study_direction == "maximize")
