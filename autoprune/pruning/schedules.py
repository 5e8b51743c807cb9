"""Pruning schedules: the cumulative sparsity after each pruning step.

Every schedule ends exactly at the recipe's target, so the number of pruning steps and
the amount reached do not depend on floating-point accumulation.
"""

from __future__ import annotations

import abc

from autoprune.errors import ConfigError
from autoprune.recipe import Recipe
from autoprune.registry import SCHEDULES

__all__ = [
    "Schedule",
    "OneShot",
    "Iterative",
    "Gradual",
    "SCHEDULES",
    "get_schedule",
    "schedule_targets",
    "split_epochs",
    "split_budget",
]


class Schedule(abc.ABC):
    """Maps a final sparsity and a number of steps to cumulative per-step targets.

    Registered in :data:`SCHEDULES`; every schedule's last target is ``final`` exactly.
    """

    name: str = ""

    def pruning_steps(self, steps: int) -> int:
        """Steps actually taken when a recipe asks for ``steps`` (all of them by default)."""
        return steps

    @abc.abstractmethod
    def targets(self, final: float, steps: int) -> list[float]:
        """Cumulative target sparsity after each step; the last one is ``final``."""


@SCHEDULES.register_instance("one_shot")
class OneShot(Schedule):
    """Everything in one step (a recipe's ``steps`` is ignored)."""

    def pruning_steps(self, steps: int) -> int:
        return 1

    def targets(self, final: float, steps: int) -> list[float]:
        return [final]


@SCHEDULES.register_instance("iterative")
class Iterative(Schedule):
    """Equal increments: ``final * k / steps``."""

    def targets(self, final: float, steps: int) -> list[float]:
        return [final if k == steps else final * k / steps for k in range(1, steps + 1)]


@SCHEDULES.register_instance("gradual")
class Gradual(Schedule):
    """Zhu & Gupta (2017) cubic ramp: ``final * (1 - (1 - k / steps) ** 3)``.

    The same curve as TF-MOT's ``PolynomialDecay(initial_sparsity=0, power=3)`` sampled at
    ``steps`` equal intervals: large steps early, while there is most redundancy, small
    ones late.
    """

    def targets(self, final: float, steps: int) -> list[float]:
        return [final if k == steps else final * (1.0 - (1.0 - k / steps) ** 3) for k in range(1, steps + 1)]


def get_schedule(name: str) -> Schedule:
    """The schedule registered under ``name`` (the error lists the valid names)."""
    return SCHEDULES.get(name)


def schedule_targets(recipe: Recipe) -> list[float]:
    """Cumulative target sparsity after each pruning step of ``recipe``.

    Example:
        >>> schedule_targets(Recipe(sparsity=0.8, schedule="iterative", steps=4))
        [0.2, 0.4, 0.6000000000000001, 0.8]
    """
    return get_schedule(recipe.schedule).targets(recipe.effective_sparsity, recipe.pruning_steps)


def split_epochs(total: int, steps: int, *, name: str = "finetune_epochs") -> list[int]:
    """Spread a fine-tune budget of ``total`` epochs (or optimizer steps, ``name`` being
    the field it comes from) over ``steps`` pruning steps.

    The remainder goes to the last steps, so the final (sparsest) step gets the most
    recovery: ``split_epochs(5, 3) == [1, 2, 2]``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"steps must be an int >= 1, but got steps={steps!r}.")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ConfigError(f"{name} must be an int >= 0, but got {name}={total!r}.")
    base, extra = divmod(total, steps)
    return [base + (1 if k >= steps - extra else 0) for k in range(steps)]


def split_budget(recipe: Recipe, steps: int) -> list[int]:
    """The recipe's fine-tune budget (:attr:`Recipe.finetune_budget`, epochs or optimizer
    steps) spread over ``steps`` pruning steps as :func:`split_epochs` does.

    Example:
        >>> split_budget(Recipe(finetune_steps=100, schedule="iterative", steps=3), 3)
        [33, 33, 34]
    """
    return split_epochs(recipe.finetune_budget, steps, name=f"finetune_{recipe.budget_unit}")
