from __future__ import annotations

import pytest
import torch
import torch_pruning as tp
from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning import (
    WandaChannelImportance,
    apply_mask,
    build_graph,
    channel_importance,
    channel_scoring,
    weight_scores,
)
from autoprune.recipe import Recipe


def _linear(weight: list[list[float]]) -> nn.Linear:
    lin = nn.Linear(len(weight[0]), len(weight), bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(weight))
    return lin


def _sum_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return outputs.sum()  # dL/dw of a bias-free Linear is then the input


def test_magnitudes() -> None:
    lin = _linear([[1.0, -2.0, 3.0, -4.0]])
    assert weight_scores("magnitude_l1", [("fc", lin)], lin)["fc"].tolist() == [[1.0, 2.0, 3.0, 4.0]]
    assert weight_scores("magnitude_l2", [("fc", lin)], lin)["fc"].tolist() == [[1.0, 4.0, 9.0, 16.0]]


def test_magnitude_reads_effective_weight() -> None:
    lin = _linear([[1.0, -2.0, 3.0, -4.0]])
    apply_mask(lin, torch.tensor([[True, False, True, True]]))
    assert weight_scores("magnitude_l1", [("fc", lin)], lin)["fc"].tolist() == [[1.0, 0.0, 3.0, 4.0]]


def test_random_is_seeded_and_per_layer() -> None:
    a, b = nn.Linear(8, 4), nn.Linear(8, 4)
    layers = [("a", a), ("b", b)]
    first = weight_scores("random", layers, a)
    torch.manual_seed(123)  # the global generator does not matter
    second = weight_scores("random", layers, a)
    assert torch.equal(first["a"], second["a"]) and torch.equal(first["b"], second["b"])
    assert not torch.equal(first["a"], first["b"])
    assert first["a"].shape == (4, 8) and 0.0 <= float(first["a"].min()) and float(first["a"].max()) < 1.0


def test_wanda_linear_hand_computed(make_task) -> None:
    lin = _linear([[1.0, -2.0, 3.0, -4.0]])
    task = make_task(lambda: lin, [(torch.tensor([[100.0, 10.0, 1.0, 0.1]]), torch.tensor([0]))])
    scores = weight_scores("wanda", [("fc", lin)], lin, task, Recipe(calibration_batches=1))["fc"]
    assert scores[0].tolist() == pytest.approx([100.0, 20.0, 3.0, 0.4])
    assert not lin._forward_hooks  # hooks removed


def test_wanda_norm_spans_batches_and_tokens(make_task) -> None:
    lin = _linear([[1.0, 1.0]])
    # two batches, the second with a token dimension: column norms sqrt(3^2 + 4^2) = 5 and sqrt(1 + 0) = 1
    batches = [(torch.tensor([[3.0, 1.0]]), torch.tensor([0])), (torch.tensor([[[4.0, 0.0]]]), torch.tensor([0]))]
    task = make_task(lambda: lin, batches)
    scores = weight_scores("wanda", [("fc", lin)], lin, task, Recipe(calibration_batches=2))["fc"]
    assert scores.tolist() == [[5.0, 1.0]]
    # calibration_batches=1 sees only the first batch
    scores = weight_scores("wanda", [("fc", lin)], lin, task, Recipe(calibration_batches=1))["fc"]
    assert scores.tolist() == [[3.0, 1.0]]


def test_wanda_conv_per_input_channel(make_task) -> None:
    conv = nn.Conv2d(2, 1, kernel_size=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -2.0]).view(1, 2, 1, 1))
    x = torch.tensor([[3.0, 4.0], [0.0, 1.0]]).view(1, 2, 1, 2)  # channel norms 5 and 1
    task = make_task(lambda: conv, [(x, torch.tensor([0]))])
    scores = weight_scores("wanda", [("c", conv)], conv, task, Recipe(calibration_batches=1))["c"]
    assert scores.flatten().tolist() == [5.0, 2.0] and scores.shape == conv.weight.shape


