"""What the study stores for Optuna's tools: curves as intermediate values, constraints
where optuna-dashboard reads them, objective names."""

from __future__ import annotations

import optuna
import pytest

from autoprune.result import TrialStatus
from autoprune.search import _study
from autoprune.search._records import TrialRecord

COMPLETE, PRUNED = TrialStatus.COMPLETE, TrialStatus.PRUNED


def _handle(study: optuna.Study, storage: optuna.storages.BaseStorage) -> _study.StudyHandle:
    return _study.StudyHandle(study, storage, "memory")


def _study_of(directions: int) -> _study.StudyHandle:
    storage = optuna.storages.InMemoryStorage()
    return _handle(optuna.create_study(directions=["maximize"] * directions, storage=storage), storage)


def test_a_multi_objective_trial_keeps_its_curve_as_intermediate_values_when_it_completes():
    handle = _study_of(3)
    trial = handle.study.ask()
    assert not _study.store_curve(handle, trial.number, [[0, 0.5]])  # running: not yet
    assert _study.store_curve(handle, trial.number, [[0, 0.5], [1, 0.9], [2, float("nan")]], state=COMPLETE)
    _study.store_curve(handle, trial.number, [[1, 0.1], [2, 0.95]], state=COMPLETE)  # a step already stored stays
    assert handle.study.trials[0].intermediate_values == {0: 0.5, 1: 0.9, 2: 0.95}


def test_tpe_still_samples_a_multi_objective_study_with_stopped_trials():
    # TPE ranks a PRUNED trial with intermediate values by study.direction, which raises
    # in a multi-objective study: a stopped trial's curve is not stored there
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(directions=["maximize", "minimize"], storage=storage,
                                sampler=optuna.samplers.TPESampler(n_startup_trials=2, seed=0, multivariate=True))
    for i in range(4):
        trial = study.ask()
        x = trial.suggest_float("x", 0, 1)
        pruned = i % 2 == 1
        _study.store_curve(_handle(study, storage), trial.number, [[0, x]], state=PRUNED if pruned else COMPLETE)
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, [x, 1 - x])
    study.ask().suggest_float("x", 0, 1)  # raised RuntimeError when pruned trials had intermediate values
    assert [bool(t.intermediate_values) for t in study.trials[:4]] == [True, False, True, False]


def test_an_optuna_pruners_report_is_left_as_it_is():
    handle = _study_of(1)
    trial = handle.study.ask()
    trial.report(-0.5, 0)  # e.g. a minimised objective reports the negated accuracy
    assert _study.store_curve(handle, trial.number, [[0, 0.5], [1, 0.9]])  # single-objective: live
    assert handle.study.trials[0].intermediate_values == {0: -0.5, 1: 0.9}


def test_constraints_are_named_for_optuna_and_listed_for_the_dashboard():
    handle = _study_of(2)
    trial = handle.study.ask()
    _study.store_constraints(handle, trial, ["accuracy_drop <= 0.02", "latency_ms <= 2"], [-0.01, 0.5])
    frozen = handle.study.trials[0]
    assert frozen.system_attrs["constraints"] == [-0.01, 0.5]
    assert frozen.system_attrs["constraints:latency_ms <= 2"] == 0.5


def test_the_curves_figure_is_stored_for_multi_objective_studies_only():
    pytest.importorskip("optuna_dashboard")
    pytest.importorskip("plotly")
    records = [TrialRecord(0, "complete", {}, curve=[[0, 0.5], [1, 0.9]]),
               TrialRecord(1, "pruned", {}, curve=[[0, 0.2]])]
    single, multi = _study_of(1), _study_of(2)
    assert not _study.store_curves_figure(single.study, records)
    assert _study.store_curves_figure(multi.study, records)
    attrs = multi.storage.get_study_system_attrs(multi.storage.get_study_id_from_name(multi.study.study_name))
    text = "".join(v for k, v in sorted(attrs.items()) if k.startswith("dashboard:plot_data:finetune-curves"))
    assert '"trial 1 (stopped)"' in text and '"trial 0"' in text
