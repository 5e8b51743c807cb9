from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning import (
    allocate_by_sensitivity,
    apply_mask,
    effective_weight,
    sensitivity_scan,
)
from autoprune.recipe import Recipe


def _weighted_mean(amounts: dict[str, float], sizes: dict[str, int]) -> float:
    return sum(amounts[n] * sizes[n] for n in sizes) / sum(sizes.values())


def test_insensitive_layer_takes_more() -> None:
    scan = {"easy": {0.25: 0.9, 0.5: 0.9, 0.75: 0.9, 0.9: 0.9}, "hard": {0.25: 0.7, 0.5: 0.5, 0.75: 0.3, 0.9: 0.1}}
    sizes = {"easy": 100, "hard": 100}
    amounts = allocate_by_sensitivity(scan, sizes, baseline_metric=0.9, target=0.5)
    # 'easy' is free up to 0.9 (beyond it nothing was measured and the drop is assumed
    # to climb), so it takes 0.9 and 'hard' the remaining 0.1
    assert amounts["easy"] == pytest.approx(0.9, abs=1e-9) and amounts["hard"] == pytest.approx(0.1, abs=1e-9)
    assert _weighted_mean(amounts, sizes) == pytest.approx(0.5, abs=1e-9)


def test_weighted_mean_with_unequal_sizes() -> None:
    scan = {
        "a": {0.25: 0.95, 0.5: 0.9, 0.75: 0.7, 0.9: 0.5},
        "b": {0.25: 0.97, 0.5: 0.96, 0.75: 0.9, 0.9: 0.8},
        "c": {0.25: 0.8, 0.5: 0.5, 0.75: 0.2, 0.9: 0.1},
    }
    sizes = {"a": 1000, "b": 40000, "c": 300}
    for target in (0.1, 0.5, 0.8, 0.95):
        amounts = allocate_by_sensitivity(scan, sizes, 0.98, target)
        assert _weighted_mean(amounts, sizes) == pytest.approx(target, abs=1e-6)
        assert all(0.0 <= a <= 0.99 for a in amounts.values())
        assert amounts["b"] >= amounts["a"] >= amounts["c"]


def test_allocation_grows_with_the_target() -> None:
    scan = {"a": {0.5: 0.8, 0.9: 0.2}, "b": {0.5: 0.9, 0.9: 0.6}}
    sizes = {"a": 10, "b": 30}
    previous = {"a": 0.0, "b": 0.0}
    for target in (0.2, 0.4, 0.6, 0.8):
        amounts = allocate_by_sensitivity(scan, sizes, 0.9, target)
        assert all(amounts[n] >= previous[n] - 1e-9 for n in sizes)  # iterative steps never un-prune
        previous = amounts


def test_gains_count_as_no_drop_and_ties_spread() -> None:
    scan = {"a": {0.5: 0.95, 0.9: 0.91}, "b": {0.5: 0.92, 0.9: 0.93}}  # both at or above the baseline
    amounts = allocate_by_sensitivity(scan, {"a": 10, "b": 10}, 0.9, 0.4)
    assert amounts == pytest.approx({"a": 0.4, "b": 0.4})


def test_zero_target_and_bad_input() -> None:
    scan = {"a": {0.5: 0.5}}
    assert allocate_by_sensitivity(scan, {"a": 3}, 0.9, 0.0) == {"a": 0.0}
    with pytest.raises(ConfigError, match=r"target must be in \[0, 0.99\] .* but got target=0.995"):
        allocate_by_sensitivity(scan, {"a": 3}, 0.9, 0.995)
    with pytest.raises(ConfigError, match="no entry for layer 'b'"):
        allocate_by_sensitivity(scan, {"a": 3, "b": 3}, 0.9, 0.5)


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2, 2, bias=False)
        self.fc2 = nn.Linear(2, 4, bias=False)
        self.head = nn.Linear(4, 1)
        with torch.no_grad():
            self.fc1.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
            self.fc2.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fc2(self.fc1(x)))


def _abs_sum_metric(model: nn.Module) -> float:
    """A metric that can be checked by hand: the summed |weight| of fc1 and fc2 (masks applied)."""
    model(torch.ones(1, 2))  # like a real evaluation: pruning hooks refresh module.weight
    return float(effective_weight(model.fc1).detach().abs().sum() + effective_weight(model.fc2).detach().abs().sum())


