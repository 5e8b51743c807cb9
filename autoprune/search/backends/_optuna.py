"""The Optuna backend: recipes from an Optuna sampler (``study.ask`` / ``study.tell``)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable

import optuna

from autoprune.errors import ConfigError
from autoprune.recipe import Recipe
from autoprune.registry import BACKENDS
from autoprune.search.backends._base import SearchBackend

if TYPE_CHECKING:
    from autoprune.search._space import SearchSpace

__all__ = ["OptunaBackend", "make_sampler", "sample_recipe", "trial_params"]

# Startup and population sizes are smaller than Optuna's defaults because pruning trials
# are expensive and budgets small.
_SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=6),
    "nsga2": lambda seed: optuna.samplers.NSGAIISampler(seed=seed, population_size=8),
    "nsga3": lambda seed: optuna.samplers.NSGAIIISampler(seed=seed, population_size=8),
    "gp": lambda seed: optuna.samplers.GPSampler(seed=seed, n_startup_trials=6),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by name (``tpe``, ``nsga2``, ``nsga3``, ``gp``, ``random``).

    Constraints reach the samplers through ``trial.set_constraint`` (Optuna 5 reads them
    from the trial; ``constraints_func`` is deprecated).

    Raises:
        ConfigError: an unknown name.
    """
    if name not in _SAMPLERS:
        raise ConfigError(
            f"sampler must be one of {', '.join(_SAMPLERS)} for backend optuna, but got sampler={name!r}."
        )
    return _SAMPLERS[name](seed)


def sample_recipe(space: SearchSpace, trial: Any) -> Recipe:
    """Sample a recipe of ``space`` with an Optuna trial (define-by-run: a param whose
    ``when`` does not hold is not suggested, the recipe default applies)."""
    values: dict[str, Any] = {}
    for p in space.params:
        if not p.active(values):
            continue
        if p.kind == "choice":
            values[p.name] = trial.suggest_categorical(p.name, list(p.choices))
        elif p.kind == "int":
            values[p.name] = trial.suggest_int(p.name, p.low, p.high, step=p.step or 1, log=p.log)
        else:
            values[p.name] = trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)
    return space.recipe(values)


def trial_params(space: SearchSpace, recipe: Recipe) -> dict[str, Any]:
    """The params of ``recipe`` for ``study.enqueue_trial`` (e.g. a warm start).

    Raises:
        ConfigError: the space cannot produce the recipe.
    """
    return space.param_values(recipe)


@BACKENDS.register("optuna")
class OptunaBackend(SearchBackend):
    """Recipes from an Optuna sampler: ``tpe`` (multivariate, grouped), ``nsga2``,
    ``nsga3``, ``gp`` or ``random``, seeded with the space's seed.

    Example:
        >>> import optuna
        >>> from autoprune.search import parse_space
        >>> space = parse_space({"objectives": {"accuracy": "max", "size_bytes": "min"},
        ...                      "params": {"sparsity": {"low": 0.5, "high": 0.9}}})
        >>> study = optuna.create_study(directions=space.directions,
        ...                             sampler=OptunaBackend.study_sampler(space))
        >>> trial, recipe = OptunaBackend(study, space).ask()
        >>> 0.5 <= recipe.sparsity <= 0.9
        True
    """

    samplers = tuple(_SAMPLERS)
    default_sampler = "tpe"

    @classmethod
    def study_sampler(cls, space: SearchSpace) -> optuna.samplers.BaseSampler:
        with warnings.catch_warnings():  # GPSampler and friends are "experimental"
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return make_sampler(space.sampler, space.seed)

    def sample(self, trial: Any) -> Recipe:
        """The recipe an Optuna trial (or ``optuna.trial.FixedTrial``) samples."""
        return sample_recipe(self.space, trial)

    def params(self, recipe: Recipe) -> dict[str, Any]:
        """The trial params of ``recipe`` (:func:`trial_params`)."""
        return trial_params(self.space, recipe)

    def ask(self, recipe: Recipe | None = None) -> tuple[optuna.Trial, Recipe]:
        if recipe is not None:
            # fixed params reach the sampler like any other trial's, so it learns from them
            self.study.enqueue_trial(self.params(recipe), skip_if_exists=False)
        trial = self.study.ask()
        return trial, self.sample(trial)
