"""Trial pruners driven with synthetic curves (no training), optuna-style."""

from __future__ import annotations

import optuna
import pytest

from autoprune.errors import ConfigError
from autoprune.result import TrialStatus
from autoprune.search.trial_pruners import (
    NoTrialPruner,
    OptunaTrialPruner,
    ParetoTrialPruner,
    RunningTrial,
    TrialHistory,
    TrialPrunerConfig,
    make_trial_pruner,
)

COMPLETE, PRUNED = TrialStatus.COMPLETE, TrialStatus.PRUNED


def peers(values_at_1, size=1000.0, state=COMPLETE, final_gain=0.01) -> list[TrialHistory]:
    """Finished trials with a value at step 1 and a final value ``final_gain`` higher at step 3."""
    return [
        TrialHistory(i, state, {1: v, 2: v + final_gain / 2, 3: v + final_gain}, {"size_bytes": size})
        for i, v in enumerate(values_at_1)
    ]


def candidate(value: float, size: float = 1000.0, step: int = 1, **kwargs) -> RunningTrial:
    return RunningTrial(99, {s: value for s in range(1, step + 1)}, {"size_bytes": size}, **kwargs)


PRUNER = ParetoTrialPruner(percentile=25.0, n_startup_trials=4, n_warmup_steps=0, n_min_peers=3, margin=0.0)
HISTORY = peers([0.90, 0.92, 0.94, 0.96])  # 25th percentile (linear): 0.915


def test_behind_its_peers_stops() -> None:
    decision = PRUNER.decide(candidate(0.80), HISTORY)
    assert decision.stop
    assert "below the 25th percentile 0.915 of 4 peers" in decision.reason
    assert PRUNER.decide(candidate(0.91), HISTORY).stop


def test_behind_by_no_more_than_the_margin_continues() -> None:
    lenient = ParetoTrialPruner(percentile=25.0, n_startup_trials=4, n_warmup_steps=0, n_min_peers=3, margin=0.02)
    assert not lenient.decide(candidate(0.90), HISTORY).stop  # 0.90 + 0.02 >= 0.915
    decision = lenient.decide(candidate(0.89), HISTORY)
    assert decision.stop  # 0.89 + 0.02 < 0.915
    assert "more than 0.02 below the 25th percentile" in decision.reason


def test_within_its_peers_continues() -> None:
    assert not PRUNER.decide(candidate(0.95), HISTORY).stop
    assert not PRUNER.decide(candidate(0.92), HISTORY).stop


def test_smaller_than_every_peer_has_no_peers_and_continues() -> None:
    # the peers are larger (worse), so they are not peers: it may be on the front
    decision = PRUNER.decide(candidate(0.80, size=500.0), HISTORY)
    assert not decision.stop
    assert "0 peers" in decision.reason
    # larger than every peer: they are all peers
    assert PRUNER.decide(candidate(0.80, size=2000.0), HISTORY).stop


def test_peers_need_to_be_no_worse_on_every_shared_objective() -> None:
    history = [
        TrialHistory(0, COMPLETE, {1: 0.95}, {"size_bytes": 900, "latency_ms": 2.0}),  # slower
        TrialHistory(1, COMPLETE, {1: 0.95}, {"size_bytes": 900, "latency_ms": 0.5}),
        TrialHistory(2, PRUNED, {1: 0.95}, {"size_bytes": 900}),  # latency unknown: not compared
        TrialHistory(3, COMPLETE, {1: 0.95}, {"size_bytes": 900, "latency_ms": 0.5}),
        TrialHistory(4, COMPLETE, {2: 0.99}, {"size_bytes": 900}),  # no value at step 1
    ]
    trial = RunningTrial(9, {1: 0.5}, {"size_bytes": 1000, "latency_ms": 1.0})
    decision = PRUNER.decide(trial, history)
    assert decision.stop
    assert "of 3 peers" in decision.reason
    # a maximised objective: peers must be at least as large
    maxed = ParetoTrialPruner(n_warmup_steps=0, n_startup_trials=0, directions={"sparsity_achieved": "max"})
    sparse = [TrialHistory(i, COMPLETE, {1: 0.95}, {"sparsity_achieved": 0.5}) for i in range(3)]
    assert maxed.decide(RunningTrial(9, {1: 0.5}, {"sparsity_achieved": 0.4}), sparse).stop
    assert not maxed.decide(RunningTrial(9, {1: 0.5}, {"sparsity_achieved": 0.6}), sparse).stop


