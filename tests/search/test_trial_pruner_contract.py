"""Every registered trial pruner, and each rule of the Pareto pruner alone, keeps the contract."""

from __future__ import annotations

import math
from typing import Any

import pytest

from autoprune.registry import TRIAL_PRUNERS
from autoprune.search.trial_pruners import (
    AccuracyConstraintPruner,
    Decision,
    FirstStop,
    HypervolumeGainPruner,
    NoTrialPruner,
    ParetoTrialPruner,
    PeerPercentilePruner,
    RunningTrial,
    TrialPruner,
    TrialPrunerConfig,
    make_trial_pruner,
)
from autoprune.testing.trial_pruners import check_trial_pruner, contract_history


def _registered(name: str) -> TrialPruner:
    n_objectives = 1 if TRIAL_PRUNERS.get(name).objectives_needed == "one" else 2
    return make_trial_pruner(TrialPrunerConfig(name), n_objectives, min_value=0.9, reference=(5.0, 1.0))


@pytest.mark.parametrize("name", TRIAL_PRUNERS.names())
def test_every_registered_trial_pruner_keeps_the_contract(name: str) -> None:
    check_trial_pruner(_registered(name))


EAGER = {"n_startup_trials": 0, "n_warmup_steps": 0, "margin": 0.0}


@pytest.mark.parametrize("pruner", [
    ParetoTrialPruner(**EAGER, percentile=90.0, n_min_peers=1, min_value=0.94, min_hypervolume_gain=0.5,
                      size_slope=True, n_neighbors=2, reference=(5.0, 1.0)),
    make_trial_pruner(TrialPrunerConfig("median", {"n_startup_trials": 0}), 1, study_direction="minimize"),
    make_trial_pruner(TrialPrunerConfig("successive_halving", {"min_resource": 1}), 1),
    PeerPercentilePruner(percentile=90.0, n_min_peers=1, **EAGER),
    AccuracyConstraintPruner(0.94, **EAGER),
    HypervolumeGainPruner(0.5, (5.0, 1.0), size_slope=True, **EAGER),
    FirstStop([NoTrialPruner(), PeerPercentilePruner(**EAGER)]),
], ids=lambda p: type(p).__name__)
def test_the_rules_and_eager_settings_keep_the_contract(pruner: TrialPruner) -> None:
    check_trial_pruner(pruner)


def test_the_eager_pareto_pruner_stops_on_the_contract_history_so_its_rules_ran() -> None:
    # otherwise the contract above would only have exercised the gates
    pruner = ParetoTrialPruner(**EAGER, percentile=90.0, n_min_peers=1)
    decision = pruner.decide(RunningTrial(9, {0: 0.2, 1: 0.5}, {"params_nonzero": 900}, n_steps=3), contract_history())
    assert decision.stop and decision.rule == "peer_percentile"


class _Raises(TrialPruner):
    def decide(self, trial: Any, history: Any) -> Decision:
        if trial.curve and math.isnan(trial.curve[max(trial.curve)]):
            raise ValueError("NaN")
        return Decision.go("fine")


class _Bool(TrialPruner):
    def decide(self, trial: Any, history: Any) -> Any:
        return False


class _Flips(TrialPruner):
    def __init__(self) -> None:
        self.calls = 0

    def decide(self, trial: Any, history: Any) -> Decision:
        self.calls += 1
        return Decision.go(f"call {self.calls}")


class _StopsAtTheEnd(TrialPruner):
    def decide(self, trial: Any, history: Any) -> Decision:
        return Decision.halt("always", "stop") if trial.curve else Decision.go()


class _Unnamed(TrialPruner):
    def decide(self, trial: Any, history: Any) -> Decision:
        return Decision(bool(trial.curve), "no rule named")


@pytest.mark.parametrize(("pruner", "message"), [
    (_Raises(), r"decide\(\) raised on a step-0 report, empty history \(NaN values\)"),
    (_Bool(), r"decide\(\) must return a Decision"),
    (_Flips(), r"decide\(\) must be deterministic"),
    (_StopsAtTheEnd(), r"a trial at its last step must go on"),
    (_Unnamed(), r"a stop must name its rule"),
    (object(), r"a trial pruner must subclass TrialPruner"),
])
def test_the_contract_catches_a_broken_pruner(pruner: Any, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_trial_pruner(pruner)
