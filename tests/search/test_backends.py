"""Search backends: the contract every registered backend meets, and what each translates.

Driven with in-memory Optuna studies and synthetic results, no training.
"""

from __future__ import annotations

import importlib.util
import math

import optuna
import pytest

from autoprune.errors import ConfigError
from autoprune.recipe import Recipe
from autoprune.registry import BACKENDS
from autoprune.search._space import SearchSpace, parse_space
from autoprune.search.backends import (
    FLAML_CONFIG,
    FlamlBackend,
    OptunaBackend,
    SearchBackend,
    make_sampler,
    metric_constraints,
)


HAS_FLAML = importlib.util.find_spec("flaml") is not None
PARAMS = {
    "granularity": {"choices": ["unstructured", "channel"]},
    "sparsity": {"low": 0.3, "high": 0.9},
    "schedule": {"choices": ["one_shot", "iterative"]},
    "steps": {"low": 2, "high": 4, "type": "int", "when": {"schedule": ["iterative"]}},
    "finetune_lr": {"low": 1e-4, "high": 1e-2, "log": True},
}
TWO = {"accuracy": "max", "size_bytes": "min"}


@pytest.fixture(autouse=True)
def _quiet_optuna():
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)


def _space(backend: str, sampler: str, objectives: dict | None = None, **extra) -> SearchSpace:
    data = {"objectives": objectives or {"accuracy": "max"}, "params": PARAMS, "backend": backend,
            "sampler": sampler, **extra}
    return parse_space(data, "test.yaml")


def _study(cls: type[SearchBackend], space: SearchSpace) -> optuna.Study:
    return optuna.create_study(directions=space.directions, sampler=cls.study_sampler(space))


def _backends() -> list:
    out = []
    for name, cls in BACKENDS.items():
        marks = [pytest.mark.skipif(not HAS_FLAML, reason="flaml is not installed")] if name == "flaml" else []
        out += [pytest.param(name, sampler, marks=marks, id=f"{name}-{sampler}") for sampler in cls.samplers]
    return out


def _measures(recipe: Recipe) -> dict[str, float]:
    # a made-up trade-off: accuracy falls and size shrinks with sparsity
    return {"accuracy": 0.98 - 0.1 * recipe.sparsity ** 2, "size_bytes": 1000.0 * (1 - recipe.sparsity)}


# --- the contract ----------------------------------------------------------------------------


def test_backends_are_registered_by_name() -> None:
    assert BACKENDS.names()[:2] == ("optuna", "flaml")
    assert BACKENDS.get("optuna") is OptunaBackend and BACKENDS.get("flaml") is FlamlBackend


@pytest.mark.parametrize("name", BACKENDS.names())
def test_a_backend_declares_its_samplers(name: str) -> None:
    cls = BACKENDS.get(name)
    assert issubclass(cls, SearchBackend)
    assert cls.samplers and all(isinstance(s, str) for s in cls.samplers)
    assert cls.default_sampler in cls.samplers
    space = parse_space({"objectives": {"accuracy": "max"}, "params": PARAMS, "backend": name}, "x.yaml")
    assert space.sampler == cls.default_sampler


@pytest.mark.parametrize(("name", "sampler"), _backends())
def test_ask_and_tell_fill_the_study(name: str, sampler: str) -> None:
    cls = BACKENDS.get(name)
    space = _space(name, sampler)
    assert isinstance(cls.study_sampler(space), optuna.samplers.BaseSampler)
    study = _study(cls, space)
    backend = cls(study, space)
    for _ in range(4):
        asked = backend.ask()
        assert asked is not None
        trial, recipe = asked
        assert isinstance(recipe, Recipe) and 0.3 <= recipe.sparsity <= 0.9
        assert recipe.steps == 1 or recipe.schedule == "iterative"  # steps only when its condition holds
        backend.tell_complete(trial, [_measures(recipe)["accuracy"]], _measures(recipe))
    trial, _ = backend.ask()
    backend.tell_stopped(trial, pruned=True)
    trial, _ = backend.ask()
    backend.tell_stopped(trial, pruned=False)
    states = [t.state for t in study.trials]
    TS = optuna.trial.TrialState
    assert states == [TS.COMPLETE] * 4 + [TS.PRUNED, TS.FAIL]


@pytest.mark.parametrize(("name", "sampler"), _backends())
def test_ask_with_a_recipe_runs_that_recipe(name: str, sampler: str) -> None:
    cls = BACKENDS.get(name)
    space = _space(name, sampler)
    backend = cls(_study(cls, space), space)
    warm = Recipe(granularity="channel", sparsity=0.5, schedule="iterative", steps=3, finetune_lr=0.001)
    trial, recipe = backend.ask(warm)
    assert recipe == warm
    backend.tell_complete(trial, [0.9], {"accuracy": 0.9})


@pytest.mark.parametrize(("name", "sampler"), _backends())
def test_the_same_seed_proposes_the_same_recipes(name: str, sampler: str) -> None:
    cls = BACKENDS.get(name)

    def run(seed: int) -> list[Recipe]:
        space = _space(name, sampler, seed=seed)
        backend = cls(_study(cls, space), space)
        out = []
        for _ in range(8):
            trial, recipe = backend.ask()
            backend.tell_complete(trial, [_measures(recipe)["accuracy"]], _measures(recipe))
            out.append(recipe)
        return out

    assert run(0) == run(0)
    assert run(0) != run(1)


