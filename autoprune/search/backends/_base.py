"""The search backend base class: where recipes come from.

The controller owns the ask/tell loop; a backend proposes recipes (:meth:`ask`) and
learns from results (:meth:`tell_complete`, :meth:`tell_stopped`). Whatever the backend,
every trial is a trial of one Optuna study, the storage a run directory keeps.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import optuna

from autoprune.recipe import Recipe

if TYPE_CHECKING:
    from autoprune.search._space import SearchSpace

__all__ = ["SearchBackend"]


class SearchBackend(abc.ABC):
    """Proposes recipes of a search space and learns from their results.

    Subclasses register themselves in :data:`autoprune.registry.BACKENDS` under the name
    a space's ``backend`` gives, and declare the samplers a space may name.

    Args:
        study: the study every trial is filed in (created or loaded with
            :meth:`study_sampler`).
        space: the search space (its ``sampler`` is one of :attr:`samplers`, its ``seed``
            seeds the backend).
        history: the study's trials so far, on resume (a backend that keeps its own
            model reads it from them).
    """

    #: the samplers (searchers) of this backend a space may name
    samplers: ClassVar[tuple[str, ...]] = ()
    #: the sampler of a space that names none
    default_sampler: ClassVar[str] = ""

    def __init__(self, study: optuna.Study, space: SearchSpace, *,
                 history: Sequence[optuna.trial.FrozenTrial] = ()) -> None:
        self.study, self.space = study, space

    @classmethod
    def study_sampler(cls, space: SearchSpace) -> optuna.samplers.BaseSampler:
        """The sampler the study is created or loaded with. By default a seeded
        ``RandomSampler``: the backend proposes every recipe, the study only stores them."""
        return optuna.samplers.RandomSampler(seed=space.seed)

    @classmethod
    def check_sampler(cls, sampler: str, objectives: Sequence[tuple[str, str]]) -> None:
        """Raise :class:`~autoprune.errors.ConfigError` when ``sampler`` (one of
        :attr:`samplers`) cannot search these ``(measure, direction)`` objectives. Called
        when a space is validated; builds nothing. Default: any objectives."""

    @abc.abstractmethod
    def ask(self, recipe: Recipe | None = None) -> tuple[optuna.Trial, Recipe] | None:
        """A new trial and its recipe (``recipe`` forces one: warm starts, re-runs), or
        None when the backend has nothing left to propose."""

    def tell_complete(self, trial: optuna.Trial, values: list[float], measures: dict[str, Any]) -> None:
        """``trial`` finished with objective ``values`` (and all its ``measures``)."""
        self.study.tell(trial, values)

    def tell_stopped(self, trial: optuna.Trial, pruned: bool) -> None:
        """``trial`` was stopped early (``pruned``) or failed."""
        state = optuna.trial.TrialState.PRUNED if pruned else optuna.trial.TrialState.FAIL
        self.study.tell(trial, state=state)
