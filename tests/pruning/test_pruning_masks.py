from __future__ import annotations

import pytest
import torch
from torch import nn

from autoprune.errors import ConfigError
from autoprune.pruning import (
    apply_mask,
    global_masks,
    make_permanent,
    nm_mask,
    unstructured_mask,
)


def test_unstructured_keeps_largest() -> None:
    scores = torch.tensor([[0.5, 3.0, -1.0], [2.0, 0.1, 4.0]])
    assert unstructured_mask(scores, 0.5).tolist() == [[False, True, False], [True, False, True]]


@pytest.mark.parametrize("numel, amount", [(10, 0.3), (1000, 0.9), (7, 0.5), (64 * 32, 0.37), (5, 0.0), (5, 1.0)])
def test_unstructured_removes_exactly_round_amount(numel: int, amount: float) -> None:
    scores = torch.rand(numel, generator=torch.Generator().manual_seed(0))
    mask = unstructured_mask(scores, amount)
    assert mask.dtype == torch.bool and int((~mask).sum()) == round(amount * numel)


def test_unstructured_counts_ties_exactly() -> None:
    scores = torch.tensor([-torch.inf, -torch.inf, 0.0, 0.0, 0.0, 1.0])
    mask = unstructured_mask(scores, 0.5)
    assert int((~mask).sum()) == 3 and not mask[0] and not mask[1] and mask[5]


def test_amount_out_of_range() -> None:
    with pytest.raises(ConfigError, match=r"amount must be in \[0, 1\], but got amount=1.5"):
        unstructured_mask(torch.ones(3), 1.5)


def test_global_masks_one_threshold_over_raw_scores() -> None:
    masks = global_masks({"a": torch.tensor([1.0, 2.0, 3.0, 4.0]), "b": torch.tensor([[0.5, 10.0]])}, 0.5)
    assert masks["a"].tolist() == [False, False, True, True]
    assert masks["b"].tolist() == [[False, True]]


def test_nm_two_four_by_hand() -> None:
    w = torch.tensor(
        [
            [1.0, -8.0, 3.0, 4.0, -5.0, 0.5, 7.0, 2.0],
            [0.1, 0.2, -0.3, 0.4, 9.0, -9.0, 1.0, -1.0],
        ]
    )
    mask = nm_mask(w.abs(), 2, 4)
    assert mask.tolist() == [
        [False, True, False, True, True, False, True, False],
        [False, False, True, True, True, True, False, False],
    ]


def test_nm_random_linear_every_group_has_two_zeros() -> None:
    torch.manual_seed(0)
    w = nn.Linear(64, 32).weight.detach()
    mask = nm_mask(w.abs(), 2, 4)
    zeros = (~mask).view(32, 16, 4).sum(-1)
    assert bool((zeros == 2).all())


def test_nm_conv_groups_along_input_channels() -> None:
    # weight (out=1, in=4, kh=1, kw=2): at kernel position 0 the scores rise with the
    # channel, at position 1 they fall, so the zeros move between channels
    scores = torch.tensor([[1.0, 4.0], [2.0, 3.0], [3.0, 2.0], [4.0, 1.0]]).view(1, 4, 1, 2)
    mask = nm_mask(scores, 2, 4)
    assert mask.shape == scores.shape
    assert mask[0, :, 0, 0].tolist() == [False, False, True, True]
    assert mask[0, :, 0, 1].tolist() == [True, True, False, False]


def test_nm_tail_group_is_left_unpruned() -> None:
    scores = torch.tensor([[1.0, 2.0, 3.0, 4.0, 0.1, 0.2]])  # in=6, m=4: one group + a tail of 2
    assert nm_mask(scores, 2, 4).tolist() == [[False, False, True, True, True, True]]
    conv = torch.rand(8, 1, 3, 3)  # a 1-channel input layer has no complete group
    assert bool(nm_mask(conv, 2, 4).all())


def test_nm_bad_group() -> None:
    with pytest.raises(ConfigError, match=r"zeros per group must be in \[0, 4\], but got n_zero_per_group=5"):
        nm_mask(torch.ones(2, 4), 5, 4)


def test_masks_accumulate_and_become_permanent() -> None:
    lin = nn.Linear(4, 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    apply_mask(lin, torch.tensor([[False, True, True, True]]))
    apply_mask(lin, torch.tensor([[True, True, False, True]]))  # a later step that forgot the first zero
    assert lin.weight_mask.tolist() == [[0.0, 1.0, 0.0, 1.0]]
    # the mask holds through a gradient step on weight_orig
    lin(torch.ones(1, 4)).sum().backward()
    with torch.no_grad():
        lin.weight_orig -= 0.1 * lin.weight_orig.grad
    out = lin(torch.ones(1, 4))
    assert lin.weight[0, 0] == 0 and lin.weight[0, 2] == 0 and out.shape == (1, 1)
    make_permanent(lin)
    assert not hasattr(lin, "weight_orig") and not hasattr(lin, "weight_mask") and not lin._forward_pre_hooks
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    assert lin.weight[0, 0] == 0 and lin.weight[0, 2] == 0
