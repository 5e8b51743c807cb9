"""The CUDA paths: trials, baselines, latency and mixed precision on a GPU, Ray placing
each trial on its own GPU. They run on a machine with CUDA and skip cleanly elsewhere."""

from __future__ import annotations

import math

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture
def digits(tmp_path, monkeypatch):
    from autoprune.baseline import get_baseline
    from autoprune.tasks import get_task

    monkeypatch.setenv("AUTOPRUNE_CACHE_DIR", str(tmp_path / "cache"))
    task = get_task("digits-mlp")
    task.baseline_epochs = 2
    return task, get_baseline(task, 0, device="cuda")


def test_the_baseline_trains_on_cuda_and_is_kept_on_the_cpu(digits):
    task, baseline = digits
    assert all(t.device.type == "cpu" for t in baseline.state_dict.values())
    assert 0.5 < baseline.accuracy <= 1.0


def test_evaluate_moves_cpu_batches_to_the_model(digits):
    task, baseline = digits
    model = baseline.build(task)
    assert task.evaluate(model.to("cuda")) == task.evaluate(model.to("cpu"))


@pytest.mark.parametrize("amp", [None, "bf16", "fp16"])
def test_a_trial_on_cuda(digits, amp):
    from autoprune import Recipe, run_trial

    task, baseline = digits
    result = run_trial(task, Recipe(granularity="channel", sparsity=0.5, finetune_epochs=1), baseline,
                       device="cuda", amp=amp)
    assert math.isfinite(result.accuracy) and result.accuracy > 0.5
    assert result.params_total < result.baseline_params_total


def test_latency_on_cuda_uses_events_and_restores_the_model():
    from autoprune.measure import measure_latency_pair

    model, dense = torch.nn.Linear(256, 64), torch.nn.Linear(256, 256)
    a, b = measure_latency_pair(model, dense, torch.zeros(512, 256), device="cuda", repeats=5, min_seconds=0)
    assert a > 0 and b > 0
    assert model.weight.device.type == "cpu" and dense.weight.device.type == "cpu"


def test_a_trial_measures_latency_on_cuda(digits):
    from autoprune import LatencyConfig, Recipe, run_trial

    task, baseline = digits
    result = run_trial(task, Recipe(sparsity=0.5, finetune_epochs=0), baseline, device="cuda",
                       latency=LatencyConfig(device="cuda", repeats=5))
    assert result.latency_ms > 0 and result.baseline_latency_ms > 0


def test_a_search_on_cuda(tmp_path, monkeypatch):
    from autoprune import RunOptions, run_search
    from autoprune.search._space import parse_space

    monkeypatch.setenv("AUTOPRUNE_CACHE_DIR", str(tmp_path / "cache"))
    space = parse_space({
        "objectives": {"accuracy": "max", "latency_ms": "min"}, "budget": {"trials": 2}, "sampler": "random",
        "device": "cuda", "amp": "bf16", "latency": {"device": "cuda", "repeats": 5, "warmup": 2},
        "fixed": {"finetune_epochs": 1, "granularity": "channel"}, "params": {"sparsity": {"low": 0.3, "high": 0.7}},
    }, "cuda")
    result = run_search(space, options=RunOptions(out=tmp_path / "run", tracker="none", progress=False))
    assert sum(r.state == "COMPLETE" for r in result.trials) == 2
    assert result.space.latency.device == "cuda"


@pytest.mark.e2e
def test_ray_gives_each_trial_its_own_gpu(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    from autoprune import RunOptions, run_search
    from autoprune.search._space import parse_space

    monkeypatch.setenv("AUTOPRUNE_CACHE_DIR", str(tmp_path / "cache"))
    space = parse_space({
        "objectives": {"accuracy": "max", "size_bytes": "min"}, "budget": {"trials": 2}, "sampler": "random",
        "device": "cuda", "fixed": {"finetune_epochs": 1}, "params": {"sparsity": {"low": 0.3, "high": 0.7}},
    }, "ray-gpu")
    gpus = 0.5 if torch.cuda.device_count() == 1 else 1
    result = run_search(space, options=RunOptions(out=tmp_path / "run", tracker="none", progress=False,
                                                  executor="ray", workers=2, gpus_per_trial=gpus))
    assert sum(r.state == "COMPLETE" for r in result.trials) == 2
