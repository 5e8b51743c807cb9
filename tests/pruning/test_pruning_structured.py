from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from autoprune import get_task
from autoprune.errors import ConfigError
from autoprune.pruning import prune_channels
from autoprune.recipe import Recipe


class _ResBlockNet(nn.Module):
    """stem conv+BN -> (conv+BN+ReLU -> conv+BN) + stem -> ReLU -> pool -> fc."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.bn0 = nn.BatchNorm2d(16)
        self.conv1 = nn.Conv2d(16, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn0(self.stem(x)))
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(h)))))
        return self.fc(torch.relu(y + h).mean((2, 3)))


class _ConcatNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 1)
        self.b = nn.Conv2d(3, 8, 1)
        self.merge = nn.Conv2d(16, 8, 1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.merge(torch.cat([self.a(x), self.b(x)], 1)).mean((2, 3)))


class _DictInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fa = nn.Linear(4, 8)
        self.fb = nn.Linear(3, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.fa(a) + self.fb(b)))


def _image_task(make_task, model_fn):
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 2, (4,), generator=gen)) for _ in range(2)]
    return make_task(model_fn, batches)


@pytest.fixture(scope="module")
def digits():
    return get_task("digits-mlp")


def test_digits_mlp_half(digits) -> None:
    model = prune_channels(digits.build_model(), digits, Recipe(granularity="channel"), 0.5)
    assert (model[0].out_features, model[2].in_features, model[2].out_features) == (256, 256, 256)
    assert (model[4].in_features, model[4].out_features) == (256, 10)
    assert sum(p.numel() for p in model.parameters()) == 64 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
    assert model(digits.example_input(3)).shape == (3, 10)


def test_cumulative_steps_count_original_channels(digits) -> None:
    recipe = Recipe(granularity="channel")
    model = digits.build_model()
    original = {"0": 512, "2": 512}
    prune_channels(model, digits, recipe, 0.25, original=original)
    assert (model[0].out_features, model[2].out_features) == (384, 384)
    prune_channels(model, digits, recipe, 0.5, original=original)
    assert (model[0].out_features, model[2].out_features) == (256, 256)
    prune_channels(model, digits, recipe, 0.5, original=original)  # already there: nothing more goes
    assert model[0].out_features == 256


def test_kept_channels_are_the_largest(digits) -> None:
    model = digits.build_model()
    norms = model[0].weight.detach().abs().sum(1) + model[2].weight.detach().abs().sum(0)
    top = set(torch.topk(norms, 256).indices.tolist())
    before = model[0].weight.detach().clone()
    prune_channels(model, digits, Recipe(granularity="channel"), 0.5)
    kept = [i for i in range(512) if any(torch.equal(before[i], r) for r in model[0].weight.detach())]
    # tp's group L1 importance: mean of the row norm in layer 0 and the column norm in layer 2
    assert set(kept) == top


def test_keep_layers_and_per_layer_fractions(digits) -> None:
    model = prune_channels(digits.build_model(), digits, Recipe(granularity="channel", keep_layers=("2",)), 0.5)
    assert (model[0].out_features, model[2].in_features, model[2].out_features) == (256, 256, 512)
    model = prune_channels(digits.build_model(), digits, Recipe(granularity="channel"), {"0": 0.75, "2": 0.25})
    assert (model[0].out_features, model[2].out_features) == (128, 384)


def test_global_ranking_removes_the_overall_fraction(digits) -> None:
    model = prune_channels(digits.build_model(), digits, Recipe(granularity="channel"), 0.5, global_ranking=True)
    assert model[0].out_features + model[2].out_features == 512
    assert model[2].in_features == model[0].out_features and model[4].in_features == model[2].out_features


@pytest.mark.parametrize("criterion", ["magnitude_l1", "magnitude_l2", "random", "taylor", "wanda"])
def test_residual_block_with_batchnorm_stays_consistent(make_task, criterion: str) -> None:
    torch.manual_seed(0)
    task = _image_task(make_task, _ResBlockNet)
    model = task.build_model()
    prune_channels(model, task, Recipe(granularity="channel", criterion=criterion), 0.5)
    # stem and conv2 are added together, so they are cut together (with bn0, bn2, conv1's input, fc's input)
    assert model.stem.out_channels == model.conv2.out_channels == model.bn0.num_features == model.bn2.num_features == 8
    assert model.conv1.out_channels == model.bn1.num_features == model.conv2.in_channels == 8
    assert model.conv1.in_channels == 8 and model.fc.in_features == 8 and model.fc.out_features == 5
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 5)
    assert all(p.grad is None for p in model.parameters())


def test_concatenation_stays_consistent(make_task) -> None:
    task = _image_task(make_task, _ConcatNet)
    model = prune_channels(task.build_model(), task, Recipe(granularity="channel"), 0.5)
    assert (model.a.out_channels, model.b.out_channels) == (4, 4)
    assert (model.merge.in_channels, model.merge.out_channels) == (8, 4)
    assert model(torch.randn(2, 3, 4, 4)).shape == (2, 2)


def test_dict_inputs_are_forwarded_by_keyword(make_task) -> None:
    example = {"a": torch.randn(1, 4), "b": torch.randn(1, 3)}
    task = make_task(_DictInput, [(example, torch.tensor([0]))], example=example)
    model = prune_channels(task.build_model(), task, Recipe(granularity="channel"), 0.5)
    assert model.fa.out_features == model.fb.out_features == model.head.in_features == 4
    assert model(**example).shape == (1, 2)


def test_bad_targets(digits) -> None:
    with pytest.raises(ConfigError, match=r"channel fraction must be in \[0, 1\), but got 1.0 for layer '0'"):
        prune_channels(digits.build_model(), digits, Recipe(granularity="channel"), 1.0)
    with pytest.raises(ConfigError, match="target has no fraction for prunable layer '2'"):
        prune_channels(digits.build_model(), digits, Recipe(granularity="channel"), {"0": 0.5})


def test_precomputed_scores_match_scoring_in_place(digits) -> None:
    from autoprune.pruning import channel_scores

    recipe = Recipe(granularity="channel", criterion="taylor", calibration_batches=1)
    model = digits.build_model()
    scores = channel_scores(model, digits, recipe)
    assert sorted(scores) == ["0", "2"] and scores["0"].shape == (512,)
    a = prune_channels(copy.deepcopy(model), digits, recipe, 0.5, scores=scores)
    b = prune_channels(copy.deepcopy(model), digits, recipe, 0.5)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    message = "scores must match the model's channels, but got 512 scores for layer '[02]' with 256 channels"
    with pytest.raises(ConfigError, match=message):
        prune_channels(a, digits, recipe, 0.75, scores=scores)
