"""The pretrained-CNN benchmark's pieces: the model, the pretrained task, the arms' spaces
and the report's targets, on synthetic numbers.

Run from the repository root: ``python -m pytest benchmarks``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from autoprune.errors import DataError
from autoprune.search import load_space
from benchmarks import _resnet8
from benchmarks import pretrained_cnn as bench

FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_resnet8_shapes():
    model = _resnet8.ResNet8()
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == 309_162
    assert sum(p.numel() for p in _resnet8.ResNet8(width=16).parameters()) == 78_042  # the classic width


@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST is not installed")
def test_pretrained_task_loads_the_weights_it_is_given(tmp_path):
    torch.manual_seed(3)
    weights = tmp_path / "w.pt"
    torch.save(_resnet8.ResNet8().state_dict(), weights)
    task = bench.PretrainedResNet8(seed=1, weights=str(weights))
    assert task.baseline_epochs == 0
    loaded, saved = task.build_model().state_dict(), torch.load(weights, weights_only=True)
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)
    # the weights are part of the task's configuration: other weights, another cached baseline
    torch.save(_resnet8.ResNet8().state_dict(), weights)
    assert bench.PretrainedResNet8(seed=1, weights=str(weights)).config() != task.config()
    with pytest.raises(DataError, match=r"pretrained weights .* do not exist; run python -m "
                                        r"benchmarks.pretrained_cnn --pretrain-only first"):
        bench.PretrainedResNet8(weights=str(tmp_path / "none.pt"))


def test_arm_spaces_change_only_what_the_arm_is_about(monkeypatch):
    default = bench.arm_space("default", 2, 60.0)
    assert default.task == bench.TASK_SPEC and default.seed == 2 and default.budget.seconds == 60.0
    assert default.params == load_space("default").params and default.trial_pruner.name == "pareto"
    assert bench.arm_space("tpe", 2, 60.0).trial_pruner.name == "none"
    off = bench.arm_space("no-recovery", 2, 60.0)  # the default space searches distill_weight
    assert off.fixed["distill_weight"] == 0.0 and off.fixed["bn_recalibration"] is False
    assert "distill_weight" not in [p.name for p in off.params]
    assert off.recipe({}).distill_weight == 0.0 and off.recipe({}).bn_recalibration is False
    assert [r.distill_weight for r in off.warm_start_recipes()] == [0.0]  # the warm start distils in default
    monkeypatch.setattr(bench, "NO_RECOVERY", {"no_such_field": 0})
    with pytest.raises(bench.NotAvailable, match="recipe has no no_such_field"):
        bench.arm_space("no-recovery", 2, 60.0)


def _run(arm: str, seed: int, *points: tuple[float, float, float, float], half: float | None = None) -> bench.Run:
    """points: (accuracy drop in points, latency ratio, size ratio, non-zero ratio)"""
    run = bench.Run(arm=arm, task="t", seed=seed, wall_s=1.0, epochs=0, trials=len(points), complete=len(points),
                    points=[bench.Point(label=f"{arm}{i}", accuracy_drop=d / 100, latency_ratio=lat, size_ratio=s,
                                        objectives=[d, lat, s], nonzero_ratio=nz)
                            for i, (d, lat, s, nz) in enumerate(points)],
                    uniform_half_latency_ratio=half)
    return bench.score(run, load_space("default"))


def test_report_targets_by_hand():
    # grid: one model 1 point down at latency 0.5, size 0.5: HV (5 - 1) x 0.5 x 0.5 = 1.0
    grid = _run("grid", 0, (1.0, 0.5, 0.5, 0.5), half=0.5)
    # default: 0.5 point down at latency 0.3, size 0.5 (HV 4.5 x 0.7 x 0.5 = 1.575), and one at
    # 0.4 point with 0.08 of the weights non-zero but dense latency
    default = _run("default", 0, (0.5, 0.3, 0.5, 0.5), (0.4, 1.0, 0.1, 0.08))
    assert grid.hypervolume == pytest.approx(1.0) and default.hypervolume == pytest.approx(1.575)
    assert default.best_latency_ratio == 0.3 and default.best_nonzero_ratio == 0.08
    text, targets = bench.report([grid, default], [0])
    ok = dict((t.split(" (")[0], v) for t, v in targets)
    assert ok["default >= 1.2x the grid's hypervolume"] is True  # 1.575x
    assert ok["default's front holds a model >= 3x faster within 1 point"] is True  # 0.3 <= 1/3
    assert ok["default's front holds a model with >= 10x fewer non-zero weights within 0.5 point"] is True
    assert ok["default reaches the uniform channel-0.5 speed-up within 1 point"] is True
    assert "grid (seed 0)" in text and "default (seed 0)" in text and "1.57x" in text
