"""The transformer benchmark's pieces, tiny: scoring and targets by hand, the grid on a
tiny ViT and idx files written here.

Run from the repository root: ``python -m pytest benchmarks``.
"""

from __future__ import annotations

import argparse

import pytest

from benchmarks import search_vs_grid as svg
from benchmarks import transformer as bench


def _arm(name: str, seed: int, *points: tuple[float, float]) -> svg.ArmRun:
    """points: (accuracy drop in points, latency ratio)"""
    run = svg.ArmRun(arm=name, task="vit", seed=seed, wall_s=10.0, epochs=2, trials=len(points),
                     complete=len(points),
                     points=[svg.Point(label=f"m{i}", accuracy_drop=d / 100, latency_ratio=lat, size_ratio=1.0,
                                       objectives=[d, lat]) for i, (d, lat) in enumerate(points)])
    return bench.score(run)


def test_scoring_and_targets_by_hand():
    # reference (5 points, ratio 1): a model at (1 pt, 0.5) covers 4 x 0.5 = 2.0
    grid = _arm("grid", 0, (1.0, 0.5))
    assert grid.hypervolume == pytest.approx(2.0)
    assert grid.best_latency_ratio == pytest.approx(0.5)  # within 1 point
    # (0 pt, 0.7) and (2 pt, 0.3): 5 x 0.3 + 3 x 0.7 - 3 x 0.3 = 2.7; the 0.3 model is 2 points down
    search = _arm("search", 0, (0.0, 0.7), (2.0, 0.3))
    assert search.hypervolume == pytest.approx(2.7)
    assert search.best_latency_ratio == pytest.approx(0.7)
    text, targets = bench.report([grid, search], [0])
    assert "1.35x" in text
    assert [ok for _, ok in targets] == [True, False]  # 1.35 >= 1.2; 1 / 0.7 = 1.43x < 1.5x
    fast = _arm("search", 0, (0.5, 0.66), (0.8, 0.9))
    assert bench.report([grid, fast], [0])[1][1][1] is True  # 0.66 <= 1 / 1.5, within 1 point


def test_grid_runs_each_registered_granularity_on_a_tiny_vit(tmp_path):
    pytest.importorskip("transformers")
    from autoprune.measure import LatencyConfig
    from autoprune.registry import GRANULARITIES
    from autoprune.tasks import get_task
    from autoprune.testing.hf import tiny_vit_dir, write_idx_dir

    model = tiny_vit_dir(tmp_path / "vit", layers=4)
    args = argparse.Namespace(grid_lr=1e-3, train_limit=32, val_limit=16)
    spec = bench.task_spec(model, str(write_idx_dir(tmp_path / "idx")), args)
    assert spec["baseline_epochs"] == 0 and spec["kind"] == "hf-image-classification"
    task = get_task(spec, seed=0)
    grid, skipped = bench.run_grid(task, 0, LatencyConfig(threads=1, warmup=1, repeats=2), epochs=1, lr=1e-3)
    runnable = [label for label, fields in bench.GRID if fields["granularity"] in GRANULARITIES]
    assert [p.label for p in grid.points] == runnable
    assert len(skipped) == len(bench.GRID) - len(runnable)
    assert grid.epochs == len(runnable) and grid.wall_s > 0
