"""The controller's calls into the search space's backends, the trial pruners and the
pruning layer, each in one function.

The loop never builds a backend, a trial pruner or a stored model any other way, so a
change of those interfaces is a change here only.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import optuna

from autoprune.measure import LatencyConfig
from autoprune.recipe import Recipe
from autoprune.search._backends import FlamlBackend, OptunaBackend, SearchBackend, make_sampler
from autoprune.search._trial_pruners import (
    NoTrialPruner,
    RunningTrial,
    TrialHistory,
    TrialPruner,
    make_trial_pruner,
)

if TYPE_CHECKING:
    from autoprune.search._space import SearchSpace

__all__ = [
    "study_sampler",
    "make_backend",
    "build_trial_pruner",
    "trial_pruner_name",
    "can_stop",
    "decide",
    "running_trial",
    "trial_history",
    "is_packed",
    "latency_config",
]

_FLAML_CONFIG = "flaml_config"  # the FLAML backend's user attr: the config it suggested


def study_sampler(space: SearchSpace) -> optuna.samplers.BaseSampler:
    """The sampler the study is created or loaded with (FLAML files trials through a
    seeded random sampler it never asks)."""
    name = space.sampler if space.backend == "optuna" else "random"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return make_sampler(name, space.seed)


def make_backend(study: optuna.Study, space: SearchSpace, history: Sequence[optuna.trial.FrozenTrial]) -> SearchBackend:
    """The space's backend on ``study``; ``history`` is the study's trials so far (FLAML
    warm-starts from the complete ones)."""
    if space.backend == "flaml":
        from autoprune.search._records import MEASURES

        warm = [(t.user_attrs[_FLAML_CONFIG], t.user_attrs.get(MEASURES, {})) for t in history
                if t.state == optuna.trial.TrialState.COMPLETE and _FLAML_CONFIG in t.user_attrs]
        return FlamlBackend(study, space, space.seed, warm)
    return OptunaBackend(study, space)


def build_trial_pruner(space: SearchSpace, min_value: float | None, given: TrialPruner | None = None) -> TrialPruner:
    """The trial pruner of the search: ``given`` (a user's object) or the space's."""
    if given is not None:
        return given
    return make_trial_pruner(space.trial_pruner, len(space.objectives), min_value=min_value,
                             study_direction=space.directions[0], reference=space.hypervolume_reference)


def trial_pruner_name(space: SearchSpace, given: TrialPruner | None = None) -> str:
    """The name a stopped trial's reason gives its trial pruner."""
    if given is None:
        return space.trial_pruner.name
    return getattr(given, "name", None) or type(given).__name__


def can_stop(space: SearchSpace, given: TrialPruner | None = None) -> bool:
    """Whether the trial pruner may stop a trial (else workers never wait for a decision)."""
    if given is None:
        return space.trial_pruner.name != "none"
    return not isinstance(given, NoTrialPruner)


def decide(pruner: TrialPruner, trial: RunningTrial, history: Sequence[TrialHistory]) -> tuple[bool, str]:
    """Whether ``trial`` stops now, and the trial pruner's reason when it does."""
    stop = bool(pruner.should_stop(trial, history))
    return stop, (getattr(pruner, "last_reason", "") or "") if stop else ""


def running_trial(number: int, curve: Mapping[int, float], objectives: Mapping[str, float], n_steps: int,
                  optuna_trial: Any, to_point: Callable[[float], Any]) -> RunningTrial:
    return RunningTrial(number=number, curve=dict(curve), objectives=dict(objectives), n_steps=n_steps,
                        optuna_trial=optuna_trial, to_point=to_point)


def trial_history(number: int, state: str, curve: Mapping[int, float], objectives: Mapping[str, float],
                  point: tuple[float, ...] | None, feasible: bool) -> TrialHistory:
    return TrialHistory(number=number, curve=dict(curve), objectives=dict(objectives), state=state, point=point,
                        feasible=feasible)


def is_packed(recipe: Recipe) -> bool:
    """Whether the recipe's pruned model is stored as packed sparse tensors."""
    return recipe.granularity != "channel"


def latency_config(space: SearchSpace) -> LatencyConfig:
    """How the space measures latency (``space.latency`` is a LatencyConfig, or a spec that
    converts to one)."""
    lat = space.latency
    return lat if isinstance(lat, LatencyConfig) else lat.to_config()
