"""The Pareto plot: axes focused on the feasible region, labelled front, constraints drawn."""

from __future__ import annotations

import itertools

import pytest
from matplotlib.text import Text

from autoprune.report._data import build_data, parse_constraints
from autoprune.report._pareto_plot import pareto_figure
from autoprune.report._plots import Curve, plot_curves
from autoprune.search._records import TrialRecord

BASELINE = {"accuracy": 0.97, "latency_ms": 2.0, "size_bytes": 1_048_576}
OBJECTIVES = [("accuracy", "max"), ("latency_ms", "min"), ("size_bytes", "min")]
EDGE = "beyond the axes, drawn at the edge"


def _trial(number, accuracy, latency, size, state="complete", feasible=True) -> TrialRecord:
    measures = {"accuracy": accuracy, "latency_ratio": latency, "size_bytes": size}
    return TrialRecord(number, state, {"granularity": "channel", "sparsity": 0.5}, measures,
                       feasible=feasible if state == "complete" else None)


def _records() -> list[TrialRecord]:
    return [
        _trial(0, 0.970, 0.50, 400_000),
        _trial(1, 0.965, 0.20, 150_000),   # knee
        _trial(2, 0.955, 0.10, 60_000),
        _trial(3, 0.960, 0.60, 500_000),   # dominated
    ]


def _figure(records, front=(0, 1, 2), knee=1, objectives=OBJECTIVES, constraints=("accuracy_drop <= 0.02",)):
    by = {r.number: r for r in records}
    data = build_data(title="t", run_dir="run", records=records, front=[by[n] for n in front], knee=by.get(knee),
                      objectives=objectives, baseline=BASELINE, constraints=parse_constraints(list(constraints)),
                      latency=None, task=None, hypervolume=0.0, hypervolume_history=[], notes=[])
    return pareto_figure(data)


def _panels(fig):
    return [ax for ax in fig.axes if ax.get_xlabel()]


def _labels(ax) -> dict[str, object]:
    return {t.get_text(): t for t in ax.texts if t.get_text().startswith("#")}


def test_an_infeasible_or_stopped_trial_far_away_leaves_the_axes_alone():
    plain = _figure(_records())
    far = _records() + [_trial(8, 0.40, 3.0, 5_000_000, feasible=False),
                        _trial(9, 0.30, float("nan"), 900_000, state="pruned")]
    wide = _figure(far)
    for a, b in zip(_panels(plain), _panels(wide)):
        assert a.get_xlim() == pytest.approx(b.get_xlim()) and a.get_ylim() == pytest.approx(b.get_ylim())
    # the far trial is drawn on the edge of the drop axis, pointing right
    drop_latency = _panels(wide)[0]
    (edge,) = [c for c in drop_latency.collections if c.get_label() == EDGE]
    assert edge.get_offsets()[0][0] == pytest.approx(drop_latency.get_xlim()[1])
    assert drop_latency.get_xlim()[1] < 10  # drops of the feasible trials: 0 to 1.5 points, the bound 2


def test_every_front_member_is_labelled_with_its_number_and_the_knee_is_marked():
    for ax in _panels(_figure(_records())):
        assert set(_labels(ax)) == {"#0", "#1 knee", "#2"}
        assert any(c.get_label() == "knee" for c in ax.collections)


def test_crowded_front_labels_hide_none_of_each_other():
    # five members within a hair of each other
    records = [_trial(n, 0.960 - n * 1e-4, 0.30 + n * 1e-3, 200_000 + n * 100) for n in range(5)]
    records.append(_trial(5, 0.97, 0.9, 900_000))
    fig = _figure(records, front=range(6), knee=2)
    fig.canvas.draw()  # lays the labels out where the PNG has them
    renderer = fig.canvas.get_renderer()
    for ax in _panels(fig):
        boxes = [Text.get_window_extent(t, renderer) for t in _labels(ax).values()]  # text, not leader
        assert len(boxes) == 6
        for a, b in itertools.combinations(boxes, 2):
            assert not a.overlaps(b), (a, b)


def test_the_accuracy_constraint_is_a_line_and_sizes_are_in_kib():
    drop_latency, drop_size, latency_size = _panels(_figure(_records()))
    lines = [line for line in drop_latency.lines if line.get_label().startswith("constraint")]
    assert [tuple(line.get_xdata()) for line in lines] == [(2.0, 2.0)]
    assert "accuracy drop from dense (points)" in drop_latency.get_xlabel()
    assert "(KiB)" in drop_size.get_ylabel() and "(KiB)" in latency_size.get_ylabel()
    assert not [line for line in latency_size.lines if line.get_label().startswith("constraint")]


def test_two_objectives_one_panel_with_the_front_as_a_staircase():
    fig = _figure(_records(), front=(0, 1, 2), objectives=[("accuracy", "max"), ("size_bytes", "min")])
    (ax,) = _panels(fig)
    assert set(_labels(ax)) == {"#0", "#1 knee", "#2"}
    assert any(len(line.get_xdata()) == 3 for line in ax.lines)  # the step line through the members


def test_no_complete_trial_gives_the_reason():
    assert "the Pareto plot is empty" in _figure([_trial(0, 0.5, 1.0, 10, state="pruned")], front=(), knee=None)


def test_stopped_curves_that_overlap_stay_apart(tmp_path, monkeypatch):
    figures = []
    import autoprune.report._plots as plots

    monkeypatch.setattr(plots, "save", lambda fig, path: figures.append(fig))
    same = [(0, 0.90), (1, 0.93), (2, 0.92)]
    curves = [Curve(5, "complete", [(0, 0.95), (1, 0.96), (2, 0.965)], front=True),
              Curve(6, "pruned", same), Curve(7, "pruned", same)]
    assert plot_curves(tmp_path / "c.png", curves, 0.97, bar=0.95) is None
    (fig,) = figures
    ax = fig.axes[0]
    fig.canvas.draw()
    ends = [line for line in ax.lines if line.get_marker() not in ("None", "", None)]
    assert len({round(float(line.get_xdata()[0]), 3) for line in ends}) == 2  # pulled apart sideways
    assert len({line.get_color() for line in ends}) == 2 and len({line.get_marker() for line in ends}) == 2
    renderer = fig.canvas.get_renderer()
    labels = {t.get_text(): Text.get_window_extent(t, renderer) for t in ax.texts if t.get_text().startswith("#")}
    assert set(labels) == {"#6", "#7"} and not labels["#6"].overlaps(labels["#7"])


def test_curves_focus_on_where_the_feasible_trials_ended():
    from autoprune.report._plots import curve_limits

    good = [Curve(n, "complete", [(0, 0.80), (1, 0.95 + n / 100)]) for n in range(3)]  # end at 95-97 %
    collapsed = Curve(9, "complete", [(0, 0.30), (1, 0.31)], feasible=False)
    # ends 95, 96, 97, dense 97.5, bar 95: 95 to 97.5, padded by 8 % of the 2.5 points
    assert curve_limits(good, 0.975, 0.95) == pytest.approx((94.8, 97.7))
    assert curve_limits(good + [collapsed], 0.975, 0.95) == curve_limits(good, 0.975, 0.95)
    # one stopped trial near the others widens the view to show where it stopped
    near = Curve(8, "pruned", [(0, 0.90), (1, 0.94)])
    assert curve_limits(good + [near], 0.975, 0.95)[0] == pytest.approx(94 - 0.08 * 3.5)
