from __future__ import annotations

import os

import pytest
import torch
import torch_pruning as tp
from torch import nn
from torch.nn.utils import prune

from autoprune.errors import ConfigError
from autoprune.recipe import Recipe
from autoprune.serialize import (
    PrunedModelError,
    load_pruned,
    resize_to_state_dict,
    save_pruned,
)
from autoprune.tasks import Task


class _TinyTask(Task):
    """Only the model matters for serialization; the data methods are never called."""

    def __init__(self, name: str, factory, shape) -> None:
        self.name, self._factory, self._shape = name, factory, shape

    def build_model(self) -> nn.Module:
        return self._factory()

    def train_batches(self, epoch):
        return iter(())

    def val_batches(self):
        return iter(())

    def example_input(self, batch_size: int = 1):
        return torch.randn(batch_size, *self._shape, generator=torch.Generator().manual_seed(0))


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.LayerNorm(32), nn.ReLU(), nn.Linear(32, 4))


def _cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU(),  # depthwise
        nn.Conv2d(8, 16, 1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5),
    )


MLP = _TinyTask("tiny-mlp", _mlp, (16,))
CNN = _TinyTask("tiny-cnn", _cnn, (3, 6, 6))


def _channel_pruned(task: _TinyTask) -> nn.Module:
    torch.manual_seed(0)
    model = task.build_model()
    if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):  # non-trivial BN statistics
        model.train()
        with torch.no_grad():
            model(torch.randn(8, *task._shape))
    model.eval()
    pruner = tp.pruner.MetaPruner(
        model, task.example_input(1), importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=0.5, ignored_layers=[model[-1]],
    )
    pruner.step()
    return model


@pytest.mark.parametrize("task", [MLP, CNN], ids=["mlp", "cnn"])
def test_channel_pruned_model_round_trips(tmp_path, task):
    model = _channel_pruned(task)
    assert any(p.shape != q.shape for p, q in zip(model.state_dict().values(), task.build_model().state_dict().values()))
    recipe = Recipe(granularity="channel", sparsity=0.5)
    path = save_pruned(tmp_path / "sub" / "model.pt", model, recipe=recipe, task_name=task.name,
                       sparse=False, extra={"accuracy": 0.9, "curve": [[1, 0.8]]})
    assert path == tmp_path / "sub" / "model.pt"
    assert os.listdir(path.parent) == ["model.pt"]  # the temporary file is gone

    loaded, info = load_pruned(path, task)
    x = task.example_input(4)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-6)
    assert info == {"task": task.name, "recipe": recipe, "sparse": False, "extra": {"accuracy": 0.9, "curve": [[1, 0.8]]}}
    assert not loaded.training


def test_resized_attributes_match_the_pruned_modules():
    model = _channel_pruned(CNN)
    fresh = resize_to_state_dict(CNN.build_model(), model.state_dict())
    for (name, a), (_, b) in zip(model.named_modules(), fresh.named_modules()):
        for attr in ("in_channels", "out_channels", "groups", "num_features", "in_features", "out_features"):
            assert getattr(a, attr, None) == getattr(b, attr, None), (name, attr)
    assert fresh[3].groups == fresh[3].in_channels == fresh[3].out_channels == 4  # still depthwise


def test_masked_sparse_model_round_trips_and_is_smaller(tmp_path):
    torch.manual_seed(0)
    model = _mlp()
    prune.global_unstructured(
        [(model[0], "weight"), (model[2], "weight")], pruning_method=prune.L1Unstructured, amount=0.9
    )
    sparse_path = save_pruned(tmp_path / "s.pt", model, recipe=Recipe(sparsity=0.9), task_name=MLP.name, sparse=True)
    dense_path = save_pruned(tmp_path / "d.pt", model, recipe=Recipe(sparsity=0.9), task_name=MLP.name, sparse=False)
    x = MLP.example_input(4)
    for path in (sparse_path, dense_path):
        loaded, info = load_pruned(path, MLP)
        with torch.no_grad():
            assert torch.equal(loaded(x), model(x))
        assert int((loaded[0].weight == 0).sum()) == int((model[0].weight == 0).sum())
    assert info["sparse"] is False
    assert sparse_path.stat().st_size < dense_path.stat().st_size


