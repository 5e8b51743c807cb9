"""The pick table's choices, on hand-made front records with answers checked by hand."""

from __future__ import annotations

import pytest

from autoprune.report._pick import Budget, budgets, export_command, picks, size_format
from autoprune.search._constraints import parse_constraint
from autoprune.search._records import TrialRecord

BASELINE = {"accuracy": 0.90, "latency_ms": 2.0, "size_bytes": 1000}


def _member(number: int, accuracy: float, latency_ratio: float, size: int) -> TrialRecord:
    return TrialRecord(number, "complete", {"granularity": "channel", "sparsity": 0.5},
                       {"accuracy": accuracy, "latency_ratio": latency_ratio, "size_bytes": size}, feasible=True)


# drops from the dense 90 %: #1 0.2 points, #2 0.8, #3 1.6, #4 1.9
FRONT = [_member(1, 0.898, 0.9, 900), _member(2, 0.892, 0.5, 400), _member(3, 0.884, 0.2, 500),
         _member(4, 0.881, 0.3, 100)]


def _table(front, points):
    return [(p.budget.points, p.goals, p.record.number if p.record else None)
            for p in picks(front, BASELINE, [Budget(x) for x in points])]


def test_fastest_and_smallest_within_each_budget():
    assert _table(FRONT, (0.5, 1.0, 2.0)) == [
        (0.5, ("fastest", "smallest"), 1),  # only #1 is within half a point
        (1.0, ("fastest", "smallest"), 2),  # #1, #2: #2 is both faster (0.5x) and smaller (400 B)
        (2.0, ("fastest",), 3),             # all four: #3 at 0.2x
        (2.0, ("smallest",), 4),            # and #4 at 100 B
    ]


def test_a_budget_nothing_meets_names_the_closest_model():
    (row,) = picks(FRONT, BASELINE, [Budget(0.1)])
    assert row.record is None and row.goals == () and row.closest.number == 1


def test_a_drop_exactly_at_the_budget_is_within_it():
    # 0.90 - 0.89 is 1.0000000000000009 points in floating point
    front = [_member(7, 0.89, 0.4, 300)]
    assert _table(front, (1.0,)) == [(1.0, ("fastest", "smallest"), 7)]


def test_ties_go_to_the_smaller_drop_then_the_lower_number():
    front = [_member(5, 0.885, 0.5, 200), _member(6, 0.895, 0.5, 200), _member(2, 0.895, 0.5, 200)]
    assert _table(front, (2.0,)) == [(2.0, ("fastest", "smallest"), 2)]


def test_a_missing_latency_never_makes_a_model_the_fastest():
    front = [_member(1, 0.898, float("nan"), 100), _member(2, 0.897, 0.7, 900)]
    assert _table(front, (1.0,)) == [(1.0, ("fastest",), 2), (1.0, ("smallest",), 1)]


def test_a_gain_over_dense_fits_every_budget():
    front = [_member(9, 0.91, 0.6, 600)]  # one point above the dense model: drop -1
    assert _table(front, (0.5,)) == [(0.5, ("fastest", "smallest"), 9)]


@pytest.mark.parametrize("text", ["accuracy_drop <= 0.015", "accuracy >= 0.885"])
def test_the_spaces_accuracy_constraint_becomes_a_budget(text):
    rows = budgets([parse_constraint(text)], 0.90)
    assert [b.points for b in rows] == [0.5, 1.0, 1.5, 2.0]
    assert rows[2].constraint == text
    assert [b.constraint for b in rows if b.points != 1.5] == [None, None, None]


def test_a_constraint_equal_to_a_fixed_budget_marks_it():
    rows = budgets([parse_constraint("accuracy_drop <= 0.02"), parse_constraint("size_bytes <= 500")], 0.90)
    assert [(b.points, b.constraint) for b in rows] == [(0.5, None), (1.0, None), (2.0, "accuracy_drop <= 0.02")]
    assert rows[0].label == "drop \u2264 0.5 points" and rows[1].label == "drop \u2264 1 point"


def test_export_command_is_ready_to_paste():
    assert export_command("autoprune-runs/default", 7) == (
        "autoprune export autoprune-runs/default --trial 7 --format state_dict --output trial_7.pt")
    assert export_command("my runs/a", 3, "onnx") == (
        "autoprune export 'my runs/a' --trial 3 --format onnx --output trial_3.onnx")


@pytest.mark.parametrize(("recipe", "form"), [
    ({"granularity": "unstructured", "sparsity": 0.9}, "packed state_dict"),
    ({"granularity": "nm"}, "packed state_dict"),
    ({"granularity": "channel", "sparsity": 0.5}, "state_dict"),
    ({"granularity": "no-such-granularity"}, "state_dict"),
])
def test_size_format_names_the_form_size_bytes_was_measured_in(recipe, form):
    assert size_format(recipe) == form