def test_never_stops_before_startup_trials_warmup_or_at_the_last_step() -> None:
    pruned_only = peers([0.90, 0.92, 0.94, 0.96], state=PRUNED)
    decision = PRUNER.decide(candidate(0.10), pruned_only)
    assert not decision.stop  # 0 complete of 4
    assert "0 of 4 startup trials complete" in decision.reason
    assert not PRUNER.decide(candidate(0.10), HISTORY[:3]).stop
    warm = ParetoTrialPruner(n_warmup_steps=2)
    assert not warm.decide(candidate(0.10, step=1), HISTORY).stop  # step 1 is a warm-up step
    assert warm.decide(candidate(0.10, step=2), HISTORY).stop
    assert not PRUNER.decide(candidate(0.10, n_steps=1), HISTORY).stop  # the work is done
    assert not PRUNER.decide(RunningTrial(99, {}), HISTORY).stop


def test_too_few_peers_continues() -> None:
    few = ParetoTrialPruner(n_startup_trials=0, n_warmup_steps=0, n_min_peers=5)
    decision = few.decide(candidate(0.10), HISTORY)
    assert not decision.stop
    assert "4 peers at step 1, 5 needed" in decision.reason


def test_cannot_meet_the_accuracy_bar_stops() -> None:
    # completed trials gained at most 0.01 from step 1 to the end; margin 0.005
    history = peers([0.90, 0.92, 0.94, 0.96], size=10_000.0)  # all larger: not peers
    bar = ParetoTrialPruner(n_warmup_steps=0, min_value=0.95, margin=0.005)
    decision = bar.decide(candidate(0.934, size=500.0), history)
    assert decision.stop  # 0.934 + 0.01 + 0.005 < 0.95
    assert "cannot reach 0.95" in decision.reason
    assert not bar.decide(candidate(0.936, size=500.0), history).stop  # 0.951 >= 0.95
    # the gain is taken from complete trials only
    lucky = history + [TrialHistory(50, PRUNED, {1: 0.5, 3: 0.99})]
    assert bar.decide(candidate(0.934, size=500.0), lucky).stop
    # falling curves count as no gain, not as a loss
    falling = peers([0.90, 0.92, 0.94, 0.96], size=10_000.0, final_gain=-0.05)
    assert not bar.decide(candidate(0.946, size=500.0), falling).stop  # 0.946 + 0 + 0.005 >= 0.95


def test_the_bar_rule_extrapolates_only_from_trials_as_far_behind() -> None:
    # the finished trials started high and gained little; one far behind may gain much more
    leaders = peers([0.94, 0.96], size=10_000.0)
    bar = ParetoTrialPruner(n_startup_trials=2, n_warmup_steps=0, min_value=0.95, margin=0.005)
    assert not bar.decide(candidate(0.60, size=500.0), leaders).stop
    # once a trial that started as low has finished, its gain is the evidence
    laggard = TrialHistory(7, COMPLETE, {1: 0.55, 2: 0.70, 3: 0.80}, {"size_bytes": 10_000.0})
    assert bar.decide(candidate(0.60, size=500.0), [*leaders, laggard]).stop  # 0.60 + 0.25 + 0.005 < 0.95
    assert not bar.decide(candidate(0.70, size=500.0), [*leaders, laggard]).stop  # 0.70 + 0.25 + 0.005 >= 0.95
    # the laggard ran 3 steps: no evidence for a trial that will run 6
    assert not bar.decide(candidate(0.60, size=500.0, n_steps=6), [*leaders, laggard]).stop


