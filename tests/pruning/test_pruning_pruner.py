from __future__ import annotations

import pytest
import torch
from torch import nn

from autoprune import get_task
from autoprune.errors import ConfigError
from autoprune.pruning import Pruner, effective_weight, schedule_targets
from autoprune.recipe import Recipe


@pytest.fixture(scope="module")
def mlp():
    return get_task("digits-mlp", seed=0)


@pytest.fixture(scope="module")
def cnn():
    return get_task("digits-cnn", seed=0)


def _model(task) -> nn.Module:
    torch.manual_seed(0)
    return task.build_model()


def _zeros(module: nn.Module) -> torch.Tensor:
    return effective_weight(module) == 0


def _sgd_step(model: nn.Module, task) -> None:
    """One plain SGD step between pruning steps (no torch.optim: its first use costs seconds)."""
    task.training_step(model, next(iter(task.train_batches(0)))).backward()
    with torch.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p -= 0.5 * p.grad
                p.grad = None


def test_unstructured_gradual_is_exact_and_cumulative(mlp) -> None:
    recipe = Recipe(sparsity=0.9, schedule="gradual", steps=3)
    pruner, model = Pruner(recipe, mlp), _model(mlp)
    previous = None
    for target in schedule_targets(recipe):
        assert pruner.step(model, target) is model
        zeros = {n: _zeros(m) for n, m in [("0", model[0]), ("2", model[2])]}
        for n, z in zeros.items():
            assert int(z.sum()) == round(target * z.numel())
            if previous is not None:
                assert bool((z | ~previous[n]).all())  # every earlier zero is still a zero
        assert not bool(_zeros(model[4]).any())  # the classifier is untouched
        previous = zeros
        _sgd_step(model, mlp)
    model = pruner.finalize(model)
    assert not hasattr(model[0], "weight_orig")
    assert float((model[0].weight == 0).float().mean()) == pytest.approx(0.9, abs=1e-4)
    assert model(mlp.example_input(2)).shape == (2, 10)


def test_global_reaches_the_total(mlp) -> None:
    recipe = Recipe(sparsity=0.8, allocation="global", schedule="iterative", steps=2)
    pruner, model = Pruner(recipe, mlp), _model(mlp)
    for target in schedule_targets(recipe):
        pruner.step(model, target)
        total = model[0].weight.numel() + model[2].weight.numel()
        assert int(_zeros(model[0]).sum() + _zeros(model[2]).sum()) == round(target * total)


def test_nm_steps_then_exact_pattern(mlp) -> None:
    recipe = Recipe(granularity="nm", nm_n=1, nm_m=4, schedule="iterative", steps=3)  # 0.25, 0.5, 0.75
    pruner, model = Pruner(recipe, mlp), _model(mlp)
    for target, zeros_per_group in zip(schedule_targets(recipe), (1, 2, 3)):
        pruner.step(model, target)
        groups = _zeros(model[2]).view(512, 128, 4).sum(-1)
        assert bool((groups == zeros_per_group).all())
        _sgd_step(model, mlp)
    assert bool((_zeros(model[0]).view(512, 16, 4).sum(-1) == 3).all())


def test_nm_rounding_capped_and_final_exact(mlp) -> None:
    recipe = Recipe(granularity="nm", nm_n=2, nm_m=4)
    pruner, model = Pruner(recipe, mlp), _model(mlp)
    pruner.step(model, 0.1)  # round(0.4) = 0 zeros: nothing happens
    assert not bool(_zeros(model[0]).any())
    pruner.step(model, 0.5)
    assert bool((_zeros(model[0]).view(512, 16, 4).sum(-1) == 2).all())


def test_nm_on_a_cnn_leaves_the_one_channel_input_conv_whole(cnn) -> None:
    pruner, model = Pruner(Recipe(granularity="nm"), cnn), _model(cnn)
    pruner.step(model, 0.5)
    assert not bool(_zeros(model[0]).any())  # Conv2d(1, 16): no complete group of 4 input channels
    zeros = _zeros(model[3]).permute(0, 2, 3, 1).reshape(-1, 8, 4).sum(-1)  # Conv2d(16, 32) grouped on inputs
    assert bool((zeros == 2).all())


def test_channel_iterative_ends_at_half_of_the_original(mlp) -> None:
    recipe = Recipe(granularity="channel", sparsity=0.5, schedule="iterative", steps=2)
    pruner, model = Pruner(recipe, mlp), _model(mlp)
    model = pruner.step(model, 0.25)
    assert model[0].out_features == 384
    _sgd_step(model, mlp)
    model = pruner.step(model, 0.5)
    assert (model[0].out_features, model[2].out_features, model[4].in_features) == (256, 256, 256)
    assert pruner.finalize(model) is model


def test_channel_global_on_cnn(cnn) -> None:
    pruner, model = Pruner(Recipe(granularity="channel", allocation="global", sparsity=0.5), cnn), _model(cnn)
    convs = (0, 3, 7)
    before = sum(model[i].out_channels for i in convs)
    pruner.step(model, 0.5)
    assert sum(model[i].out_channels for i in convs) == before // 2
    assert model(cnn.example_input(2)).shape == (2, 10)


@pytest.mark.parametrize("granularity", ["unstructured", "channel"])
def test_sensitivity_scans_once_and_meets_the_target(mlp, granularity: str, tmp_path) -> None:
    recipe = Recipe(granularity=granularity, allocation="sensitivity", sparsity=0.6, schedule="iterative", steps=2)
    pruner, model = Pruner(recipe, mlp, cache_dir=tmp_path), _model(mlp)
    for target in schedule_targets(recipe):
        pruner.step(model, target)
    assert pruner.scan is not None and set(pruner.scan) == {"0", "2"} and len(list(tmp_path.iterdir())) == 1
    if granularity == "channel":
        removed = 1024 - model[0].out_features - model[2].out_features
        assert abs(removed - 0.6 * 1024) <= 1  # per-layer counts are rounded
    else:
        total = model[0].weight.numel() + model[2].weight.numel()
        removed = int(_zeros(model[0]).sum() + _zeros(model[2]).sum())
        assert abs(removed - 0.6 * total) <= 2


@pytest.mark.parametrize(
    "recipe",
    [
        Recipe(criterion="random", sparsity=0.7),
        Recipe(criterion="taylor", sparsity=0.7),
        Recipe(criterion="wanda", granularity="nm"),
        Recipe(criterion="random", granularity="channel"),
        Recipe(criterion="taylor", granularity="channel"),
    ],
    ids=lambda r: r.summary(),
)
def test_deterministic_under_manual_seed(mlp, recipe: Recipe) -> None:
    def run() -> dict[str, torch.Tensor]:
        torch.manual_seed(3)
        model = mlp.build_model()
        return Pruner(recipe, mlp).finalize(Pruner(recipe, mlp).step(model, recipe.effective_sparsity)).state_dict()

    first, second = run(), run()
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_target_checked(mlp) -> None:
    with pytest.raises(ConfigError, match=r"target sparsity must be in \[0, 1\), but got target=1.2"):
        Pruner(Recipe(), mlp).step(_model(mlp), 1.2)


def test_zero_target_changes_nothing(mlp) -> None:
    model = _model(mlp)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    Pruner(Recipe(), mlp).step(model, 0.0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
