from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from autoprune.errors import ConfigError
from autoprune.measure import LatencyMemo, architecture_key, measure_latency, measure_latency_pair
from autoprune.measure import _latency as latency_module

FAST = dict(warmup=2, repeats=5, min_seconds=0.0)


def _stack(width: int) -> nn.Module:
    return nn.Sequential(nn.Linear(512, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10))


def test_narrow_stack_is_much_faster_than_wide_one():
    torch.manual_seed(0)
    x = torch.randn(64, 512)
    small, big = _stack(16), _stack(2048)  # about 0.5M vs 340M MACs per call
    assert 4 * measure_latency(small, x, **FAST) < measure_latency(big, x, **FAST)
    small_ms, big_ms = measure_latency_pair(small, big, x, **FAST)
    assert 4 * small_ms < big_ms


def test_threads_mode_and_device_are_restored():
    before = torch.get_num_threads()
    model = nn.Linear(8, 8).train()
    ms = measure_latency(model, torch.zeros(2, 8), threads=1 if before != 1 else 2, **FAST)
    assert ms > 0
    assert torch.get_num_threads() == before
    assert model.training


def test_threads_restored_when_the_model_fails():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        measure_latency(nn.Linear(8, 8), torch.zeros(2, 3), threads=1 if before != 1 else 2, **FAST)
    assert torch.get_num_threads() == before


def test_repeats_grow_until_min_seconds(monkeypatch):
    calls = []

    class Counting(nn.Module):
        def forward(self, x):
            calls.append(1)
            return x

    measure_latency(Counting(), torch.zeros(1), warmup=0, repeats=3, min_seconds=0.05)
    assert len(calls) > 3  # a no-op call takes microseconds: 3 calls cannot fill 50 ms


def test_pair_interleaves_calls():
    order = []

    class Tag(nn.Module):
        def __init__(self, tag):
            super().__init__()
            self.tag = tag

        def forward(self, x):
            order.append(self.tag)
            return x

    measure_latency_pair(Tag("a"), Tag("b"), torch.zeros(1), warmup=1, repeats=3, min_seconds=0.0)
    assert order == ["a", "b"] * 4


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"threads": 0}, r"threads must be an integer >= 1, but got threads=0"),
        ({"repeats": 0}, r"repeats must be an integer >= 1, but got repeats=0"),
        ({"warmup": -1}, r"warmup must be an integer >= 0, but got warmup=-1"),
        ({"min_seconds": -1.0}, r"min_seconds must be a number >= 0, but got min_seconds=-1.0"),
    ],
)
def test_bad_settings_are_rejected(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        measure_latency(nn.Linear(2, 2), torch.zeros(1, 2), **kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_latency_uses_events_and_returns_the_model():
    model = _stack(256)
    ms = measure_latency(model, torch.randn(64, 512), device="cuda", **FAST)
    assert ms > 0
    assert next(model.parameters()).device.type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_requested_without_cuda_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"latency.device='cuda' but CUDA is not available on this machine; allowed: cpu or auto"):
        measure_latency(nn.Linear(2, 2), torch.zeros(1, 2), device="cuda")


def test_architecture_key_ignores_weight_values_but_not_shapes():
    torch.manual_seed(0)
    dense = _stack(32)
    zeroed = _stack(32)
    with torch.no_grad():
        zeroed[0].weight[:, ::2] = 0  # unstructured pruning keeps the shapes: the same kernels run
    assert architecture_key(dense) == architecture_key(zeroed)
    assert architecture_key(dense) != architecture_key(_stack(31))  # one neuron removed
    assert architecture_key(dense) != architecture_key(_stack(32).double())


def test_latency_memo_measures_each_architecture_once(monkeypatch):
    calls = []

    def fake_pair(model, baseline_model, inputs, **settings):
        calls.append(settings)
        return float(len(calls)), 10.0

    monkeypatch.setattr(latency_module, "measure_latency_pair", fake_pair)
    memo = LatencyMemo()
    x = torch.zeros(4, 512)
    dense = _stack(64)
    assert memo.pair(_stack(32), dense, x, threads=1) == (1.0, 10.0)
    assert memo.pair(_stack(32), _stack(64), x, threads=1) == (1.0, 10.0)  # new weights, same shapes: reused
    assert memo.pair(_stack(16), dense, x, threads=1) == (2.0, 10.0)  # other shapes
    assert memo.pair(_stack(32), dense, torch.zeros(8, 512), threads=1) == (3.0, 10.0)  # other batch
    assert memo.pair(_stack(32), dense, x, threads=2) == (4.0, 10.0)  # other settings
    assert len(memo) == len(calls) == 4


def test_latency_memo_starts_from_measurements_stored_as_json(monkeypatch):
    calls = []

    def fake_pair(model, baseline_model, inputs, **settings):
        calls.append(settings)
        return 1.5, 10.25

    monkeypatch.setattr(latency_module, "measure_latency_pair", fake_pair)
    x = torch.zeros(4, 512)
    first = LatencyMemo()
    first.pair(_stack(32), _stack(64), x, threads=1)
    stored = json.loads(json.dumps(first.measured()))  # as a study keeps them
    second = LatencyMemo(stored)
    assert second.pair(_stack(32), _stack(64), x, threads=1) == (1.5, 10.25)
    assert len(calls) == 1  # read back, not timed again
    second.pair(_stack(16), _stack(64), x, threads=1)
    assert len(calls) == 2 and len(second) == 2