def test_step_0_before_fine_tuning_is_decided_like_any_step() -> None:
    history = [TrialHistory(i, COMPLETE, {0: v, 1: v + 0.1}) for i, v in enumerate([0.50, 0.52, 0.54, 0.56])]
    assert PRUNER.decide(RunningTrial(9, {0: 0.30}), history).stop  # n_warmup_steps=0
    assert not ParetoTrialPruner(n_warmup_steps=1).decide(RunningTrial(9, {0: 0.30}), history).stop


# rule 3: accuracy (points below a 0.90 baseline) and size ratio, reference (5, 1). The
# front: A (0 points, size 0.5, 500 params) and B (2 points, size 0.2, 200 params),
# hypervolume 5 * 0.5 + 3 * 0.8 - 3 * 0.5 = 3.4. A trial at step 1 of 2 keeps half its
# lead over a neighbour: at 0.80 it is expected to end at 0.90 + (0.80 - 0.85) / 2 = 0.875
# by A, 0.88 + (0.80 - 0.83) / 2 = 0.865 by B, 0.87 by the median of both.
FRONT = [
    TrialHistory(0, COMPLETE, {1: 0.85, 2: 0.90}, {"params_nonzero": 500}, point=(0.0, 0.5)),
    TrialHistory(1, COMPLETE, {1: 0.83, 2: 0.88}, {"params_nonzero": 200}, point=(2.0, 0.2)),
]
HV_RULE = ParetoTrialPruner(n_startup_trials=2, n_warmup_steps=0, n_min_peers=10, margin=0.0,
                            min_hypervolume_gain=0.02, reference=(5.0, 1.0))


def sized(value: float, size: float, params: float = 400) -> RunningTrial:
    return RunningTrial(9, {1: value}, {"params_nonzero": params}, n_steps=2,
                        to_point=lambda final: (100 * (0.90 - final), size))


def test_a_trial_expected_to_add_too_little_hypervolume_stops() -> None:
    # expected 0.87 at size 0.4: 3 points below, inside B's [2, 5] x [0.2, 1]: adds nothing
    decision = HV_RULE.decide(sized(0.80, 0.4), FRONT)
    assert decision.stop
    assert "expected final 0.87 (at step 1: 0.8) would add 0% to the front's hypervolume, less than 2%" in decision.reason
    # at 0.84: 0.895 by A, 0.885 by B, expected 0.89 at size 0.4 adds [1, 5] x [0.4, 1] less
    # what A and B cover, 2.4 - 2.3 = 0.1, 2.94% of 3.4
    assert not HV_RULE.decide(sized(0.84, 0.4), FRONT).stop
    strict = ParetoTrialPruner(n_startup_trials=2, n_warmup_steps=0, n_min_peers=10, margin=0.0,
                               min_hypervolume_gain=0.03, reference=(5.0, 1.0))
    decision = strict.decide(sized(0.84, 0.4), FRONT)
    assert decision.stop
    assert "would add 2.94%" in decision.reason


def test_the_hypervolume_rule_predicts_from_the_trials_closest_in_size() -> None:
    nearest = ParetoTrialPruner(n_startup_trials=2, n_warmup_steps=0, n_min_peers=10, margin=0.0,
                                min_hypervolume_gain=0.5, n_neighbors=1, reference=(5.0, 1.0))
    decision = nearest.decide(sized(0.80, 0.4, params=450), FRONT)
    assert decision.stop  # A is closest
    assert "expected final 0.875 " in decision.reason
    decision = nearest.decide(sized(0.80, 0.4, params=210), FRONT)
    assert decision.stop  # B is closest
    assert "expected final 0.865 " in decision.reason
    # before fine-tuning (step 0) nothing carries over: a model of A's size is expected
    # to end where A ended, however much pruning damaged it
    front = [TrialHistory(h.number, COMPLETE, {0: 0.50, **h.curve}, h.objectives, point=h.point) for h in FRONT]
    damaged = RunningTrial(9, {0: 0.10}, {"params_nonzero": 500}, n_steps=2,
                           to_point=lambda final: (100 * (0.90 - final), 0.5))
    decision = nearest.decide(damaged, front)
    assert decision.stop
    assert "expected final 0.9 (at step 0: 0.1)" in decision.reason
    # without the trial's budget there is nothing to predict
    unbudgeted = RunningTrial(9, {1: 0.80}, {"params_nonzero": 450}, to_point=lambda final: (100 * (0.90 - final), 0.4))
    assert not nearest.decide(unbudgeted, FRONT).stop


