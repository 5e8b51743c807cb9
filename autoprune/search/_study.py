"""The study: create or resume it, mark what a stopped controller left running, and
count the trials the budget sees.

The Optuna study is the record of a search. Only public Optuna APIs are used: the
``Study`` methods, and for trials left RUNNING by a controller that no longer exists
(no live ``optuna.Trial`` can be had for them) the documented storage interface
(:class:`optuna.storages.BaseStorage`) of the storage object this module opened itself.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import optuna

from autoprune.errors import ConfigError
from autoprune.recipe import Recipe
from autoprune.result import TrialStatus
from autoprune.search import _records as rec
from autoprune.search._result import redact

if TYPE_CHECKING:
    from autoprune.search._space import SearchSpace

__all__ = ["StudyHandle", "open_study", "release_session", "fail_running", "interrupted_recipes", "tally", "finished_recipes",
           "answer_repeat", "store_curve", "store_constraints", "store_curves_figure"]

RERUN_OF = "rerun_of"  # user attr: the interrupted trial a trial runs again
REPEAT_OF = rec.REPEAT_OF  # user attr: the finished trial whose recipe a trial repeats exactly


@dataclass
class StudyHandle:
    """A study and the storage it was opened on."""

    study: optuna.Study
    storage: optuna.storages.BaseStorage
    url: str


def open_study(space: SearchSpace, url: str, *, resume: bool, sampler: Any, pruner: Any) -> StudyHandle:
    """Create the study of ``space`` in the storage at ``url``, or load it to resume.

    Raises:
        ConfigError: the storage cannot be reached; the study exists and ``resume`` is
            False; it does not and ``resume`` is True; its space changed since.
    """
    try:
        storage = optuna.storages.RDBStorage(url)
        names = optuna.study.get_all_study_names(storage)
    except Exception as exc:
        raise ConfigError(f"storage={redact(url)!r} cannot be reached: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    name = space.name
    if name in names:
        if not resume:
            raise ConfigError(
                f"study {name!r} already exists in {redact(url)}; pass --resume to "
                f"continue it or --out DIR for a new run."
            )
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
        _check_same_search(study, space)
        stored = study.user_attrs.get("space_fingerprint")
        if stored != space.fingerprint():
            raise ConfigError(
                f"cannot resume study {name!r}: its search space changed since it was created "
                f"(fingerprint {stored} != {space.fingerprint()}); use the original space or --out DIR."
            )
        if not study.metric_names:  # a study created by an earlier version
            _set_metric_names(study, space)
        study.set_user_attr("space", space.to_dict())  # its budget now: what --resume alone continues
        return StudyHandle(study, storage, url)
    if resume:
        raise ConfigError(f"--resume: no study {name!r} in {redact(url)} to resume.")
    directions = ["maximize" if o.direction == "max" else "minimize" for o in space.objectives]
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner,
                                directions=directions)
    # optuna-dashboard and trials_dataframe() show these instead of "Objective 0, 1, 2"
    _set_metric_names(study, space)
    study.set_user_attr("space", space.to_dict())
    study.set_user_attr("space_fingerprint", space.fingerprint())
    return StudyHandle(study, storage, url)


def _set_metric_names(study: optuna.Study, space: SearchSpace) -> None:
    with warnings.catch_warnings():  # experimental since Optuna 3.2, and what the dashboard reads
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([o.name for o in space.objectives])


def _check_same_search(study: optuna.Study, space: SearchSpace) -> None:
    """A resume must search what the study searched: same task, same seed (the seed makes
    the baseline every stored trial is compared with)."""
    stored = study.user_attrs.get("space")
    if not isinstance(stored, dict):
        return
    for key, flag in (("task", "--task"), ("seed", "--seed")):
        if key in stored and stored[key] != getattr(space, key):
            raise ConfigError(
                f"cannot resume study {study.study_name!r} with {key}={getattr(space, key)!r}: it was searched with "
                f"{key}={stored[key]!r}; allowed: {flag} {stored[key]} (or no {flag}), or --out DIR for a new run."
            )


def release_session(handle: StudyHandle) -> None:
    """Roll back the storage's open transaction, if any.

    Ctrl-C can land inside a storage write (``study.tell``). Optuna rolls back on database
    errors but not on KeyboardInterrupt, so the session would keep SQLite's write lock and
    every later write of this process (marking the trial interrupted, the records) would
    fail with "database is locked" instead of the search exiting as interrupted.
    """
    session = getattr(handle.storage, "scoped_session", None)
    if session is not None:
        session.remove()


def fail_running(handle: StudyHandle, reason: str) -> None:
    """Mark trials still RUNNING (or enqueued) as FAIL + interrupted, so resume reruns them.

    Such a trial's ``optuna.Trial`` died with the process that asked it, so its user
    attributes are set through the storage interface by trial id (``study.tell`` cannot
    set them, and refuses WAITING trials); the state is set the same way, as before, so
    the sampler sees no tell for a trial it never got a result of.
    """
    storage = handle.storage
    study_id = storage.get_study_id_from_name(handle.study.study_name)
    for t in handle.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,
                                                               optuna.trial.TrialState.WAITING)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        storage.set_trial_user_attr(trial_id, rec.INTERRUPTED, True)
        storage.set_trial_user_attr(trial_id, rec.REASON, reason)
        storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)


def interrupted_recipes(trials: Sequence[optuna.trial.FrozenTrial]) -> list[tuple[int, Recipe]]:
    """Interrupted trials not yet run again (a trial stopped before its recipe was drawn
    has nothing to rerun)."""
    rerun = {t.user_attrs.get(RERUN_OF) for t in trials}
    return [
        (t.number, Recipe.from_dict(t.user_attrs[rec.RECIPE]))
        for t in trials
        if TrialStatus.of_optuna(t.state) is TrialStatus.FAILED and t.user_attrs.get(rec.INTERRUPTED)
        and t.number not in rerun and rec.RECIPE in t.user_attrs
    ]


def tally(trials: Sequence[optuna.trial.FrozenTrial]) -> tuple[int, int]:
    """(finished, failed) trials for the budget: complete or pruned, and failed other than
    by an interruption."""
    states = [TrialStatus.of_optuna(t.state) for t in trials]
    finished = sum(1 for s in states if s in (TrialStatus.COMPLETE, TrialStatus.PRUNED))
    failed = sum(1 for s, t in zip(states, trials) if s is TrialStatus.FAILED and not t.user_attrs.get(rec.INTERRUPTED))
    return finished, failed


def _trial_id(handle: StudyHandle, number: int) -> int:
    """The storage's id of trial ``number`` (what the storage interface takes)."""
    study_id = handle.storage.get_study_id_from_name(handle.study.study_name)
    return handle.storage.get_trial_id_from_study_id_trial_number(study_id, number)


