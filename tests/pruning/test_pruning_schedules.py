from __future__ import annotations

import pytest

from autoprune.errors import ConfigError
from autoprune.pruning import get_schedule, schedule_targets, split_epochs
from autoprune.recipe import Recipe


def test_one_shot_ignores_steps() -> None:
    assert schedule_targets(Recipe(sparsity=0.7, schedule="one_shot", steps=5)) == [0.7]


def test_iterative_equal_increments_end_exactly() -> None:
    targets = schedule_targets(Recipe(sparsity=0.9, schedule="iterative", steps=3))
    assert targets == pytest.approx([0.3, 0.6, 0.9])
    assert targets[-1] == 0.9


def test_gradual_cubic_ramp_by_hand() -> None:
    # 0.9 * (1 - (2/3)^3) = 0.9 * 19/27, 0.9 * (1 - (1/3)^3) = 0.9 * 26/27, 0.9
    targets = schedule_targets(Recipe(sparsity=0.9, schedule="gradual", steps=3))
    assert targets == pytest.approx([0.9 * 19 / 27, 0.9 * 26 / 27, 0.9])
    assert targets[-1] == 0.9
    steps = [b - a for a, b in zip([0.0] + targets, targets)]
    assert steps == sorted(steps, reverse=True)  # big steps first


def test_nm_schedule_ends_at_its_own_sparsity() -> None:
    assert schedule_targets(Recipe(granularity="nm", nm_n=1, nm_m=4, schedule="gradual", steps=2))[-1] == 0.75


def test_unknown_schedule() -> None:
    message = "schedule must be one of one_shot, iterative, gradual, but got schedule='cosine'"
    with pytest.raises(ConfigError, match=message):
        get_schedule("cosine")


@pytest.mark.parametrize(
    "total, steps, expected",
    [(5, 3, [1, 2, 2]), (3, 3, [1, 1, 1]), (0, 2, [0, 0]), (7, 2, [3, 4]), (2, 4, [0, 0, 1, 1]), (4, 1, [4])],
)
def test_split_epochs_remainder_to_last(total: int, steps: int, expected: list[int]) -> None:
    assert split_epochs(total, steps) == expected


def test_split_epochs_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match="steps must be an int >= 1, but got steps=0"):
        split_epochs(3, 0)
    with pytest.raises(ConfigError, match="finetune_epochs must be an int >= 0, but got finetune_epochs=-1"):
        split_epochs(-1, 2)


def test_split_budget_spreads_epochs_or_steps() -> None:
    from autoprune.pruning.schedules import split_budget

    assert split_budget(Recipe(finetune_epochs=5), 3) == [1, 2, 2]
    assert split_budget(Recipe(finetune_steps=100), 3) == [33, 33, 34]
    with pytest.raises(ConfigError, match="finetune_steps must be an int >= 0, but got finetune_steps=-1"):
        split_epochs(-1, 2, name="finetune_steps")