def test_size_slope_expects_a_larger_model_than_its_neighbour_to_end_higher() -> None:
    # finals 0.80, 0.85, 0.90 at 100, 1,000, 10,000 params: 0.05 per ln(10) of size
    ladder = [TrialHistory(i, COMPLETE, {0: 0.3, 1: 0.3, 2: final}, {"params_nonzero": params},
                           point=(100 * (0.90 - final), size))
              for i, (params, final, size) in enumerate([(100, 0.80, 0.1), (1_000, 0.85, 0.3), (10_000, 0.90, 0.9)])]
    rule = dict(n_startup_trials=2, n_warmup_steps=0, n_min_peers=10, margin=0.0, min_hypervolume_gain=0.9,
                n_neighbors=1, reference=(5.0, 1.0))

    def at(step: int, value: float, params: int = 2_000) -> RunningTrial:  # 1,000 is its closest neighbour
        return RunningTrial(9, {step: value}, {"params_nonzero": params}, n_steps=2,
                            to_point=lambda final: (100 * (0.90 - final), 0.95))  # it adds little: stops

    sloped = ParetoTrialPruner(**rule, size_slope=True)
    # before fine-tuning: 0.85 + 0.05 / ln(10) * ln(2) = 0.8651
    decision = sloped.decide(at(0, 0.3), ladder)
    assert decision.stop
    assert "expected final 0.8651 " in decision.reason
    # halfway, half of it: 0.85 + (0.40 - 0.30) / 2 + 0.0151 / 2 = 0.9075
    decision = sloped.decide(at(1, 0.40), ladder)
    assert decision.stop
    assert "expected final 0.9075 " in decision.reason
    # smaller than its neighbour: 0.85 - 0.05 * log10(2) = 0.8349
    decision = sloped.decide(at(0, 0.3, params=500), ladder)
    assert decision.stop
    assert "expected final 0.8349 " in decision.reason
    # without it the neighbour's final is the prediction, whatever the size difference
    plain = ParetoTrialPruner(**rule)
    decision = plain.decide(at(0, 0.3), ladder)
    assert decision.stop
    assert "expected final 0.85 " in decision.reason
    # a slope needs 3 sizes: with 2 the size difference is worth nothing
    decision = sloped.decide(at(0, 0.3), ladder[1:])
    assert decision.stop
    assert "expected final 0.85 " in decision.reason


def test_the_hypervolume_rule_expects_the_chosen_percentile_of_the_predictions() -> None:
    # at size 0.1 the expected final decides: 0.865 (B's prediction, the 0th percentile) adds
    # [3.5, 5] x [0.1, 0.2] = 0.15, 4.41%; 0.87 (the median) 0.2, 5.88%; 0.875 (A's, the
    # 100th) 0.25, 7.35%
    rule = dict(n_startup_trials=2, n_warmup_steps=0, n_min_peers=10, margin=0.0, min_hypervolume_gain=0.06,
                reference=(5.0, 1.0))
    median = ParetoTrialPruner(**rule)
    decision = median.decide(sized(0.80, 0.1), FRONT)
    assert decision.stop
    assert "would add 5.88%" in decision.reason
    assert not ParetoTrialPruner(**rule, neighbor_percentile=100).decide(sized(0.80, 0.1), FRONT).stop
    lowest = ParetoTrialPruner(**rule, neighbor_percentile=0)
    decision = lowest.decide(sized(0.80, 0.1), FRONT)
    assert decision.stop
    assert "would add 4.41%" in decision.reason