def store_curve(handle: StudyHandle, number: int, curve: Sequence[Sequence[float]],
                state: TrialStatus | None = None) -> bool:
    """A trial's fine-tune curve as its intermediate values (step: fine-tune step), which
    optuna-dashboard lists on the trial's page and plots for a single-objective study.

    ``state`` is the trial's final state, or None while it runs. In a single-objective
    study the curve is stored as it comes (a step already reported by an Optuna pruner
    through ``Trial.report`` is left as it is). A multi-objective study gets the curve of a
    COMPLETE or FAILED trial only, when it finishes: Optuna's TPE ranks a PRUNED trial by
    its last intermediate value against ``study.direction``, which a multi-objective study
    does not have (``Trial.report`` is refused there for that reason), so a stopped
    trial's curve stays in its ``curve`` user attribute and the curves figure.

    Returns:
        Whether the curve was stored.
    """
    if len(handle.study.directions) > 1 and state not in (TrialStatus.COMPLETE, TrialStatus.FAILED):
        return False
    storage, trial_id = handle.storage, _trial_id(handle, number)
    known = storage.get_trial(trial_id).intermediate_values
    for step, value in curve:
        if int(step) not in known and math.isfinite(float(value)):
            storage.set_trial_intermediate_value(trial_id, int(step), float(value))
    return True


# The key optuna-dashboard 0.21 reads constraints from (``constraints_func``'s list);
# Optuna 5's ``trial.set_constraint`` writes one "constraints:<name>" key per constraint.
_DASHBOARD_CONSTRAINTS = "constraints"


