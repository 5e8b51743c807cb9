"""Objectives as axes: units, the dense model, constraints in axis units, the focused range."""

from __future__ import annotations

import math

import pytest

from autoprune.report._axes import Bound, accuracy_drop_points, axis_for, clamp, focus_range, latency_ratio
from autoprune.search._constraints import parse_constraint
from autoprune.search._records import TrialRecord

BASELINE = {"accuracy": 0.97, "latency_ms": 2.0, "size_bytes": 1_048_576, "params_total": 1000}


def _rec(**measures) -> TrialRecord:
    return TrialRecord(0, "complete", {}, measures)


def test_accuracy_drop_in_points_prefers_the_stored_drop_then_the_trials_own_baseline():
    assert accuracy_drop_points(_rec(accuracy_drop=0.0125, accuracy=0.5), BASELINE) == pytest.approx(1.25)
    assert accuracy_drop_points(_rec(accuracy=0.95), BASELINE) == pytest.approx(2.0)
    assert accuracy_drop_points(_rec(accuracy=0.95, baseline_accuracy=0.96), BASELINE) == pytest.approx(1.0)
    assert math.isnan(accuracy_drop_points(_rec(), BASELINE))


def test_latency_ratio_prefers_the_stored_ratio_then_the_dense_model_timed_beside_it():
    assert latency_ratio(_rec(latency_ratio=0.25, latency_ms=9.0), BASELINE) == 0.25
    assert latency_ratio(_rec(latency_ms=1.5, baseline_latency_ms=2.5), BASELINE) == pytest.approx(0.6)
    assert latency_ratio(_rec(latency_ms=1.0), BASELINE) == pytest.approx(0.5)


def test_every_objective_reads_lower_is_better_with_the_dense_model_at_a_round_number():
    drop = axis_for("accuracy", "max")
    assert (drop.kind, drop.better, drop.dense(BASELINE)) == ("drop", "min", 0.0)
    assert drop.label.startswith("accuracy drop from dense (points)") and "lower is better" in drop.label
    lat = axis_for("latency_ms", "min")
    assert (lat.kind, lat.dense(BASELINE), lat.value(_rec(latency_ratio=0.3), BASELINE)) == ("ratio", 1.0, 0.3)


def test_sizes_are_in_kib_or_mib_by_their_typical_value():
    kib = axis_for("size_bytes", "min", [150 * 1024, 200 * 1024, 1_048_576])
    assert (kib.unit, kib.value(_rec(size_bytes=153_600), BASELINE)) == ("KiB", 150.0)
    assert kib.dense(BASELINE) == 1024.0
    mib = axis_for("size_bytes", "min", [5 * 1_048_576, 6 * 1_048_576])
    assert (mib.unit, mib.value(_rec(size_bytes=3 * 1_048_576), BASELINE)) == ("MiB", 3.0)
    assert "(KiB)" in kib.label


@pytest.mark.parametrize(("objective", "constraint", "expected"), [
    ("accuracy", "accuracy_drop <= 0.02", Bound(2.0, "accuracy_drop \u2264 0.02", "above")),
    # accuracy >= 0.95 with a dense 97 %: at most 2 points of drop; the order flips
    ("accuracy", "accuracy >= 0.95", Bound(2.0, "accuracy \u2265 0.95", "above")),
    ("latency_ms", "latency_ms <= 1", Bound(0.5, "latency_ms \u2264 1", "above")),
    ("latency_ms", "latency_ratio < 0.3", Bound(0.3, "latency_ratio < 0.3", "above")),
    ("size_bytes", "size_bytes <= 204800", Bound(200.0, "size_bytes \u2264 204800", "above")),
    ("size_bytes", "size_ratio <= 0.5", Bound(512.0, "size_ratio \u2264 0.5", "above")),
    ("sparsity_achieved", "sparsity_achieved >= 0.8", Bound(80.0, "sparsity_achieved \u2265 0.8", "below")),
])
def test_constraints_in_axis_units(objective, constraint, expected):
    axis = axis_for(objective, "min", [100 * 1024])
    (bound,) = axis.bounds([parse_constraint(constraint)], BASELINE)
    assert bound.value == pytest.approx(expected.value)
    assert (bound.text, bound.infeasible) == (expected.text, expected.infeasible)


def test_a_constraint_on_another_measure_draws_nothing():
    assert axis_for("accuracy", "max").bounds([parse_constraint("size_bytes <= 10")], BASELINE) == []


def test_focus_range_pads_and_takes_in_only_the_bounds_nearby():
    assert focus_range([1.0, 2.0], include=[2.5, 40.0], pad=0.0) == (1.0, 2.5)
    assert focus_range([1.0, 2.0], pad=0.1) == pytest.approx((0.9, 2.1))
    assert focus_range([0.0, 0.0], [2.0], pad=0.0, min_span=1.0) == (-0.5, 0.5)
    assert focus_range([float("nan")]) is None
    lo, hi = focus_range([0.1, 1.0], log=True, pad=0.0)
    assert (lo, hi) == pytest.approx((0.1, 1.0))


def test_clamp_says_which_side_a_value_left():
    assert clamp(5.0, (0.0, 2.0)) == (2.0, 1)
    assert clamp(-1.0, (0.0, 2.0)) == (0.0, -1)
    assert clamp(1.0, (0.0, 2.0)) == (1.0, 0)