def test_wanda_grouped_conv_uses_its_groups_channels(make_task) -> None:
    conv = nn.Conv2d(2, 4, kernel_size=1, groups=2, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.tensor([[3.0, 4.0], [0.0, 1.0]]).view(1, 2, 1, 2)
    task = make_task(lambda: conv, [(x, torch.tensor([0]))])
    scores = weight_scores("wanda", [("c", conv)], conv, task, Recipe(calibration_batches=1))["c"]
    assert scores.flatten().tolist() == [5.0, 5.0, 1.0, 1.0]  # out 0,1 read channel 0; out 2,3 channel 1


def test_taylor_hand_computed_and_leaves_grads_alone(make_task) -> None:
    lin = _linear([[2.0, -3.0]])
    batches = [(torch.tensor([[1.0, 2.0]]), torch.tensor([0])), (torch.tensor([[3.0, -1.0]]), torch.tensor([0]))]
    task = make_task(lambda: lin, batches, loss=_sum_loss)
    sentinel = torch.full_like(lin.weight, 7.0)
    lin.weight.grad = sentinel
    # summed gradient = [1, 2] + [3, -1] = [4, 1]; |w * g| = [8, 3]
    scores = weight_scores("taylor", [("fc", lin)], lin, task, Recipe(calibration_batches=2))["fc"]
    assert scores.tolist() == [[8.0, 3.0]]
    assert lin.weight.grad is sentinel


def test_taylor_is_zero_where_masked_and_keeps_mode(make_task) -> None:
    lin = _linear([[2.0, -3.0]])
    apply_mask(lin, torch.tensor([[False, True]]))
    task = make_task(lambda: lin, [(torch.tensor([[1.0, 2.0]]), torch.tensor([0]))], loss=_sum_loss)
    lin.train()
    scores = weight_scores("taylor", [("fc", lin)], lin, task, Recipe(calibration_batches=1))["fc"]
    assert scores.tolist() == [[0.0, 6.0]]
    assert lin.training and lin.weight_orig.grad is None


def test_data_criteria_need_a_task() -> None:
    lin = _linear([[1.0]])
    with pytest.raises(ConfigError, match="criterion='wanda' needs calibration data, but got task=None"):
        weight_scores("wanda", [("fc", lin)], lin)


def test_unknown_criterion() -> None:
    with pytest.raises(ConfigError, match="criterion must be one of magnitude_l1, .*wanda, but got criterion='snip'"):
        weight_scores("snip", [], nn.Linear(1, 1))
    with pytest.raises(ConfigError, match="criterion='snip'"):
        channel_importance("snip")


def test_channel_importance_mapping() -> None:
    l1, l2 = channel_importance("magnitude_l1"), channel_importance("magnitude_l2")
    assert isinstance(l1, tp.importance.GroupMagnitudeImportance) and l1.p == 1 and l2.p == 2
    assert isinstance(channel_importance("random"), tp.importance.RandomImportance)
    assert isinstance(channel_importance("taylor"), tp.importance.GroupTaylorImportance)
    assert isinstance(channel_importance("wanda"), WandaChannelImportance)


class _TwoLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(2, 3, bias=False)
        self.fc2 = nn.Linear(3, 1, bias=False)
        with torch.no_grad():
            self.fc1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
            self.fc2.weight.copy_(torch.tensor([[1.0, 2.0, 0.5]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def _fc1_group(model: _TwoLayer, task) -> tp.dependency.Group:
    graph = build_graph(model, task)
    return graph.get_pruning_group(model.fc1, tp.prune_linear_out_channels, [0, 1, 2])


def test_wanda_channel_importance_hand_computed(make_task) -> None:
    model = _TwoLayer()
    task = make_task(_TwoLayer, [(torch.tensor([[3.0, 4.0]]), torch.tensor([0]))])
    imp = channel_importance("wanda")
    with channel_scoring(imp, model, task, Recipe(calibration_batches=1)):
        scores = imp(_fc1_group(model, task))
    # fc1 rows: |W1| @ [3, 4] = [3, 4, 7]; fc2 columns: |W2| * relu(W1 x) = [1*3, 2*4, 0.5*7] = [3, 8, 3.5]
    # mean over the two layers [3, 6, 5.25], divided by its mean 4.75
    expected = torch.tensor([3.0, 6.0, 5.25]) / 4.75
    assert torch.allclose(scores, expected)
    assert imp.scores == {}  # calibration data released after the block


def test_channel_taylor_grads_only_inside_the_block(make_task) -> None:
    model = _TwoLayer()
    task = make_task(_TwoLayer, [(torch.tensor([[3.0, 4.0]]), torch.tensor([0]))], loss=_sum_loss)
    imp = channel_importance("taylor")
    group = _fc1_group(model, task)
    with channel_scoring(imp, model, task, Recipe(calibration_batches=1)):
        assert model.fc1.weight.grad is not None
        scores = imp(group)
    assert model.fc1.weight.grad is None and model.fc2.weight.grad is None
    # d out / d W1[c, j] = W2[c] * x_j (every hidden unit is active); d out / d W2[c] = hidden_c = [3, 4, 7]
    g1 = torch.tensor([[1.0], [2.0], [0.5]]) * torch.tensor([[3.0, 4.0]])
    out_rows = (model.fc1.weight * g1).abs().sum(1)
    in_cols = (model.fc2.weight * torch.tensor([[3.0, 4.0, 7.0]])).abs().sum(0)
    assert out_rows.tolist() == [3.0, 8.0, 3.5] and in_cols.tolist() == [3.0, 8.0, 3.5]
    expected = (out_rows + in_cols) / 2
    assert torch.allclose(scores, expected / expected.mean())


def test_data_criteria_restore_each_submodules_mode(make_task) -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Linear(2, 1))
    model.train()
    model[1].eval()  # a frozen batch norm inside a training model
    task = make_task(lambda: model, [(torch.randn(4, 2), torch.zeros(4))], loss=_sum_loss)
    for criterion in ("taylor", "wanda"):
        weight_scores(criterion, [("0", model[0])], model, task, Recipe(calibration_batches=1))
        assert [m.training for m in model] == [True, False, True]
    build_graph(model, task)
    assert [m.training for m in model] == [True, False, True]