def test_the_hypervolume_rule_estimates_unmeasured_axes_from_smaller_front_members() -> None:
    # size not measured yet (NaN): no worse than B's 0.2, the front member with fewer params;
    # expected 0.87 at size 0.2 is dominated by B
    assert HV_RULE.decide(sized(0.80, float("nan")), FRONT).stop
    # a trial smaller than every front member: nothing to estimate from, so no stop
    assert not HV_RULE.decide(sized(0.80, float("nan"), params=100), FRONT).stop
    # no front yet (no feasible complete trial): no stop
    unfit = [TrialHistory(h.number, COMPLETE, h.curve, h.objectives, h.point, feasible=False) for h in FRONT]
    assert not HV_RULE.decide(sized(0.80, 0.4), unfit).stop
    # but an infeasible trial's size still bounds the estimate: at 0.76, expected 0.85
    # (5 points below) at B's size 0.2 adds nothing to A alone
    assert HV_RULE.decide(sized(0.76, float("nan")), [*FRONT[:1], unfit[1]]).stop


def test_history_states_may_be_plain_strings() -> None:
    history = [TrialHistory(i, "complete", {1: v}) for i, v in enumerate([0.90, 0.92, 0.94, 0.96])]
    assert history[0].state is TrialStatus.COMPLETE
    assert PRUNER.decide(RunningTrial(9, {1: 0.8}, state="running"), history).stop
    with pytest.raises(ValueError):
        TrialHistory(0, "finished")


def test_no_trial_pruner() -> None:
    assert not NoTrialPruner().decide(candidate(0.0), HISTORY).stop


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"percentile": 101}, r"percentile must be a number in \[0, 100\], but got percentile=101"),
        ({"n_startup_trials": -1}, r"n_startup_trials must be an integer >= 0, but got n_startup_trials=-1"),
        ({"n_min_peers": 0}, r"n_min_peers must be an integer >= 1"),
        ({"n_warmup_steps": 1.5}, r"n_warmup_steps must be an integer >= 0"),
        ({"min_hypervolume_gain": 2}, r"min_hypervolume_gain must be a number in \[0, 1\], but got min_hypervolume_gain=2"),
        ({"n_neighbors": 0}, r"n_neighbors must be an integer >= 1"),
        ({"neighbor_percentile": -1}, r"neighbor_percentile must be a number in \[0, 100\], but got neighbor_percentile=-1"),
        ({"size_slope": 1}, r"size_slope must be true or false, but got size_slope=1"),
        ({"min_value": float("nan")}, r"min_value must be a finite number or None"),
        ({"directions": {"size_bytes": "down"}}, r"directions\['size_bytes'\] must be min or max"),
    ],
)
def test_pareto_pruner_checks_its_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ParetoTrialPruner(**kwargs)


def test_make_trial_pruner_registry() -> None:
    pareto = make_trial_pruner(TrialPrunerConfig("pareto", {"percentile": 50}), 3, min_value=0.9,
                               directions={"sparsity_achieved": "max"})
    assert isinstance(pareto, ParetoTrialPruner)
    assert (pareto.percentile, pareto.min_value, pareto.directions) == (50.0, 0.9, {"sparsity_achieved": "max"})
    assert isinstance(pareto.study_pruner(), optuna.pruners.NopPruner)
    assert isinstance(make_trial_pruner(TrialPrunerConfig("none"), 2), NoTrialPruner)
    median = make_trial_pruner(TrialPrunerConfig("median", {"n_startup_trials": 2}), 1)
    assert isinstance(median, OptunaTrialPruner) and isinstance(median.study_pruner(), optuna.pruners.MedianPruner)
    assert isinstance(make_trial_pruner(TrialPrunerConfig("hyperband"), 1).study_pruner(), optuna.pruners.HyperbandPruner)
    halving = make_trial_pruner(TrialPrunerConfig("successive_halving", {"min_resource": "auto"}), 1)
    assert isinstance(halving.study_pruner(), optuna.pruners.SuccessiveHalvingPruner)
    with pytest.raises(ConfigError, match=r"'asha' is not a trial pruner; allowed: none, median"):
        make_trial_pruner(TrialPrunerConfig("asha"), 1)
    with pytest.raises(ConfigError, match=r"median is for one objective, but the space has 2"):
        make_trial_pruner(TrialPrunerConfig("median"), 2)
    with pytest.raises(ConfigError, match=r"pareto compares trials on their other objectives"):
        make_trial_pruner(TrialPrunerConfig("pareto"), 1)
    with pytest.raises(ConfigError, match=r"min_resource must be <= max_resource, but got min_resource=5, max_resource=2"):
        make_trial_pruner(TrialPrunerConfig("hyperband", {"min_resource": 5, "max_resource": 2}), 1)
    with pytest.raises(ConfigError, match=r"max_resource must be an integer or 'auto' >= 1, but got max_resource='big'"):
        make_trial_pruner(TrialPrunerConfig("hyperband", {"max_resource": "big"}), 1)


