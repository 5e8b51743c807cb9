"""Recovery inside a trial on digits-cnn (BatchNorm CNN, the cached trained baseline):
BN recalibration, distillation, step budgets, report subsets, learning rate, precision."""

from __future__ import annotations

import copy

import pytest
import torch

from autoprune import Recipe, get_task
from autoprune.baseline import get_baseline
from autoprune.tasks import Task
from autoprune.trial import LatencyConfig, run_trial

FAST = LatencyConfig(threads=1, warmup=1, repeats=3)


@pytest.fixture(scope="module")
def cnn():
    task = get_task("digits-cnn")
    return task, get_baseline(task, 0)


def test_bn_recalibration_raises_accuracy_right_after_channel_pruning(cnn):
    task, baseline = cnn
    step0 = {}
    for recal in (False, None):  # None: on, since the model has BatchNorm
        recipe = Recipe(granularity="channel", sparsity=0.5, finetune_steps=1, bn_recalibration=recal)
        result = run_trial(task, recipe, baseline, latency=FAST)
        assert result.curve[0][0] == 0
        step0[recal] = result.curve[0][1]
    # measured: 0.14 without, 0.44 with (the dense model: 0.998)
    assert step0[None] >= step0[False] + 0.15, step0


def test_distillation_runs_every_step_and_is_recorded(cnn, monkeypatch):
    task, baseline = cnn
    calls = []
    original = Task.distillation_loss

    def counted(self, student, teacher, temperature):
        calls.append(temperature)
        return original(self, student, teacher, temperature)

    monkeypatch.setattr(Task, "distillation_loss", counted)
    recipe = Recipe(granularity="channel", sparsity=0.5, finetune_steps=4, distill_weight=0.5, distill_temperature=3.0)
    result = run_trial(task, recipe, baseline, latency=FAST)
    assert calls == [3.0] * 4
    assert result.recipe.to_dict()["distill_weight"] == 0.5
    assert "kd0.5T3" in result.recipe.summary()
    plain = run_trial(task, Recipe(granularity="channel", sparsity=0.5, finetune_steps=4), baseline, latency=FAST)
    assert len(calls) == 4 and plain.curve != result.curve


def test_step_budget_reports_every_report_every_steps_across_pruning_steps(cnn):
    task, baseline = cnn
    seen = []
    recipe = Recipe(granularity="channel", sparsity=0.5, schedule="iterative", steps=2, finetune_steps=7,
                    report_every=3)
    result = run_trial(task, recipe, baseline, latency=FAST, callback=lambda s, m: seen.append(s) and False)
    # the 7 steps split 3 + 4 over the two pruning steps; reports at multiples of 3 and each segment's end
    assert [s for s, _ in result.curve] == seen == [0, 3, 6, 7]
    assert result.finetune_epochs_run == 0  # 7 batches: less than one pass over the data
    # without report_every: one report at the end of each segment
    recipe = Recipe(granularity="channel", sparsity=0.5, schedule="iterative", steps=2, finetune_steps=7,
                    finetune_schedule="cosine")
    assert [s for s, _ in run_trial(task, recipe, baseline, latency=FAST).curve] == [0, 3, 7]


def test_a_stopped_step_budget_trial_stops_at_the_report(cnn):
    task, baseline = cnn
    recipe = Recipe(granularity="channel", sparsity=0.5, finetune_steps=10, report_every=2)
    result = run_trial(task, recipe, baseline, latency=FAST, callback=lambda s, m: s >= 4)
    assert [s for s, _ in result.curve] == [0, 2, 4]
    assert result.status.value == "pruned"


def test_reports_use_the_validation_subset_and_the_score_all_of_it(cnn):
    digits, baseline = cnn
    task = copy.copy(digits)  # the same task with its validation data in batches of 100

    def val_batches():
        for inputs, targets in digits.val_batches():
            yield from zip(inputs.split(100), targets.split(100))

    task.val_batches = val_batches
    recipe = Recipe(granularity="channel", sparsity=0.6, finetune_steps=3, report_batches=1)
    result = run_trial(task, recipe, baseline, latency=FAST)
    model = result.model
    with torch.no_grad():
        inputs, targets = next(iter(task.val_batches()))
        first = float((model(inputs).argmax(-1) == targets).float().mean())
    assert sum(1 for _ in task.val_batches()) > 1
    assert result.curve[-1][1] == pytest.approx(first)
    assert result.accuracy == pytest.approx(task.evaluate(model))


def test_learning_rate_defaults_to_a_scale_of_the_task_baseline_lr(cnn, monkeypatch):
    import autoprune.trial as trial_module

    task, baseline = cnn
    seen = []

    def record_lr(model, task, optimizer, epoch, **kwargs):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradients: changes nothing, as a real epoch steps before the scheduler

    monkeypatch.setattr(trial_module, "train_epoch", record_lr)
    for recipe in (Recipe(finetune_epochs=1), Recipe(finetune_epochs=1, finetune_lr_scale=0.1),
                   Recipe(finetune_epochs=1, finetune_lr=0.02)):
        run_trial(task, recipe, baseline, latency=FAST)
    assert seen == pytest.approx([task.baseline_lr, 0.1 * task.baseline_lr, 0.02])


def test_bf16_autocast_fine_tunes_on_the_cpu(cnn):
    task, baseline = cnn
    recipe = Recipe(granularity="channel", sparsity=0.5, finetune_steps=2)
    result = run_trial(task, recipe, baseline, latency=FAST, amp="bf16")
    assert [s for s, _ in result.curve] == [0, 2]
    assert next(result.model.parameters()).dtype == torch.float32  # autocast, not a cast model


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("amp", [None, "bf16", "fp16"])
def test_a_trial_trains_on_cuda(cnn, amp):
    task, baseline = cnn
    recipe = Recipe(granularity="channel", sparsity=0.5, finetune_steps=3, distill_weight=0.5, report_batches=2)
    result = run_trial(task, recipe, baseline, latency=FAST, device="cuda", amp=amp)
    assert next(result.model.parameters()).device.type == "cuda"
    assert result.latency_ms > 0 and 0.0 <= result.accuracy <= 1.0