def test_missing_file(tmp_path):
    with pytest.raises(PrunedModelError, match=r"pruned model file '.*nope\.pt' does not exist"):
        load_pruned(tmp_path / "nope.pt", MLP)


def test_corrupted_file(tmp_path):
    path = save_pruned(tmp_path / "m.pt", _mlp(), recipe=Recipe(), task_name=MLP.name, sparse=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(PrunedModelError, match=r"is not an autoprune pruned model \(torch.load failed"):
        load_pruned(path, MLP)


def test_foreign_torch_file(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save(_mlp().state_dict(), path)
    with pytest.raises(PrunedModelError, match=r"format is None, expected 'autoprune.pruned/1'"):
        load_pruned(path, MLP)


def test_pickled_module_is_refused(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(_mlp(), path)  # a whole module: weights_only refuses it
    with pytest.raises(PrunedModelError, match="torch.load failed"):
        load_pruned(path, MLP)


def test_other_task(tmp_path):
    path = save_pruned(tmp_path / "m.pt", _mlp(), recipe=Recipe(), task_name=MLP.name, sparse=False)
    with pytest.raises(PrunedModelError, match="holds a model of task 'tiny-mlp', but task 'tiny-cnn' was given"):
        load_pruned(path, CNN)


def test_weights_that_do_not_fit(tmp_path):
    wrong = _TinyTask("tiny-mlp", lambda: nn.Sequential(nn.Linear(16, 4)), (16,))
    path = save_pruned(tmp_path / "m.pt", _mlp(), recipe=Recipe(), task_name=MLP.name, sparse=False)
    with pytest.raises(PrunedModelError, match=r"0.weight has shape torch.Size\(\[32, 16\]\); allowed: at most \[4, 16\]"):
        load_pruned(path, wrong)


def test_a_huge_declared_shape_is_refused_before_allocation(tmp_path):
    # a packed entry declares its dense shape: 10^6 x 10^6 floats would be 4 TB
    path = save_pruned(tmp_path / "m.pt", _mlp(), recipe=Recipe(), task_name=MLP.name, sparse=True)
    data = torch.load(path, weights_only=True)
    key = next(iter(data["state_dict"]["tensors"]))
    data["state_dict"]["tensors"][key] = {"kind": "bitmask", "shape": [10**6, 10**6],
                                          "mask": torch.zeros(1, dtype=torch.uint8), "values": torch.zeros(0)}
    torch.save(data, path)
    with pytest.raises(PrunedModelError, match=r"has shape \[1000000, 1000000\]; allowed: at most \["):
        load_pruned(path, MLP)


def test_a_file_larger_than_the_dense_model_is_refused(tmp_path):
    path = tmp_path / "big.pt"
    torch.save({"format": "autoprune.pruned/1", "pad": torch.zeros(10**6)}, path)
    with pytest.raises(PrunedModelError, match=r"bytes; allowed: at most \d+ for a model of task 'tiny-mlp'"):
        load_pruned(path, MLP)


class _Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(8))
        self.width = 8

    def forward(self, x):
        return x * self.scale


def test_unknown_module_type_that_changed_shape_is_a_clear_error():
    model = nn.Sequential(nn.Linear(4, 8), _Scaled())
    saved = {"0.weight": torch.zeros(6, 4), "0.bias": torch.zeros(6), "1.scale": torch.zeros(6)}
    with pytest.raises(PrunedModelError, match=r"cannot resize module '1' of type _Scaled .*scale \(6,\)"):
        resize_to_state_dict(model, saved)


def test_extra_must_be_plain(tmp_path):
    with pytest.raises(ConfigError, match=r"extra\['when'\] must hold only .* but got object"):
        save_pruned(tmp_path / "m.pt", _mlp(), recipe=Recipe(), task_name=MLP.name, sparse=False,
                    extra={"when": object()})