# --- optuna -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sampler", "kind"),
    [("tpe", optuna.samplers.TPESampler), ("nsga2", optuna.samplers.NSGAIISampler),
     ("nsga3", optuna.samplers.NSGAIIISampler), ("gp", optuna.samplers.GPSampler),
     ("random", optuna.samplers.RandomSampler)],
)
def test_optuna_study_sampler_is_the_named_one(sampler: str, kind: type) -> None:
    assert type(OptunaBackend.study_sampler(_space("optuna", sampler, TWO))) is kind


def test_make_sampler_refuses_an_unknown_name() -> None:
    with pytest.raises(ConfigError, match=r"sampler must be one of tpe, nsga2, nsga3, gp, random for backend optuna, but got sampler='cmaes'"):
        make_sampler("cmaes", 0)


def test_optuna_enqueues_a_fixed_recipe_as_params_the_sampler_sees() -> None:
    space = _space("optuna", "tpe", TWO)
    study = _study(OptunaBackend, space)
    backend = OptunaBackend(study, space)
    warm = Recipe(granularity="unstructured", sparsity=0.7, finetune_lr=0.002)
    assert backend.params(warm) == {"granularity": "unstructured", "sparsity": 0.7, "schedule": "one_shot",
                                    "finetune_lr": 0.002}
    trial, recipe = backend.ask(warm)
    assert recipe == warm and trial.params == backend.params(warm)
    with pytest.raises(ConfigError, match=r"test.yaml: recipe has sparsity=0.95, outside params.sparsity"):
        backend.ask(Recipe(sparsity=0.95))


def test_the_optuna_backend_reads_no_history() -> None:
    space = _space("optuna", "random", TWO)
    study = _study(OptunaBackend, space)
    backend = OptunaBackend(study, space, history=study.trials)
    assert backend.ask() is not None


# --- flaml --------------------------------------------------------------------------------------


def test_flaml_lexicographic_search_is_cfo_only() -> None:
    FlamlBackend.check_sampler("cfo", [("accuracy", "max"), ("size_bytes", "min")])
    FlamlBackend.check_sampler("blendsearch", [("accuracy", "max")])
    with pytest.raises(ConfigError, match=r"blendsearch takes one objective, but the space has 2; allowed: cfo"):
        FlamlBackend.check_sampler("blendsearch", [("accuracy", "max"), ("size_bytes", "min")])


def test_flaml_study_sampler_only_stores_trials() -> None:
    sampler = FlamlBackend.study_sampler(_space("flaml", "cfo", TWO, seed=5))
    assert type(sampler) is optuna.samplers.RandomSampler


def test_flaml_metric_constraints_know_only_inclusive_bounds() -> None:
    space = _space("flaml", "cfo", TWO, constraints=["accuracy_drop < 0.02", "latency_ms <= 3"])
    assert metric_constraints(space) == [("accuracy_drop", "<=", 0.02), ("latency_ms", "<=", 3.0)]


@pytest.mark.skipif(not HAS_FLAML, reason="flaml is not installed")
def test_flaml_files_its_config_on_the_trial_and_learns_from_results() -> None:
    space = _space("flaml", "cfo", TWO, constraints=["accuracy_drop <= 0.05"],
                   flaml={"tolerances": {"accuracy": 0.01}})
    study = _study(FlamlBackend, space)
    backend = FlamlBackend(study, space)
    for _ in range(5):
        trial, recipe = backend.ask()
        measures = {**_measures(recipe), "accuracy_drop": 0.0}
        backend.tell_complete(trial, [measures["accuracy"], measures["size_bytes"]], measures)
    for t in study.trials:
        config = t.user_attrs[FLAML_CONFIG]
        assert set(config) == set(PARAMS)
        assert all(not hasattr(v, "item") for v in config.values())  # plain values, storable
    assert backend._configs == {}  # every result went back to the searcher


@pytest.mark.skipif(not HAS_FLAML, reason="flaml is not installed")
def test_flaml_warm_starts_from_the_complete_trials_it_proposed(monkeypatch) -> None:
    from autoprune.search.backends import _flaml

    seen = {}

    class Recording:
        def __init__(self, **kwargs):
            seen.update(kwargs)

    blendsearch = _flaml._flaml_import("flaml.tune.searcher.blendsearch")
    monkeypatch.setattr(blendsearch, "CFO", Recording)
    space = _space("flaml", "cfo", TWO)
    study = _study(FlamlBackend, space)
    first = FlamlBackend(study, space)
    configs = []
    for i in range(3):
        trial, recipe = first.ask(Recipe(sparsity=0.4 + 0.1 * i, finetune_lr=0.001))
        config = {"granularity": "unstructured", "sparsity": 0.4 + 0.1 * i, "schedule": "one_shot",
                  "steps": 2, "finetune_lr": 0.001}
        trial.set_user_attr(FLAML_CONFIG, config)
        trial.set_user_attr("measures", {"accuracy": 0.9 - i / 100, "size_bytes": 10.0})
        configs.append(config)
        if i < 2:
            study.tell(trial, [0.9 - i / 100, 10.0])
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)  # not a result FLAML can use
    FlamlBackend(study, space, history=study.get_trials(deepcopy=False))
    assert seen["points_to_evaluate"] == configs[:2]
    assert seen["evaluated_rewards"] == [0.9, 0.89]
    assert seen["seed"] == space.seed and seen["metric"] == "accuracy" and seen["mode"] == "max"
    assert seen["lexico_objectives"]["metrics"] == ["accuracy", "size_bytes"]
    assert math.isinf(seen["lexico_objectives"]["targets"]["accuracy"])
