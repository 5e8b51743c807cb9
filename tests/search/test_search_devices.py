"""device, amp and latency.device through the space, RunOptions, the checks and the executors."""

from __future__ import annotations

import pytest
import torch

from autoprune.errors import ConfigError
from autoprune.measure import LatencyConfig
from autoprune.recipe import Recipe
from autoprune.search import RunOptions
from autoprune.search._checks import check_devices
from autoprune.search._executors import TrialJob, execute_job
from autoprune.search._space import ExecutorConfig, load_space, parse_space

BASE = {"objectives": {"accuracy": "max"}, "params": {"sparsity": {"low": 0.3, "high": 0.9}}}


def test_the_space_holds_devices_and_writes_them_only_when_set():
    space = parse_space(BASE)
    assert (space.device, space.amp, space.latency.device) == ("auto", None, "cpu")
    d = space.to_dict()
    assert "device" not in d and "amp" not in d and "device" not in d["latency"]  # layouts stored before read the same
    set_ = parse_space({**BASE, "device": "cuda:1", "amp": "bf16", "latency": {"device": "cuda"}})
    assert (set_.device, set_.amp, set_.latency.device) == ("cuda:1", "bf16", "cuda")
    assert parse_space(set_.to_dict()) == set_
    assert set_.fingerprint() == space.fingerprint()  # where it runs is not what it searches
    assert set_.with_overrides(amp="none").amp is None
    assert space.with_overrides(device="cpu", latency_device="cuda:0").latency.device == "cuda:0"


@pytest.mark.parametrize("data, pattern", [
    ({"device": "gpu"}, r"x: device: 'gpu' is not a device; allowed: auto, cpu, cuda, cuda:N"),
    ({"amp": "fp8"}, r"x: amp: 'fp8' is not a mixed precision; allowed: null, bf16, fp16"),
    ({"latency": {"device": "tpu"}}, r"x: latency.device: 'tpu' is not a device"),
])
def test_bad_device_keys_in_a_space(data, pattern):
    with pytest.raises(ConfigError, match=pattern):
        parse_space({**BASE, **data}, "x")


def test_run_options_override_the_space():
    space = parse_space({**BASE, "device": "cpu", "amp": "bf16"})
    assert RunOptions().device_settings(space) == ("cpu", "bf16")
    assert RunOptions(device="auto", amp="none").device_settings(space) == ("auto", None)
    with pytest.raises(ConfigError, match=r"device must be one of auto, cpu, cuda, cuda:N, but got device='gpu'"):
        RunOptions(device="gpu")
    with pytest.raises(ConfigError, match=r"amp must be one of none, bf16, fp16, but got amp='fp32'"):
        RunOptions(amp="fp32")


def test_check_devices_per_executor(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert check_devices("auto", None, "cpu") == "cpu"
    assert check_devices("auto", "bf16", "cpu", ExecutorConfig("ray", gpus_per_trial=0)) == "cpu"
    with pytest.raises(ConfigError, match=r"^device='cuda' but CUDA is not available on this machine"):
        check_devices("cuda", None, "cpu", ExecutorConfig("ray", gpus_per_trial=1))
    # a cluster's GPUs are not this machine's: its workers run trials on their cuda:0
    cluster = ExecutorConfig("ray", gpus_per_trial=1, address="10.0.0.1:6379")
    assert check_devices("cuda", "fp16", "cpu", cluster) == "cuda:0"
    with pytest.raises(ConfigError, match=r"amp='fp16' needs a CUDA device, but the device is 'cpu'"):
        check_devices("auto", "fp16", "cpu", ExecutorConfig("ray", gpus_per_trial=0, address="10.0.0.1:6379"))
    with pytest.raises(ConfigError, match=r"^latency.device='cuda' but CUDA"):
        check_devices("cpu", None, "cuda", cluster)


def test_cuda_with_ray_needs_gpus_per_trial(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ConfigError, match=r"device='cuda:1' with executor ray needs gpus_per_trial > 0 .*but got "
                                          r"gpus_per_trial=0; allowed: gpus_per_trial > 0, or device cpu or auto"):
        check_devices("cuda:1", None, "cpu", ExecutorConfig("ray", gpus_per_trial=0))
    assert check_devices("cuda:1", "fp16", "cpu", ExecutorConfig("ray", gpus_per_trial=0.5)) == "cuda:0"
    assert check_devices("cuda:1", "fp16", "cuda:1") == "cuda:1"


def test_a_job_passes_device_and_amp_to_the_trial_only_when_set(monkeypatch):
    seen = []
    monkeypatch.setattr("autoprune.search._executors.run_trial", lambda *a, **kw: seen.append(kw))
    for device, amp in (("cpu", None), ("cuda:0", "bf16")):
        job = TrialJob(number=0, recipe=Recipe(), seed=0, device=device, amp=amp, latency=LatencyConfig(device="cuda"))
        assert execute_job(job, None, None, lambda step, m: False, None).error is None
    assert "device" not in seen[0] and "amp" not in seen[0]
    assert seen[1]["device"] == "cuda:0" and seen[1]["amp"] == "bf16" and seen[1]["latency"].device == "cuda"


def test_a_ray_worker_maps_the_job_to_its_gpu():
    from autoprune.search._ray import _Worker

    worker = object.__new__(_Worker)
    job = TrialJob(number=0, recipe=Recipe(), seed=0, device="cuda:3", latency=LatencyConfig(device="cuda:2"))
    worker.gpus = 1
    here = worker._here(job)
    assert here.device == "cuda:0" and here.latency.device == "cuda:0"
    worker.gpus = 0
    assert worker._here(TrialJob(number=0, recipe=Recipe(), seed=0, device="auto")).device == "cpu"


def test_the_default_space_runs_on_auto_and_measures_latency_on_the_cpu():
    space = load_space("default")
    assert space.device == "auto" and space.latency.device == "cpu"