@pytest.fixture
def tiny_task(make_task):
    return make_task(_Tiny, [(torch.ones(1, 2), torch.tensor([0.0]))], metric=_abs_sum_metric)


def test_unstructured_scan_by_hand_and_model_restored(tiny_task) -> None:
    model = _Tiny()
    scan = sensitivity_scan(model, tiny_task, Recipe(), levels=(0.25, 0.5, 0.75))
    # fc1 = 1+2+3+4 = 10, fc2 = 36: dropping the smallest 1, 2, 3 of fc1's weights (fc2 untouched)
    assert scan["fc1"] == {0.25: 45.0, 0.5: 43.0, 0.75: 40.0}
    # fc2 has 8 weights: 2, 4 and 6 of the smallest go
    assert scan["fc2"] == {0.25: 43.0, 0.5: 36.0, 0.75: 25.0}
    assert _abs_sum_metric(model) == 46.0


def test_channel_scan_on_copies(make_task) -> None:
    task = make_task(_Tiny, [(torch.ones(1, 2), torch.tensor([0.0]))], metric=lambda m: float(m.fc2.out_features))
    model = _Tiny()
    scan = sensitivity_scan(model, task, Recipe(granularity="channel"), levels=(0.25, 0.5, 0.75))
    assert scan["fc2"] == {0.25: 3.0, 0.5: 2.0, 0.75: 1.0}
    assert scan["fc1"] == {0.25: 4.0, 0.5: 4.0, 0.75: 4.0}
    assert model.fc2.out_features == 4 and model.fc1.out_features == 2


def test_scan_cache(tiny_task, tmp_path) -> None:
    model = _Tiny()
    first = sensitivity_scan(model, tiny_task, Recipe(), levels=(0.5,), cache_dir=tmp_path)
    calls = tiny_task.evaluations
    assert calls == 2
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".json"  # no temporary file left behind
    assert json.loads(files[0].read_text())["key"]["criterion"] == "magnitude_l1"
    assert sensitivity_scan(model, tiny_task, Recipe(), levels=(0.5,), cache_dir=tmp_path) == first
    assert tiny_task.evaluations == calls  # served from the cache
    sensitivity_scan(model, tiny_task, Recipe(), levels=(0.25,), cache_dir=tmp_path)  # other levels
    sensitivity_scan(model, tiny_task, Recipe(criterion="magnitude_l2"), levels=(0.5,), cache_dir=tmp_path)
    with torch.no_grad():
        model.fc1.weight.mul_(2)  # other weights (e.g. an untrained model)
    sensitivity_scan(model, tiny_task, Recipe(), levels=(0.5,), cache_dir=tmp_path)
    assert tiny_task.evaluations == calls + 6 and len(list(tmp_path.iterdir())) == 4


def test_damaged_cache_is_recomputed(tiny_task, tmp_path) -> None:
    sensitivity_scan(_Tiny(), tiny_task, Recipe(), levels=(0.5,), cache_dir=tmp_path)
    (path,) = tmp_path.iterdir()
    path.write_text("{not json")
    assert sensitivity_scan(_Tiny(), tiny_task, Recipe(), levels=(0.5,), cache_dir=tmp_path)["fc1"] == {0.5: 43.0}


def test_scan_rejects_nm_and_bad_levels(tiny_task) -> None:
    with pytest.raises(ConfigError, match="granularity unstructured or channel or .*, but got granularity=.nm."):
        sensitivity_scan(_Tiny(), tiny_task, Recipe(granularity="nm"))
    with pytest.raises(ConfigError, match=r"levels must be increasing values in \(0, 1\)"):
        sensitivity_scan(_Tiny(), tiny_task, Recipe(), levels=(0.5, 0.25))


def test_scan_of_a_masked_model_restores_the_masked_weights(tiny_task) -> None:
    model = _Tiny()
    apply_mask(model.fc1, torch.tensor([[False, True], [True, True]]))  # weight 1 already pruned
    scan = sensitivity_scan(model, tiny_task, Recipe(keep_layers=("fc2",)), levels=(0.5, 0.75))
    # the held zero counts toward the level: 0.5 removes 1 (already gone) and 2
    assert scan["fc1"] == {0.5: 43.0, 0.75: 40.0}
    assert model.fc1.weight.tolist() == [[0.0, 2.0], [3.0, 4.0]]
    assert model.fc1.weight_orig.tolist() == [[1.0, 2.0], [3.0, 4.0]]
