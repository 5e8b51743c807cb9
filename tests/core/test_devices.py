"""autoprune.devices: device and mixed-precision settings, checked before anything runs."""

from __future__ import annotations

import pytest
import torch

from autoprune.devices import autocast, check_amp, check_device, grad_scaler, resolve_device, worker_device
from autoprune.errors import ConfigError
from autoprune.tasks import Task, model_device


def test_device_spellings():
    assert check_device(" CUDA:1 ") == "cuda:1"
    for bad in ("gpu", "cuda:", "cuda:x", "mps", 3, None):
        with pytest.raises(ConfigError, match=r"device must be one of auto, cpu, cuda, cuda:N, but got device="):
            check_device(bad)


def test_resolve_device_on_this_machine(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"^device='cuda' but CUDA is not available on this machine; allowed: cpu or auto\.$"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match=r"^latency.device='cuda:1' but CUDA"):
        resolve_device("cuda:1", "latency.device")


def test_resolve_device_counts_the_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda:0")
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ConfigError, match=r"device='cuda:2' but this machine has 2 CUDA device\(s\); allowed: cuda:0 to cuda:1"):
        resolve_device("cuda:2")


def test_amp_settings():
    check_amp(None, "cpu")
    check_amp("bf16", "cpu")
    check_amp("fp16", "cuda:0")
    with pytest.raises(ConfigError, match=r"^amp='fp16' needs a CUDA device, but the device is 'cpu'; allowed on the CPU: null or bf16\.$"):
        check_amp("fp16", "cpu")
    with pytest.raises(ConfigError, match=r"amp must be one of null, bf16, fp16, but got amp='fp32'"):
        check_amp("fp32", "cpu")


def test_autocast_runs_bf16_on_the_cpu():
    lin = torch.nn.Linear(4, 4)
    with autocast("cpu", None):
        assert lin(torch.ones(2, 4)).dtype == torch.float32
    with autocast("cpu", "bf16"):
        assert lin(torch.ones(2, 4)).dtype == torch.bfloat16
    assert grad_scaler("cpu", "bf16") is None and grad_scaler("cpu", None) is None


def test_a_ray_worker_runs_on_the_gpu_it_was_given():
    assert worker_device("cuda:3", 1) == "cuda:0"
    assert worker_device("auto", 0.5) == "cuda:0"
    assert worker_device("auto", 0) == "cpu"
    assert worker_device("cpu", 1) == "cpu"


class _MetaTask(Task):
    """Batches on the CPU; the model's parameters on the meta device: the step must move them."""

    def build_model(self):
        return torch.nn.Linear(4, 2)

    def train_batches(self, epoch):
        return [(torch.ones(3, 4), torch.zeros(3, dtype=torch.long))]

    def val_batches(self):
        return self.train_batches(0)

    def example_input(self, batch_size=1):
        return torch.ones(batch_size, 4)


def test_batches_follow_the_model():
    task = _MetaTask()
    model = task.build_model().to("meta")
    assert model_device(model) == torch.device("meta")
    loss = task.training_step(model, next(iter(task.train_batches(0))))
    assert loss.device == torch.device("meta")  # inputs and targets were moved to the model