@pytest.mark.parametrize(("direction", "sign"), [("maximize", 1.0), ("minimize", -1.0)])
def test_optuna_pruner_reports_through_the_driver_side_trial(direction: str, sign: float) -> None:
    pruner = make_trial_pruner(TrialPrunerConfig("median", {"n_startup_trials": 4}), 1, study_direction=direction)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction, pruner=pruner.study_pruner())
    for value in [0.90, 0.92, 0.94, 0.96]:
        t = study.ask()
        t.report(sign * value, 1)
        study.tell(t, sign * value)
    trial = study.ask()
    assert pruner.decide(RunningTrial(trial.number, {1: 0.80}, optuna_trial=trial), []).stop
    assert study.trials[trial.number].intermediate_values == {1: sign * 0.80}
    other = study.ask()
    assert not pruner.decide(RunningTrial(other.number, {1: 0.95}, optuna_trial=other), []).stop
    last = study.ask()  # at its last step nothing is saved by stopping
    assert not pruner.decide(RunningTrial(last.number, {1: 0.10}, n_steps=1, optuna_trial=last), []).stop
    with pytest.raises(TypeError, match="needs RunningTrial.optuna_trial"):
        pruner.decide(RunningTrial(5, {1: 0.5}), []).stop


# --- the rules alone, the decision, validation without building -----------------------------


def test_each_rule_is_a_pruner_of_its_own_and_names_itself_when_it_stops() -> None:
    from autoprune.search.trial_pruners import AccuracyConstraintPruner, HypervolumeGainPruner, PeerPercentilePruner

    peer = PeerPercentilePruner(percentile=25.0, n_startup_trials=4, n_warmup_steps=0, n_min_peers=3, margin=0.0)
    assert peer.decide(candidate(0.80), HISTORY) == PRUNER.decide(candidate(0.80), HISTORY)
    assert peer.decide(candidate(0.80), HISTORY).rule == "peer_percentile"
    bar = AccuracyConstraintPruner(0.95, n_warmup_steps=0, margin=0.005)
    history = peers([0.90, 0.92, 0.94, 0.96], size=10_000.0)
    assert bar.decide(candidate(0.934, size=500.0), history).rule == "accuracy_constraint"
    decision = bar.decide(candidate(0.936, size=500.0), history)
    assert not decision.stop and decision.reason.startswith("can reach 0.95: 0.936 at step 1")
    hv = HypervolumeGainPruner(0.02, (5.0, 1.0), n_startup_trials=2, n_warmup_steps=0, margin=0.0)
    assert hv.decide(sized(0.80, 0.4), FRONT).rule == "hypervolume_gain"
    assert hv.expected_final(sized(0.80, 0.4), FRONT) == pytest.approx(0.87)
    assert not hv.decide(sized(0.84, 0.4), FRONT).stop
    assert not hv.decide(RunningTrial(9, {1: 0.8}, n_steps=2), FRONT).stop  # no point: nothing to compare
    with pytest.raises(ConfigError, match=r"min_value must be a finite number, but got min_value=None"):
        AccuracyConstraintPruner(None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"min_hypervolume_gain must be a number in \[0, 1\]"):
        HypervolumeGainPruner(None, (5.0, 1.0))  # type: ignore[arg-type]


