"""Global allocation on layers whose scores differ by orders of magnitude: scores normalised
per channel group, and ``max_layer_sparsity`` capping what any one layer loses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning import Pruner, allocate_by_sensitivity, global_masks, prune_channels
from autoprune.pruning.structured import _global_plan, normalized_scores
from autoprune.recipe import Recipe


def _two_scales() -> nn.Sequential:
    """Linear 8->16 with weights ~1, Linear 16->8 and the classifier with weights ~1e-3.

    W0[c, :] = c + 1, W2[d, c] = (c + 1)(d + 1) / 1000, W4[k, d] = (d + 1) / 1000: every
    channel group's Torch-Pruning L1 score is proportional to its index + 1, so after
    normalisation both groups hold the same relative scores, 1000 times apart before it.
    """
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(1.0, 17.0).unsqueeze(1).expand(16, 8))
        model[2].weight.copy_(torch.outer(torch.arange(1.0, 9.0), torch.arange(1.0, 17.0)) / 1000)
        model[4].weight.copy_(torch.arange(1.0, 9.0).expand(2, 8) / 1000)
    return model


@pytest.fixture
def task(make_task):
    batches = [(torch.randn(4, 8, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 0, 1]))]
    return make_task(_two_scales, batches)


def test_raw_global_ranking_empties_the_small_layer_normalised_and_capped_does_not(task):
    model = _two_scales()
    # raw scores, by hand: the groups' row L1 norms, 8 (c + 1) and 0.136 (d + 1)
    raw = [("g0", ["0"], 8.0 * torch.arange(1.0, 17.0)), ("g2", ["2"], 0.136 * torch.arange(1.0, 9.0))]
    original = {"0": 16, "2": 8}
    plan = dict(_global_plan(raw, original, 0.5, normalize=False))  # remove 12 of 24
    assert sorted(plan["g2"].tolist()) == list(range(7))  # all but the best channel: 1 of 8 left
    assert sorted(plan["g0"].tolist()) == list(range(5))
    # normalised: (c + 1) / 8.5 and (d + 1) / 4.5; the 12 lowest are 8 of g0 and 4 of g2
    plan = dict(_global_plan(raw, original, 0.5))
    assert sorted(plan["g0"].tolist()) == list(range(8))
    assert sorted(plan["g2"].tolist()) == list(range(4))

    pruned = prune_channels(model, task, Recipe(granularity="channel", allocation="global"), 0.5, global_ranking=True)
    assert (pruned[0].out_features, pruned[2].out_features) == (8, 4)


def test_the_cap_holds_where_normalised_scores_alone_would_empty_a_layer():
    # g2's channels all score far below g0's even relative to their own mean (one large outlier)
    scored = [("g0", ["0"], torch.ones(8)), ("g2", ["2"], torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 100.0]))]
    original = {"0": 8, "2": 8}
    plan = dict(_global_plan(scored, original, 0.5))  # g2 normalised: 7 x 0.07 and 7.5
    assert len(plan["g2"]) == 7 and "g0" in plan and len(plan["g0"]) == 1
    capped = dict(_global_plan(scored, original, 0.5, max_layer_amount=0.5))
    # g2 keeps ceil(8 x 0.5) = 4; the rest of the 8 removed come from g0
    assert len(capped["g2"]) == 4 and len(capped["g0"]) == 4
    assert 7 not in capped["g2"].tolist()


def test_normalized_scores_are_idempotent_and_leave_degenerate_groups():
    x = torch.tensor([1.0, 3.0])
    assert normalized_scores(x).tolist() == [0.5, 1.5]
    assert normalized_scores(normalized_scores(x)).tolist() == [0.5, 1.5]
    assert normalized_scores(torch.zeros(3)).tolist() == [0.0, 0.0, 0.0]


def test_global_masks_cap_each_layer():
    scores = {"small": torch.full((4,), 0.001), "big": torch.arange(1.0, 9.0)}
    # 6 of 12: uncapped, all 4 small weights go, then the 2 lowest big ones
    uncapped = global_masks(scores, 0.5)
    assert uncapped["small"].tolist() == [False] * 4 and uncapped["big"].sum() == 6
    capped = global_masks(scores, 0.5, max_layer_amount=0.5)  # small loses floor(0.5 x 4) = 2
    assert int((~capped["small"]).sum()) == 2
    assert capped["big"].tolist() == [False] * 4 + [True] * 4


def _unstructured_model() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.rand(16, 8, generator=torch.Generator().manual_seed(1)) + 1.0)  # in [1, 2)
        model[2].weight.copy_(torch.rand(4, 16, generator=torch.Generator().manual_seed(2)) / 1000)  # < 0.001
    return model


@pytest.mark.parametrize(("cap", "small_left", "big_left"), [(1.0, 0, 96), (0.75, 16, 80)])
def test_unstructured_global_respects_max_layer_sparsity(make_task, cap, small_left, big_left):
    task = make_task(_unstructured_model, [(torch.randn(2, 8), torch.tensor([0, 1]))])
    # 192 prunable weights (128 + 64), 96 removed: uncapped, the small layer's 64 all go
    recipe = Recipe(granularity="unstructured", allocation="global", sparsity=0.5, max_layer_sparsity=cap)
    model = Pruner(recipe, task).step(_unstructured_model(), 0.5)
    assert int((model[2].weight != 0).sum()) == small_left
    assert int((model[0].weight != 0).sum()) == big_left


def test_a_cap_below_the_sparsity_is_raised_to_it():
    recipe = Recipe(granularity="channel", allocation="global", sparsity=0.9, max_layer_sparsity=0.5)
    assert recipe.layer_cap == 0.9
    assert Recipe(sparsity=0.3, max_layer_sparsity=0.5).layer_cap == 0.5
    assert "global<=0.90" in recipe.summary()


@pytest.mark.parametrize("value", [0.0, 1.5, "0.5", True])
def test_max_layer_sparsity_bounds(value):
    with pytest.raises(ConfigError, match=r"max_layer_sparsity must be a number in \[0.05, 1\]"):
        Recipe(max_layer_sparsity=value)


def test_sensitivity_allocation_respects_the_cap():
    scan = {"a": {0.5: 0.9, 0.9: 0.9}, "b": {0.5: 0.5, 0.9: 0.1}}
    amounts = allocate_by_sensitivity(scan, {"a": 100, "b": 100}, 0.9, 0.5)
    assert amounts["a"] == pytest.approx(0.9)  # the insensitive layer takes nearly all
    capped = allocate_by_sensitivity(scan, {"a": 100, "b": 100}, 0.9, 0.5, max_amount=0.6)
    assert capped["a"] == pytest.approx(0.6) and capped["b"] == pytest.approx(0.4)
    with pytest.raises(ConfigError, match=r"target must be in \[0, 0.6\]"):
        allocate_by_sensitivity(scan, {"a": 100, "b": 100}, 0.9, 0.7, max_amount=0.6)


def test_channel_scan_recalibrates_batch_norms_by_hand(make_task):
    from autoprune.pruning.structured import _recalibrated

    model = nn.Sequential(nn.Conv2d(1, 2, 1, bias=False), nn.BatchNorm2d(2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([1.0, 2.0]).view(2, 1, 1, 1))
    x1, x2 = torch.full((1, 1, 2, 2), 1.0), torch.full((1, 1, 2, 2), 3.0)  # batch means 1 and 3
    task = make_task(lambda: model, [(x1, torch.tensor([0])), (x2, torch.tensor([0])), (x1 * 100, torch.tensor([0]))])
    _recalibrated(model.eval(), task, 2)  # the first two batches only: the average of 1 and 3
    assert model[1].running_mean.tolist() == pytest.approx([2.0, 4.0])
    assert model[1].momentum == 0.1 and not model.training
