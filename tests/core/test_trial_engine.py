"""The trial engine on digits-cnn: every criterion, granularity, schedule and timing runs."""

from __future__ import annotations

import math

import pytest
import torch

from autoprune import Recipe, get_task
from autoprune.baseline import get_baseline, train_baseline
from autoprune.result import TrialStatus
from autoprune.trial import LatencyConfig, run_trial

FAST = LatencyConfig(threads=1, warmup=2, repeats=5)


@pytest.fixture(scope="module")
def cnn():
    task = get_task("digits-cnn")
    return task, get_baseline(task, 0)


@pytest.mark.parametrize(
    "fields",
    [
        {"criterion": c} for c in ("magnitude_l1", "magnitude_l2", "random", "taylor", "wanda")
    ] + [
        {"granularity": "channel", "criterion": c} for c in ("magnitude_l1", "taylor", "wanda")
    ] + [
        {"granularity": "nm"},
        {"schedule": "iterative", "steps": 2, "finetune_epochs": 2},
        {"schedule": "gradual", "steps": 3, "finetune_epochs": 3},
        {"timing": "before_training"},
        {"timing": "during_training", "schedule": "gradual", "steps": 3},
        {"allocation": "global"},
        {"allocation": "sensitivity", "granularity": "channel"},
        {"finetune_schedule": "cosine"},
    ],
    ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()),
)
def test_every_recipe_dimension_runs_on_digits_cnn(cnn, fields, tmp_path):
    task, baseline = cnn
    recipe = Recipe(**{"sparsity": 0.5, "finetune_epochs": 1, **fields})
    result = run_trial(task, recipe, baseline, latency=FAST, cache_dir=tmp_path)
    assert result.status is TrialStatus.COMPLETE
    assert 0.0 <= result.accuracy <= 1.0
    if recipe.granularity == "channel":  # removing output channels also removes the next layer's inputs
        assert result.sparsity_achieved > recipe.effective_sparsity
    else:
        assert result.sparsity_achieved == pytest.approx(recipe.effective_sparsity, abs=0.06)
    assert math.isfinite(result.latency_ms) and result.latency_ms > 0
    if recipe.granularity == "channel":
        assert result.params_total < result.baseline_params_total
        assert result.flops < result.baseline_flops
    else:
        assert result.params_nonzero < result.baseline_params_total
    out = result.model(task.example_input(3))
    assert out.shape == (3, 10)


@pytest.mark.parametrize(
    "fields, factors",
    [
        # cos taken at each epoch's middle: 0.5 * (1 + cos(pi * (k + 0.5) / 2)) = 0.854, 0.146
        ({"finetune_schedule": "cosine"}, [0.854, 0.146]),
        # two pruning steps, two epochs each: every fine-tune segment anneals on its own
        ({"finetune_schedule": "cosine", "schedule": "iterative", "steps": 2, "finetune_epochs": 4},
         [0.854, 0.146, 0.854, 0.146]),
        ({}, [1.0, 1.0]),
    ],
)
def test_finetune_learning_rate_follows_the_schedule(cnn, fields, factors, monkeypatch):
    import autoprune.trial as trial_module

    seen = []

    def record_lr(model, task, optimizer, epoch, **kwargs):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradients: changes nothing, as a real epoch steps before the scheduler

    monkeypatch.setattr(trial_module, "train_epoch", record_lr)
    task, baseline = cnn
    recipe = Recipe(**{"sparsity": 0.5, "finetune_epochs": 2, "finetune_lr": 0.01, **fields})
    run_trial(task, recipe, baseline, latency=FAST)
    assert seen == pytest.approx([0.01 * f for f in factors], abs=1e-5)


def test_callback_stop_returns_pruned_with_partial_curve(cnn):
    task, baseline = cnn
    seen = []

    def stop_at_two(step, metrics):
        seen.append((step, sorted(metrics)))
        return step == 2

    result = run_trial(task, Recipe(finetune_epochs=4), baseline, callback=stop_at_two, latency=FAST)
    assert result.status is TrialStatus.PRUNED
    assert [s for s, _ in result.curve] == [s for s, _ in seen] == [0, 1, 2]  # 0: before fine-tuning
    assert result.finetune_epochs_run == 2
    assert seen[0][1] == ["accuracy", "params_nonzero", "params_total"]


def test_a_trial_stopped_before_fine_tuning_spends_no_epoch(cnn):
    task, baseline = cnn
    result = run_trial(task, Recipe(finetune_epochs=4), baseline, callback=lambda step, m: True, latency=FAST)
    assert result.status is TrialStatus.PRUNED and result.finetune_epochs_run == 0
    assert [s for s, _ in result.curve] == [0] and result.accuracy == result.curve[0][1]


def test_seeded_trials_are_reproducible(cnn):
    task, baseline = cnn
    recipe = Recipe(criterion="random", finetune_epochs=1)
    a = run_trial(task, recipe, baseline, seed=3, latency=FAST)
    b = run_trial(task, recipe, baseline, seed=3, latency=FAST)
    assert a.curve == b.curve and a.params_nonzero == b.params_nonzero
    for pa, pb in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert torch.equal(pa, pb)


def test_baseline_cache_is_reused_and_mismatch_retrains(tmp_path):
    task = get_task("digits-mlp")
    task.baseline_epochs = 2
    first = get_baseline(task, 0, cache=tmp_path)
    again = get_baseline(task, 0, cache=tmp_path)
    assert again.fingerprint == first.fingerprint
    assert all(torch.equal(first.state_dict[k], again.state_dict[k]) for k in first.state_dict)
    task.baseline_epochs = 3  # another configuration under the same file name: must retrain
    retrained = get_baseline(task, 0, cache=tmp_path)
    assert retrained.fingerprint != first.fingerprint
    expected = train_baseline(task, 0)
    assert retrained.accuracy == pytest.approx(expected.accuracy)