def test_the_pareto_pruner_is_its_rules_in_order_first_stop_wins() -> None:
    from autoprune.search.trial_pruners import (
        AccuracyConstraintPruner,
        FirstStop,
        HypervolumeGainPruner,
        PeerPercentilePruner,
    )

    pareto = ParetoTrialPruner(min_value=0.9, min_hypervolume_gain=0.01, reference=(5.0, 1.0))
    assert isinstance(pareto, FirstStop)
    assert [type(p) for p in pareto.pruners] == [AccuracyConstraintPruner, HypervolumeGainPruner, PeerPercentilePruner]
    assert [type(p) for p in ParetoTrialPruner().pruners] == [PeerPercentilePruner]
    # a trial behind its peers and below the bar: the bar's rule speaks first
    laggard = TrialHistory(7, COMPLETE, {1: 0.70, 2: 0.72, 3: 0.75}, {"size_bytes": 1000.0})
    both = ParetoTrialPruner(n_warmup_steps=0, min_value=0.95, margin=0.005)
    assert PRUNER.decide(candidate(0.80), [*HISTORY, laggard]).rule == "peer_percentile"
    assert both.decide(candidate(0.80), [*HISTORY, laggard]).rule == "accuracy_constraint"


def test_decision_constructors() -> None:
    from autoprune.search.trial_pruners import Decision

    assert Decision.go("warm-up") == Decision(False, "warm-up", "")
    assert Decision.halt("peer_percentile", "behind") == Decision(True, "behind", "peer_percentile")
    assert Decision(1, "x", "r").stop is True  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "options", "objectives", "message"),
    [
        ("asha", {}, [("accuracy", "max")], r"^'asha' is not a trial pruner; allowed: none, median, hyperband, "
                                            r"successive_halving, pareto\.$"),
        ("median", {}, [("latency_ms", "min")], r"^median compares the task metric across trials, so the objective must "
                                                r"be accuracy: max or accuracy_drop: min, but got latency_ms: min\.$"),
        ("median", {}, [("accuracy", "max"), ("size_bytes", "min")],
         r"^median is for one objective, but the space has 2; allowed with 2 objectives: none, pareto\.$"),
        ("pareto", {}, [("accuracy", "max")],
         r"^pareto compares trials on their other objectives, so it needs two or more, but the space has 1; "
         r"allowed with one objective: none, median, hyperband, successive_halving\.$"),
        ("pareto", {"percentile": 101}, [("accuracy", "max"), ("size_bytes", "min")],
         r"^percentile must be a number in \[0, 100\], but got percentile=101\.$"),
        ("pareto", {"min_hypervolume_gain": None}, [("accuracy", "max"), ("size_bytes", "min")],
         r"^min_hypervolume_gain must be a number in \[0, 1\], but got min_hypervolume_gain=None\.$"),
        ("pareto", {"patience": 3}, [("accuracy", "max"), ("size_bytes", "min")],
         r"^'patience' is not an option of pareto; allowed: percentile, n_startup_trials, n_warmup_steps, "
         r"n_min_peers, margin, min_hypervolume_gain, n_neighbors, neighbor_percentile, size_slope\.$"),
        ("none", {"percentile": 3}, [("accuracy", "max")], r"^'percentile' is not an option of none; allowed: none\.$"),
        ("hyperband", {"min_resource": 5, "max_resource": 2}, [("accuracy_drop", "min")],
         r"^min_resource must be <= max_resource, but got min_resource=5, max_resource=2\.$"),
        ("hyperband", {"bootstrap_count": 2}, [("accuracy", "max")],
         r"^hyperband: bootstrap_count > 0 and max_resource == 'auto' are mutually incompatible, "
         r"bootstrap_count is 2$"),
        ("successive_halving", {"bootstrap_count": 1}, [("accuracy", "max")],
         r"^successive_halving: bootstrap_count > 0 and min_resource == 'auto' are mutually incompatible, "
         r"bootstrap_count is 1$"),
        ("median", {"interval_steps": 0}, [("accuracy", "max")],
         r"^interval_steps must be an integer >= 1, but got interval_steps=0\.$"),
    ],
)
def test_validate_trial_pruner_says_what_is_wrong(name: str, options: dict, objectives: list, message: str) -> None:
    from autoprune.search.trial_pruners import validate_trial_pruner

    with pytest.raises(ConfigError, match=message):
        validate_trial_pruner(TrialPrunerConfig(name, options), objectives)


