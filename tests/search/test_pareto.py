"""Pareto front, hypervolume, knee and normalisation, checked against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autoprune.search._pareto import (
    default_reference,
    hypervolume,
    hypervolume_history,
    knee_point,
    normalize,
    pareto_front,
)
from autoprune.search._space import Objective

ACC, LAT, SIZE = Objective("accuracy", "max"), Objective("latency_ms", "min"), Objective("size_bytes", "min")


def test_normalize_points_for_fractions_and_ratios_for_the_rest() -> None:
    baseline = {"accuracy": 0.976, "latency_ms": 0.8, "size_bytes": 1200}
    measures = {"accuracy": 0.956, "latency_ms": 0.2, "size_bytes": 300}
    # (0.976 - 0.956) * 100 = 2 points worse; 0.2 / 0.8 = 0.25; 300 / 1200 = 0.25
    assert normalize(measures, baseline, [ACC, LAT, SIZE]) == pytest.approx([2.0, 0.25, 0.25])
    # a better-than-dense accuracy is a negative drop
    assert normalize({"accuracy": 0.986}, baseline, [ACC]) == pytest.approx([-1.0])


def test_normalize_reads_baseline_keys_of_a_trial_result() -> None:
    # TrialResult.measures() holds both the trial's and the baseline's values
    measures = {"accuracy": 0.95, "baseline_accuracy": 0.97, "params_nonzero": 30_000,
                "baseline_params_total": 300_000, "accuracy_drop": 0.02, "size_ratio": 0.5}
    objectives = [ACC, Objective("params_nonzero", "min"), Objective("accuracy_drop", "min"),
                  Objective("size_ratio", "min")]
    assert normalize(measures, measures, objectives) == pytest.approx([2.0, 0.1, 2.0, 0.5])


def test_normalize_maximised_ratio_and_errors() -> None:
    assert normalize({"sparsity_achieved": 0.9}, {}, [Objective("sparsity_achieved", "max")]) == pytest.approx([-90.0])
    assert normalize({"flops": 50.0}, {"flops": 100.0}, [Objective("flops", "max")]) == pytest.approx([2.0])
    assert math.isnan(normalize({"latency_ms": None}, {"latency_ms": 1.0}, [LAT])[0])
    with pytest.raises(ValueError, match="no value for 'latency_ms'"):
        normalize({"latency_ms": 1.0}, {}, [LAT])
    with pytest.raises(ValueError, match="compared as a ratio, but the baseline is 0.0"):
        normalize({"flops": 1.0}, {"flops": 0}, [Objective("flops", "min")])


def test_default_reference() -> None:
    assert default_reference([ACC, LAT, SIZE]).tolist() == [5.0, 1.0, 1.0]
    assert default_reference([Objective("accuracy_drop", "min"), Objective("flops_ratio", "min")]).tolist() == [5.0, 1.0]


def test_pareto_front_2d() -> None:
    points = [[1, 5], [2, 3], [3, 4], [4, 1], [2, 3], [5, 5], [1, 6]]
    # [3,4] is dominated by [2,3]; [5,5] by everything but [1,6]; [1,6] by [1,5];
    # the second [2,3] is a duplicate of the first
    assert pareto_front(points).tolist() == [0, 1, 3]


def test_pareto_front_3d_and_edge_cases() -> None:
    points = [[1, 2, 3], [2, 1, 3], [3, 3, 1], [2, 2, 3], [1, 2, 3.5]]
    assert pareto_front(points).tolist() == [0, 1, 2]
    assert pareto_front([[math.nan, 0.0], [1.0, 1.0]]).tolist() == [1]  # NaN never on the front
    assert pareto_front(np.empty((0, 2))).tolist() == []
    with pytest.raises(ValueError, match="2-D array"):
        pareto_front([1.0, 2.0])


def test_hypervolume_2d_by_hand() -> None:
    # union of [1,3]x[2,3] and [2,3]x[1,3]: 2 + 2 - 1 = 3
    assert hypervolume([[1, 2], [2, 1]], [3, 3]) == pytest.approx(3.0)
    # a dominated point and a point outside the box add nothing
    assert hypervolume([[1, 2], [2, 1], [2, 2], [0, 4]], [3, 3]) == pytest.approx(3.0)
    assert hypervolume([[4, 4]], [3, 3]) == 0.0
    assert hypervolume(np.empty((0, 2)), [3, 3]) == 0.0


def test_hypervolume_3d_by_hand() -> None:
    # boxes to (4,4,4): A=(1,2,3): 3*2*1=6, B=(2,1,3): 6, C=(3,3,1): 1*1*3=3;
    # A^B=(2,2,3): 4, A^C=B^C=A^B^C=(3,3,3): 1 -> 6+6+3-4-1-1+1 = 10
    assert hypervolume([[1, 2, 3], [2, 1, 3], [3, 3, 1]], [4, 4, 4]) == pytest.approx(10.0)
    assert hypervolume([[0, 0, 0]], [1, 2, 3]) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="reference must be 3 finite numbers"):
        hypervolume([[0, 0, 0]], [1, 2])


def test_hypervolume_history() -> None:
    points = [[2, 2], [9, 9], [math.nan, 1], [1, 2], [2, 1], [1.5, 1.5]]
    # [2,2]: 1; [9,9] and NaN outside: 1; [1,2]: 2; [2,1]: 3; [1.5,1.5] adds 0.25
    assert hypervolume_history(points, [3, 3]) == pytest.approx([1.0, 1.0, 1.0, 2.0, 3.0, 3.25])


def test_knee_point_is_closest_to_the_ideal_after_min_max_scaling() -> None:
    # scaled: (0,1), (0.1,0.2), (0.4,0.1), (1,0): distances 1, 0.224, 0.412, 1
    front = [[0.0, 10.0], [1.0, 2.0], [4.0, 1.0], [10.0, 0.0]]
    assert knee_point(front) == 1
    # scaling makes units irrelevant: the same front with axis 2 in other units
    assert knee_point(np.array(front) * [1.0, 1000.0]) == 1
    assert knee_point([[3.0, 3.0]]) == 0
    assert knee_point([[1.0, 5.0], [1.0, 2.0]]) == 1  # a constant axis counts 0
    with pytest.raises(ValueError, match="at least one point"):
        knee_point(np.empty((0, 2)))
