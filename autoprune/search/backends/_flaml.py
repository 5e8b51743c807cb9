"""The FLAML backend: recipes from FLAML's CFO or BlendSearch (core ``flaml``, no extras).

FLAML has no Pareto search. Several objectives are folded by FLAML's lexicographic mode
(``lexico_objectives``): objectives in the order the space lists them, each with a
tolerance (``flaml.tolerances`` in the space, default 0), so a later objective only
decides between recipes within the tolerance of the earlier ones. Constraints go to
FLAML as ``metric_constraints``. The Pareto front of a FLAML search is still computed
from every completed trial.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import optuna

from autoprune._imports import require
from autoprune.errors import ConfigError
from autoprune.recipe import Recipe
from autoprune.registry import BACKENDS
from autoprune.search._records import MEASURES
from autoprune.search.backends._base import SearchBackend

if TYPE_CHECKING:
    from autoprune.search._space import SearchSpace

__all__ = [
    "FLAML_CONFIG",
    "FlamlBackend",
    "flaml_config",
    "recipe_from_config",
    "lexico_objectives",
    "metric_constraints",
]

#: the user attr of a trial holding the config FLAML proposed (read back on resume)
FLAML_CONFIG = "flaml_config"


def _flaml_import(module: str) -> Any:
    with warnings.catch_warnings():  # core flaml warns that flaml.automl is absent: not needed here
        warnings.simplefilter("ignore")
        return require(module)


def flaml_config(space: SearchSpace) -> dict[str, Any]:
    """The space as ``flaml.tune`` sample domains, one per param.

    FLAML's space is flat: conditional params are always sampled and ignored by
    :func:`recipe_from_config` when their condition is false.
    """
    tune = _flaml_import("flaml.tune")
    config: dict[str, Any] = {}
    for p in space.params:
        if p.kind == "choice":
            config[p.name] = tune.choice(list(p.choices))
        elif p.kind == "int":
            if p.step is not None:
                config[p.name] = tune.qrandint(p.low, p.high, p.step)  # upper inclusive
            elif p.log:
                config[p.name] = tune.lograndint(p.low, p.high + 1)  # upper exclusive
            else:
                config[p.name] = tune.randint(p.low, p.high + 1)
        elif p.step is not None:
            config[p.name] = tune.quniform(p.low, p.high, p.step)
        elif p.log:
            config[p.name] = tune.loguniform(p.low, p.high)
        else:
            config[p.name] = tune.uniform(p.low, p.high)
    return config


def recipe_from_config(space: SearchSpace, config: Mapping[str, Any]) -> Recipe:
    """The recipe of a FLAML config (inactive params dropped, numbers kept in range;
    keys that are not params are ignored).

    Raises:
        ConfigError: an active param is missing or a choice is not one of its choices.
    """
    values: dict[str, Any] = {}
    for p in space.params:
        if not p.active(values):
            continue
        if p.name not in config:
            raise ConfigError(f"{space.source}: the sampled config lacks param {p.name!r}.")
        value = config[p.name]
        if p.kind == "int":
            value = min(max(int(round(value)), p.low), p.high)
        elif p.kind == "float":
            value = min(max(float(value), p.low), p.high)
        elif value in p.choices:
            value = p.choices[p.choices.index(value)]  # flaml hands back numpy scalars
        else:
            raise ConfigError(f"{space.source}: sampled {p.name}={value!r}; allowed: {', '.join(map(str, p.choices))}.")
        values[p.name] = value
    return space.recipe(values)


def lexico_objectives(space: SearchSpace) -> dict[str, Any]:
    """FLAML's ``lexico_objectives`` (metrics, modes, tolerances, targets) of the
    objectives in priority order."""
    return {
        "metrics": space.objective_names,
        "modes": [o.direction for o in space.objectives],
        "tolerances": {o.name: space.flaml.tolerances.get(o.name, 0.0) for o in space.objectives},
        "targets": {
            o.name: space.flaml.targets.get(o.name, math.inf if o.maximize else -math.inf)
            for o in space.objectives
        },
    }


def metric_constraints(space: SearchSpace) -> list[tuple[str, str, float]]:
    """The constraints as FLAML's ``metric_constraints`` (strict bounds become inclusive:
    FLAML knows only ``<=`` and ``>=``)."""
    return [(c.measure, c.op if c.op in ("<=", ">=") else c.op + "=", c.bound) for c in space.constraints]


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


@BACKENDS.register("flaml")
class FlamlBackend(SearchBackend):
    """Recipes from FLAML's ``cfo`` or ``blendsearch`` (one objective; several objectives
    are lexicographic, CFO only). See the module docstring.

    On resume the searcher is warm-started with the COMPLETE trials of ``history`` that
    FLAML proposed (their config and their first objective).
    """

    samplers = ("cfo", "blendsearch")
    default_sampler = "cfo"

    @classmethod
    def check_sampler(cls, sampler: str, objectives: Sequence[tuple[str, str]]) -> None:
        if len(objectives) > 1 and sampler != "cfo":  # FLAML's lexicographic mode is CFO's alone
            raise ConfigError(
                f"{sampler} takes one objective, but the space has {len(objectives)}; allowed: cfo "
                "(lexicographic objectives) or a single objective."
            )

    def __init__(self, study: optuna.Study, space: SearchSpace, *,
                 history: Sequence[optuna.trial.FrozenTrial] = ()) -> None:
        super().__init__(study, space, history=history)
        blendsearch = _flaml_import("flaml.tune.searcher.blendsearch")
        logging.getLogger("flaml").setLevel(logging.WARNING)  # its INFO hints concern AutoML runs

        first = space.objectives[0]
        cls = {"cfo": blendsearch.CFO, "blendsearch": blendsearch.BlendSearch}[space.sampler]
        # FLAML needs metric/mode even in lexicographic mode (its constraint handling reads them)
        kwargs: dict[str, Any] = dict(space=flaml_config(space), seed=space.seed, metric=first.name,
                                      mode=first.direction)
        if len(space.objectives) > 1:  # lexicographic (CFO only; the space checks that)
            kwargs["lexico_objectives"] = lexico_objectives(space)
        if space.constraints:
            kwargs["metric_constraints"] = metric_constraints(space)
        done = [t for t in history if t.state == optuna.trial.TrialState.COMPLETE and FLAML_CONFIG in t.user_attrs]
        if done:  # resume: warm-start the searcher with what the study already holds
            kwargs["points_to_evaluate"] = [t.user_attrs[FLAML_CONFIG] for t in done]
            kwargs["evaluated_rewards"] = [t.user_attrs.get(MEASURES, {})[first.name] for t in done]
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
            recipe = recipe_from_config(self.space, config)
        trial = self.study.ask()
        if config is not None:
            self._configs[trial.number] = (key, config)
            trial.set_user_attr(FLAML_CONFIG, {k: _plain(v) for k, v in config.items()})
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
