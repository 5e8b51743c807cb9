"""benchmarks/tools/replay_pruner.py: which recorded front members a replayed pruner stops, and why.

Run from the repository root: ``python -m pytest benchmarks``.
"""

from __future__ import annotations

import pytest

from autoprune.search import load_space
from autoprune.search.trial_pruners import ParetoTrialPruner
from benchmarks import search_vs_grid as bench
from benchmarks.tools import replay_pruner as rp


def _trial(after_pruning: float, final: float, params: int, point: list[float]) -> dict:
    return {"curve": {"0": after_pruning, "1": final}, "n_steps": 1,
            "objectives": {"params_total": params, "params_nonzero": params}, "point": point}


def test_replay_names_the_front_member_it_stopped_its_share_and_the_rule(capsys):
    space = load_space(bench.SPACES_DIR / "digits-mlp.yaml")  # reference (5 points, latency 1, size 1)
    # three small models 2 points below dense; then a larger one, badly damaged by pruning
    # (0.50 right after it, its smaller peers 0.90) that fine-tunes to dense accuracy
    data = {"baseline_accuracy": 0.98, "trials": [
        *[_trial(0.90, 0.96, 100, [2.0, 0.5, 0.5]) for _ in range(3)],
        _trial(0.50, 0.98, 200, [0.0, 0.5, 0.5]),
    ]}
    pruner = ParetoTrialPruner(percentile=90, n_startup_trials=3, n_warmup_steps=0, margin=0.01)
    stops: dict[int, tuple[int, str]] = {}
    epochs, loss, stopped = rp.replay_one(data, pruner, space, stops)
    assert (epochs, stopped) == (3 / 4, 1)
    assert list(stops) == [3] and stops[3][0] == 0 and "90th percentile" in stops[3][1]
    # the front without trial 3: 3 x 0.5 x 0.5 = 0.75 of 5 x 0.5 x 0.5 = 1.25, 40% lost
    assert loss == pytest.approx(0.4)
    rp.explain_stops(data, stops, space)
    assert "front trial  3 (final 0.9800, 40.0% of the hypervolume) stopped at step 0" in capsys.readouterr().out
