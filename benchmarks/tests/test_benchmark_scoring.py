"""The search-vs-grid benchmark's scoring: one latency for a model several arms completed.

Run from the repository root: ``python -m pytest benchmarks``.
"""

from __future__ import annotations

import pytest

from autoprune.search import load_space
from benchmarks import search_vs_grid as bench


def _arm(name: str, *points: tuple[str, float, float, float]) -> bench.ArmRun:
    """points: (model, accuracy drop in points, latency ratio, size ratio)"""
    return bench.ArmRun(arm=name, task="digits-mlp", seed=0, wall_s=0.0, epochs=0, trials=len(points),
                        complete=len(points),
                        points=[bench.Point(label=m, accuracy_drop=d / 100, latency_ratio=lat, size_ratio=size,
                                            objectives=[d, lat, size], model=m) for m, d, lat, size in points])


def test_a_model_two_arms_completed_is_scored_with_the_median_of_its_readings():
    space = load_space(bench.SPACES_DIR / "digits-mlp.yaml")  # objectives accuracy, latency_ms, size_bytes
    a = _arm("random", ("m1", 1.0, 0.10, 0.5))
    b = _arm("tpe+pareto", ("m1", 1.0, 0.12, 0.5), ("m2", 0.0, 0.50, 0.5))
    bench.share_latency([a, b], space)
    assert a.points[0].latency_ratio == b.points[0].latency_ratio == pytest.approx(0.11)
    assert a.points[0].objectives == pytest.approx([1.0, 0.11, 0.5])
    assert b.points[1].latency_ratio == 0.50  # only one arm has m2: as read
    # re-scored: reference (5, 1, 1); m1 alone is 4 x 0.89 x 0.5 = 1.78; m2 adds
    # (5 - 0) x (1 - 0.5) x 0.5 minus the overlap 4 x 0.5 x 0.5: 0.25
    assert a.hypervolume == pytest.approx(1.78)
    assert b.hypervolume == pytest.approx(1.78 + 0.25)
