"""Search backends: where recipes come from. The controller owns the ask/tell loop.

Both backends record every trial in one Optuna study (the storage); the FLAML backend
asks FLAML's searcher for the recipe and files the trial in the study itself.
"""

from __future__ import annotations

import abc
import logging
import warnings
from typing import Any

import optuna

from autoprune.errors import ConfigError
from autoprune.recipe import Recipe

__all__ = ["SearchBackend", "OptunaBackend", "FlamlBackend", "make_sampler"]


class SearchBackend(abc.ABC):
    """Proposes recipes and learns from results."""

    def __init__(self, study: optuna.Study, space: Any) -> None:
        self.study, self.space = study, space

    @abc.abstractmethod
    def ask(self, recipe: Recipe | None = None) -> tuple[optuna.Trial, Recipe] | None:
        """A new trial and its recipe (``recipe`` forces one: warm starts, re-runs), or
        None when the backend has nothing left to propose."""

    def tell_complete(self, trial: optuna.Trial, values: list[float], measures: dict[str, Any]) -> None:
        self.study.tell(trial, values)

    def tell_stopped(self, trial: optuna.Trial, pruned: bool) -> None:
        state = optuna.trial.TrialState.PRUNED if pruned else optuna.trial.TrialState.FAIL
        self.study.tell(trial, state=state)


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """An Optuna sampler by name.

    Constraints reach the samplers through ``trial.set_constraint`` (Optuna 5 reads them
    from the trial; ``constraints_func`` is deprecated). Startup and population sizes are
    smaller than Optuna's defaults because pruning trials are expensive and budgets small.
    """
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=6)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    if name == "nsga3":
        return optuna.samplers.NSGAIIISampler(seed=seed, population_size=8)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=6)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError(f"sampler must be one of tpe, nsga2, nsga3, gp, random for backend optuna, but got sampler={name!r}.")


class OptunaBackend(SearchBackend):
    """Recipes from an Optuna sampler (``study.ask`` / ``study.tell``)."""

    def ask(self, recipe: Recipe | None = None) -> tuple[optuna.Trial, Recipe]:
        if recipe is not None:
            # fixed params reach the sampler like any other trial's, so it learns from them
            self.study.enqueue_trial(self.space.optuna_params(recipe), skip_if_exists=False)
        trial = self.study.ask()
        return trial, self.space.sample_optuna(trial)


class FlamlBackend(SearchBackend):
    """Recipes from FLAML's CFO or BlendSearch (core ``flaml``, no extras).

    FLAML has no Pareto search. Several objectives are folded by FLAML's lexicographic
    mode (``lexico_objectives``): objectives in the order the space lists them, each
    with a tolerance (``flaml.tolerances`` in the space, default 0), so a later
    objective only decides between recipes within the tolerance of the earlier ones.
    Constraints go to FLAML as ``metric_constraints``. The Pareto front of a FLAML
    search is still computed from every completed trial.
    """

    def __init__(self, study: optuna.Study, space: Any, seed: int, history: list[tuple[dict, dict]]) -> None:
        super().__init__(study, space)
        from autoprune._imports import require

        require("flaml")
        with warnings.catch_warnings():  # flaml warns that its AutoML extra is absent: not needed here
            warnings.simplefilter("ignore")
            from flaml.tune.searcher.blendsearch import CFO, BlendSearch
        logging.getLogger("flaml").setLevel(logging.WARNING)  # its INFO hints concern AutoML runs

        objectives = space.objectives
        metric_constraints = [(c.measure, c.op if c.op in ("<=", ">=") else c.op + "=", c.bound)
                              for c in space.constraints]
        cls = {"cfo": CFO, "blendsearch": BlendSearch}[space.sampler]
        # FLAML needs metric/mode even in lexicographic mode (its constraint handling reads them)
        kwargs: dict[str, Any] = dict(space=space.flaml_config(), seed=seed, metric=objectives[0].name,
                                      mode=objectives[0].direction)
        if len(objectives) > 1:  # lexicographic (CFO only; the space checks that)
            kwargs["lexico_objectives"] = space.flaml_lexico_objectives()
        if metric_constraints:
            kwargs["metric_constraints"] = metric_constraints
        if history:  # resume: warm-start the searcher with what the study already holds
            kwargs["points_to_evaluate"] = [cfg for cfg, _ in history]
            kwargs["evaluated_rewards"] = [res[objectives[0].name] for _, res in history]
        self.searcher = cls(**kwargs)
        self._configs: dict[int, tuple[str, dict]] = {}  # trial number -> (FLAML trial id, config)
        self._suggested = 0

    def ask(self, recipe: Recipe | None = None) -> tuple[optuna.Trial, Recipe] | None:
        key = config = None
        if recipe is None:
            key, self._suggested = f"s{self._suggested}", self._suggested + 1
            config = self.searcher.suggest(key)
            if config is None:  # the searcher has converged: nothing new to try
                return None
            recipe = self.space.recipe_from_config(config)
        trial = self.study.ask()
        if config is not None:
            self._configs[trial.number] = (key, config)
            trial.set_user_attr("flaml_config", {k: _plain(v) for k, v in config.items()})
        return trial, recipe

    def tell_complete(self, trial: optuna.Trial, values: list[float], measures: dict[str, Any]) -> None:
        super().tell_complete(trial, values, measures)
        self._tell_searcher(trial.number, measures)

    def tell_stopped(self, trial: optuna.Trial, pruned: bool) -> None:
        super().tell_stopped(trial, pruned)
        self._tell_searcher(trial.number, None)

    def _tell_searcher(self, number: int, measures: dict[str, Any] | None) -> None:
        key, config = self._configs.pop(number, (None, None))
        if config is not None:  # FLAML wants the config back with the result
            result = None if measures is None else {**measures, "config": config}
            self.searcher.on_trial_complete(key, result, error=measures is None)


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v
