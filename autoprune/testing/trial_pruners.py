"""The contract every trial pruner passes (:func:`check_trial_pruner`).

A plug-in runs it on its own pruner::

    from autoprune.testing.trial_pruners import check_trial_pruner

    def test_my_trial_pruner():
        check_trial_pruner(MyTrialPruner())
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable, Sequence

from autoprune.search.trial_pruners import Decision, RunningTrial, TrialHistory, TrialPruner

__all__ = ["check_trial_pruner", "contract_history"]

_BASE = 0.95  # the dense model's metric the synthetic points are measured from
_STUDY_NAME = "autoprune-trial-pruner-contract"  # one name: Hyperband brackets hash it


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise AssertionError(message)


def _to_point(params: float) -> Callable[[float], Sequence[float]]:
    return lambda final: (100 * (_BASE - final), params / 1000)


def contract_history(nan: bool = False) -> list[TrialHistory]:
    """A small study as a trial pruner sees it: complete trials of several sizes with their
    curves from step 0 and points (accuracy points below 0.95, size ratio), one pruned,
    one failed and one running trial; with ``nan``, NaN values in curves and a point."""
    history = []
    for i, (params, final) in enumerate([(200, 0.90), (400, 0.93), (600, 0.94), (800, 0.945), (300, 0.92),
                                         (500, 0.935)]):
        curve = {0: final - 0.3, 1: final - 0.05, 2: final - 0.01, 3: final}
        point: tuple[float, ...] = (100 * (_BASE - final), params / 1000)
        if nan and i == 1:
            curve[1] = math.nan
        if nan and i == 2:
            point = (math.nan, params / 1000)
        history.append(TrialHistory(i, "complete", curve, {"params_nonzero": params}, point=point))
    history += [
        TrialHistory(6, "pruned", {0: 0.3, 1: math.nan if nan else 0.5}, {"params_nonzero": 250}),
        TrialHistory(7, "failed"),
        TrialHistory(8, "running", {0: 0.6}, {"params_nonzero": 700}),
    ]
    return history


def _situations(nan: bool = False) -> list[tuple[str, dict[str, Any], list[TrialHistory]]]:
    """(what it is, the running trial's fields, the history) for every check."""
    full = contract_history(nan)
    value = math.nan if nan else 0.5
    return [
        ("no report yet, empty history", {"curve": {}}, []),
        ("a step-0 report, empty history", {"curve": {0: value}}, []),
        ("a step-0 report", {"curve": {0: value}}, full),
        ("a step-1 report far behind", {"curve": {0: 0.2, 1: value}}, full),
        ("a step-2 report level with its peers", {"curve": {0: 0.6, 1: 0.9, 2: 0.93}}, full),
    ]


def _decide(pruner: TrialPruner, number: int, fields: dict[str, Any], history: Sequence[TrialHistory]) -> Decision:
    """``pruner.decide`` on a fresh trial; through a fresh in-memory study when the pruner
    has an Optuna pruner (the finished trials of ``history`` told to it first)."""
    fields = {"objectives": {"params_nonzero": 350}, "n_steps": 3, "to_point": _to_point(350), **fields}
    study_pruner = pruner.study_pruner()
    if study_pruner is None:
        return pruner.decide(RunningTrial(number, **fields), history)
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        maximize = getattr(pruner, "maximize", True)
        sign = 1.0 if maximize else -1.0
        study = optuna.create_study(study_name=_STUDY_NAME, pruner=study_pruner,
                                    direction="maximize" if maximize else "minimize")
        for h in history:
            if h.state.value == "complete" and h.curve:
                done = study.ask()
                for step, v in sorted(h.curve.items()):
                    done.report(sign * v, step)
                study.tell(done, sign * h.curve[max(h.curve)] if math.isfinite(h.curve[max(h.curve)]) else 0.0)
        trial = study.ask()
        return pruner.decide(RunningTrial(trial.number, **fields, optuna_trial=trial), history)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _check_decision(decision: Any, what: str) -> None:
    _require(isinstance(decision, Decision), f"decide() must return a Decision ({what}), but got {decision!r}.")
    _require(isinstance(decision.stop, bool), f"Decision.stop must be a bool ({what}), but got {decision.stop!r}.")
    _require(isinstance(decision.reason, str) and isinstance(decision.rule, str),
             f"Decision.reason and .rule must be strings ({what}), but got {decision!r}.")
    if decision.stop:
        _require(decision.rule != "", f"a stop must name its rule ({what}), but got {decision!r}.")
    else:
        _require(decision.rule == "", f"a decision to go on names no rule ({what}), but got {decision!r}.")


def check_trial_pruner(pruner: TrialPruner) -> None:
    """Raise AssertionError unless ``pruner`` keeps the trial pruner contract.

    - it is a :class:`~autoprune.search.trial_pruners.TrialPruner` and its
      ``study_pruner()`` is None or an ``optuna.pruners.BasePruner``;
    - ``decide`` returns a :class:`~autoprune.search.trial_pruners.Decision` (a bool
      ``stop``, a ``reason``, a ``rule`` named exactly when it stops) before any report,
      on an empty history, on a step-0 report and on a study of finished trials;
    - it never raises on NaN values (in the trial's curve, the others' curves, a point);
    - it never stops a trial that has not reported, nor one at its last step;
    - it is deterministic (the same inputs give the same decision) and changes neither
      the trial nor the history it is given.

    Example:
        >>> from autoprune.search.trial_pruners import ParetoTrialPruner
        >>> check_trial_pruner(ParetoTrialPruner(n_warmup_steps=0, min_hypervolume_gain=0.1, reference=(5, 1)))
    """
    _require(isinstance(pruner, TrialPruner), f"a trial pruner must subclass TrialPruner, but got {pruner!r}.")
    study_pruner = pruner.study_pruner()
    if study_pruner is not None:
        import optuna

        _require(isinstance(study_pruner, optuna.pruners.BasePruner),
                 f"study_pruner() must return None or an optuna pruner, but got {study_pruner!r}.")
    for nan in (False, True):
        for what, fields, history in _situations(nan):
            what = what + (" (NaN values)" if nan else "")
            before = copy.deepcopy((fields["curve"], history))
            try:
                first = _decide(pruner, 9, dict(fields), history)
                again = _decide(pruner, 9, dict(fields), history)
            except Exception as exc:  # the contract: a decision, never an error
                raise AssertionError(f"decide() raised on {what}: {exc!r}") from exc
            _check_decision(first, what)
            _require(first == again, f"decide() must be deterministic ({what}), but got {first!r} then {again!r}.")
            _require(repr(before) == repr((fields["curve"], history)), f"decide() changed its inputs ({what}).")
            if not fields["curve"]:
                _require(not first.stop, f"a trial that has not reported must go on, but got {first!r}.")
    last = _decide(pruner, 9, {"curve": {0: 0.1, 1: 0.1, 2: 0.1, 3: 0.1}}, contract_history())
    _check_decision(last, "the last step")
    _require(not last.stop, f"a trial at its last step must go on (nothing is saved by stopping), but got {last!r}.")