def store_constraints(handle: StudyHandle, trial: optuna.Trial, names: Sequence[str],
                      violations: Sequence[float]) -> None:
    """Set the constraint values the Optuna 5 way, and as the list optuna-dashboard reads.

    With both, ``trial.constraints`` lists each value twice (by name and by position):
    feasibility (all values <= 0) and the samplers' ordering of violations are the same.
    """
    for name, violation in zip(names, violations):
        trial.set_constraint(name, violation)
    handle.storage.set_trial_system_attr(_trial_id(handle, trial.number), _DASHBOARD_CONSTRAINTS,
                                         [float(v) for v in violations])


CURVES_FIGURE = "finetune-curves"  # the figure's id in optuna-dashboard


def store_curves_figure(study: optuna.Study, records: Sequence[rec.TrialRecord]) -> bool:
    """Every trial's fine-tune curve as one plotly figure on the study, which
    optuna-dashboard shows on the study's page (its own intermediate-value plot is for
    single-objective studies only). Needs ``optuna-dashboard`` and ``plotly``
    (``pip install 'autoprune[dashboard]'``); without them nothing is stored.

    Returns:
        Whether the figure was stored (multi-objective studies only).
    """
    import importlib.util

    if len(study.directions) == 1:  # the dashboard plots a single objective's curves itself
        return False
    if importlib.util.find_spec("optuna_dashboard") is None or importlib.util.find_spec("plotly") is None:
        return False
    import plotly.graph_objects as go
    from optuna_dashboard import save_plotly_graph_object

    figure = go.Figure()
    for r in records:
        if not r.curve:
            continue
        stopped = r.state == TrialStatus.PRUNED.value
        figure.add_trace(go.Scatter(
            x=[p[0] for p in r.curve], y=[p[1] for p in r.curve], mode="lines+markers",
            name=f"trial {r.number}" + (" (stopped)" if stopped else ""),
            line={"dash": "dot", "color": "#bbbbbb"} if stopped else {},
        ))
    figure.update_layout(title="Fine-tune curves: accuracy after pruning (step 0) and each epoch",
                         xaxis={"title": "fine-tune step", "dtick": 1}, yaxis_title="accuracy", template="plotly_white")
    save_plotly_graph_object(study, figure, graph_object_id=CURVES_FIGURE)
    return True


def _recipe_key(recipe: dict[str, Any]) -> str:
    import json

    return json.dumps(recipe, sort_keys=True, default=str)


def finished_recipes(trials: Sequence[optuna.trial.FrozenTrial]) -> dict[str, optuna.trial.FrozenTrial]:
    """Complete and pruned trials by their recipe (first of each; repeats excluded)."""
    out: dict[str, optuna.trial.FrozenTrial] = {}
    for t in trials:
        status = TrialStatus.of_optuna(t.state)
        if status in (TrialStatus.COMPLETE, TrialStatus.PRUNED) and rec.RECIPE in t.user_attrs \
                and REPEAT_OF not in t.user_attrs:
            out.setdefault(_recipe_key(t.user_attrs[rec.RECIPE]), t)
    return out


def answer_repeat(handle: StudyHandle, trial: optuna.Trial, recipe: Recipe, done: dict[str, optuna.trial.FrozenTrial],
                  space: SearchSpace, backend: Any) -> int | None:
    """Answer ``trial`` from the study when its recipe is exactly a finished trial's: the
    same measures and state, nothing run again. Returns that trial's number, or None
    (a new recipe: run it)."""
    from autoprune.search._space import constraint_violations

    prior = done.get(_recipe_key(recipe.to_dict()))
    if prior is None:
        return None
    trial.set_user_attr(rec.RECIPE, recipe.to_dict())
    trial.set_user_attr(REPEAT_OF, prior.number)
    for key in (rec.MEASURES, rec.CURVE):
        if key in prior.user_attrs:
            trial.set_user_attr(key, prior.user_attrs[key])
    if TrialStatus.of_optuna(prior.state) is TrialStatus.COMPLETE and prior.values is not None:
        measures = prior.user_attrs.get(rec.MEASURES, {})
        store_constraints(handle, trial, [str(c) for c in space.constraints], constraint_violations(space, measures))
        backend.tell_complete(trial, list(prior.values), measures)
    else:
        trial.set_user_attr(rec.REASON, f"the recipe of trial {prior.number}, which was stopped early")
        backend.tell_stopped(trial, pruned=True)
    return prior.number
