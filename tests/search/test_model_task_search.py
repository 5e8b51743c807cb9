"""A ModelTask (a user's model and DataLoaders) in a search: local and Ray executors."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from autoprune import ModelTask, RunOptions, get_baseline, run_search
from autoprune.errors import ConfigError
from autoprune.search._space import parse_space


def _task(**kwargs) -> ModelTask:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=gen)
    data = TensorDataset(x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long())
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 3))
    return ModelTask(model, DataLoader(data, batch_size=32, shuffle=True), DataLoader(data, batch_size=64),
                     baseline_epochs=2, baseline_lr=1e-2, **kwargs)


SPACE = {
    "objectives": {"accuracy": "max", "size_bytes": "min"}, "budget": {"trials": 2}, "sampler": "random",
    "latency": {"repeats": 3, "warmup": 1}, "fixed": {"finetune_epochs": 1},
    "params": {"sparsity": {"low": 0.3, "high": 0.7}},
}


def _search(tmp_path, task, **options):
    return run_search(parse_space(SPACE, "model-task"), task=task,
                      options=RunOptions(out=tmp_path / options.pop("out", "run"), tracker="none", progress=False,
                                         **options))


def test_a_model_task_searched_locally_is_recorded_by_name(tmp_path):
    task = _task()
    result = _search(tmp_path, task)
    assert [r.state for r in result.trials] == ["complete", "complete"]
    assert result.space.task == "python:Sequential" and result.task() is task
    baseline = get_baseline(task, 0)  # the search's, cached
    assert baseline.cached and result.baseline["accuracy"] == baseline.accuracy == task.evaluate(baseline.build(task))
    path = result.export(result.pareto_front[0].number, "state_dict", tmp_path / "model.pt")
    assert path.is_file()


def test_a_task_that_does_not_pickle_is_refused_before_ray_starts(tmp_path):
    pytest.importorskip("ray")
    task = _task()
    task.lock = threading.Lock()  # e.g. a dataset holding a connection
    with pytest.raises(ConfigError, match=r"^task=ModelTask\(name='Sequential'.*\) cannot be sent to Ray workers: it "
                                          r"does not pickle \(TypeError: cannot pickle '_thread.lock' object\); allowed: "
                                          r"a model, loaders, metric and loss that pickle, or a 'path/file.py:factory'"):
        _search(tmp_path, task, executor="ray")
    assert not (tmp_path / "run").exists()


@pytest.mark.ray
@pytest.mark.e2e
def test_a_model_task_on_ray_gives_the_local_results(tmp_path, ray_session):
    local = _search(tmp_path, _task(), out="local")
    ray = _search(tmp_path, _task(), out="ray", executor="ray", workers=2)
    assert [r.state for r in ray.trials] == ["complete", "complete"]
    assert ray.baseline["accuracy"] == local.baseline["accuracy"]
    by_recipe = {r.summary(): r.measures["accuracy"] for r in local.trials}
    for r in ray.trials:
        assert by_recipe[r.summary()] == r.measures["accuracy"]