def test_validate_trial_pruner_builds_no_optuna_object(monkeypatch: pytest.MonkeyPatch) -> None:
    from autoprune.search.trial_pruners import validate_trial_pruner

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("validation built an Optuna pruner")

    for name in ("MedianPruner", "HyperbandPruner", "SuccessiveHalvingPruner", "NopPruner"):
        monkeypatch.setattr(optuna.pruners, name, refuse)
    validate_trial_pruner(TrialPrunerConfig("hyperband", {"min_resource": 1, "max_resource": 9}),
                          [("accuracy_drop", "min")])
    validate_trial_pruner(TrialPrunerConfig("median", {"n_startup_trials": 2}), [("accuracy", "max")])
    validate_trial_pruner(TrialPrunerConfig("pareto", {"percentile": 90, "min_hypervolume_gain": 0.005}),
                          [("accuracy", "max"), ("latency_ms", "min"), ("size_bytes", "min")])
    validate_trial_pruner(TrialPrunerConfig("none"), [("accuracy", "max"), ("size_bytes", "min")])


def test_every_registered_pruner_declares_options_its_constructor_takes() -> None:
    import inspect

    from autoprune.registry import TRIAL_PRUNERS

    assert TRIAL_PRUNERS.names() == ("none", "median", "hyperband", "successive_halving", "pareto")
    for name, cls in TRIAL_PRUNERS.items():
        assert set(cls.options) <= set(inspect.signature(cls).parameters), name


def test_a_registered_third_party_pruner_is_validated_and_built_from_its_options() -> None:
    from autoprune.registry import TRIAL_PRUNERS
    from autoprune.search.trial_pruners import Decision, Option, TrialPruner, validate_trial_pruner

    class Patience(TrialPruner):
        options = {"patience": Option("int", 1)}

        def __init__(self, patience: int = 2) -> None:
            self.patience = patience

        def decide(self, trial, history):  # type: ignore[no-untyped-def]
            return Decision.go("patient")

    TRIAL_PRUNERS.register("patience", Patience)
    try:
        validate_trial_pruner(TrialPrunerConfig("patience", {"patience": 3}), [("accuracy", "max")])
        with pytest.raises(ConfigError, match=r"patience must be an integer >= 1, but got patience=0"):
            validate_trial_pruner(TrialPrunerConfig("patience", {"patience": 0}), [("accuracy", "max")])
        assert make_trial_pruner(TrialPrunerConfig("patience", {"patience": 3}), 2).patience == 3
        TRIAL_PRUNERS.register("never", lambda: NoTrialPruner())  # a plain factory: no options
        assert isinstance(make_trial_pruner(TrialPrunerConfig("never"), 2), NoTrialPruner)
        with pytest.raises(ConfigError, match=r"'patience' is not an option of never; allowed: none\."):
            validate_trial_pruner(TrialPrunerConfig("never", {"patience": 1}), [("accuracy", "max")])
    finally:
        TRIAL_PRUNERS.unregister("patience")
        TRIAL_PRUNERS.unregister("never")


def test_options_as_json_schema() -> None:
    options = ParetoTrialPruner.options
    assert options["percentile"].json_schema() == {"type": "number", "minimum": 0.0, "maximum": 100.0}
    assert options["n_min_peers"].json_schema() == {"type": "integer", "minimum": 1}
    assert options["size_slope"].json_schema() == {"type": "boolean"}
    from autoprune.search.trial_pruners import HyperbandTrialPruner

    assert HyperbandTrialPruner.options["max_resource"].json_schema() == {
        "anyOf": [{"type": "integer", "minimum": 1}, {"const": "auto"}]}
