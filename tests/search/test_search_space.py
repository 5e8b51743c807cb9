"""Search space YAML: loading, validation messages, sampling and round trips."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import optuna
import pytest

from autoprune.errors import ConfigError
from autoprune.recipe import Recipe
from autoprune.search._space import (
    Constraint,
    SearchSpace,
    builtin_spaces,
    constraint_violations,
    is_feasible,
    load_space,
    parse_space,
)
from autoprune.search.trial_pruners import TrialPrunerConfig
from autoprune.search.backends import (
    flaml_config,
    lexico_objectives,
    recipe_from_config,
    sample_recipe,
    trial_params,
)


SPACES = Path(__file__).resolve().parents[2] / "search_spaces"

BASE = {
    "task": "digits-mlp",
    "objectives": {"accuracy": "max", "latency_ms": "min", "size_bytes": "min"},
    "constraints": ["accuracy_drop <= 0.01", "latency_ms <= 2"],
    "budget": {"trials": 20},
    "trial_pruner": {"name": "pareto", "percentile": 25, "n_startup_trials": 4},
    "fixed": {"finetune_lr": 0.001},
    "params": {
        "granularity": {"choices": ["unstructured", "channel", "nm"]},
        "sparsity": {"low": 0.3, "high": 0.95},
        "schedule": {"choices": ["one_shot", "iterative", "gradual"]},
        "allocation": {"choices": ["global", "sensitivity"]},
        "finetune_epochs": {"low": 1, "high": 4, "type": "int"},
        "steps": {"low": 2, "high": 4, "type": "int", "when": {"schedule": ["iterative", "gradual"]}},
        "nm_n": {"choices": [1, 2], "when": {"granularity": ["nm"]}},
    },
}


def space_with(**changes) -> SearchSpace:
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        if value is _DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return parse_space(data, "x.yaml")


_DELETE = object()


# --- the shipped spaces ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "unstructured", "structured", "full"])
def test_shipped_spaces_load(name: str) -> None:
    space = load_space(SPACES / f"{name}.yaml")
    assert space.name == name
    assert space.task == "digits-mlp"
    assert space.params
    # each shipped space can produce a recipe through optuna
    recipe = sample_recipe(space, optuna.trial.FixedTrial(_first_values(space)))
    assert isinstance(recipe, Recipe)


def _first_values(space: SearchSpace) -> dict:
    return {p.name: p.choices[0] if p.kind == "choice" else p.low for p in space.params}


def test_default_space_is_the_documented_one() -> None:
    space = load_space("default")  # by built-in name
    assert builtin_spaces()["default"].name == "default.yaml"
    assert [(o.name, o.direction) for o in space.objectives] == [
        ("accuracy", "max"), ("latency_ms", "min"), ("size_bytes", "min"),
    ]
    assert [str(c) for c in space.constraints] == ["accuracy_drop <= 0.02"]
    assert space.trial_pruner.name == "pareto"
    assert {p.name for p in space.params} >= {"granularity", "sparsity", "finetune_epochs", "finetune_lr_scale",
                                             "distill_weight"}


def test_full_space_covers_every_dimension() -> None:
    space = load_space(SPACES / "full.yaml")
    by_name = {p.name: p for p in space.params}
    assert set(by_name["criterion"].choices) == {"magnitude_l1", "magnitude_l2", "random", "taylor", "wanda"}
    assert set(by_name["timing"].choices) == {"after_training", "during_training", "before_training"}
    assert set(by_name["allocation"].choices) == {"uniform", "global", "sensitivity"}
    assert set(by_name["finetune_schedule"].choices) == {"constant", "cosine"}


# --- parsing ---------------------------------------------------------------------------


def test_parse_resolves_types_defaults_and_order() -> None:
    space = space_with()
    by_name = {p.name: p for p in space.params}
    assert by_name["sparsity"].kind == "float" and by_name["finetune_epochs"].kind == "int"
    assert by_name["steps"].when == (("schedule", ("iterative", "gradual")),)
    assert space.backend == "optuna" and space.sampler == "tpe"  # defaults
    assert space.budget.trials == 20 and space.budget.seconds is None
    assert space.directions == ["maximize", "minimize", "minimize"]
    assert space.constraints[1] == Constraint("latency_ms", "<=", 2.0)
    # a param is sampled after the param its condition reads
    names = [p.name for p in space.params]
    assert names.index("schedule") < names.index("steps")


def test_to_dict_round_trips_and_fingerprint_is_stable() -> None:
    space = space_with()
    again = parse_space(space.to_dict(), "again.yaml")
    assert again == space
    assert again.fingerprint() == space.fingerprint()
    assert len(space.fingerprint()) == 16


def test_fingerprint_tracks_what_defines_the_search() -> None:
    base = space_with().fingerprint()
    assert space_with(budget={"trials": 99}).fingerprint() == base  # budget may change on resume
    assert space_with(seed=3).fingerprint() == base
    assert space_with(params__sparsity={"low": 0.3, "high": 0.9}).fingerprint() != base
    assert space_with(constraints=["accuracy_drop <= 0.02"]).fingerprint() != base
    assert space_with(objectives={"accuracy": "max", "size_bytes": "min", "latency_ms": "min"}).fingerprint() != base
    assert space_with(sampler="nsga2").fingerprint() != base


def test_with_overrides_revalidates() -> None:
    space = space_with()
    other = space.with_overrides(task="digits-cnn", trials=5, seed=7, sampler="random", trial_pruner="none")
    assert (other.task, other.budget.trials, other.seed, other.sampler) == ("digits-cnn", 5, 7, "random")
    assert other.trial_pruner == TrialPrunerConfig("none", {})
    assert space.task == "digits-mlp"  # the original is unchanged
    flaml = space.with_overrides(backend="flaml")
    assert flaml.sampler == "cfo"  # tpe does not fit flaml: its default sampler
    with pytest.raises(ConfigError, match=r"with overrides: budget.trials: must be an integer >= 1 or null, but got 0"):
        space.with_overrides(trials=0)
    with pytest.raises(ConfigError, match=r"sampler: 'cfo' is not a sampler of backend optuna; allowed: tpe, nsga2"):
        space.with_overrides(sampler="cfo")


# --- validation messages -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"colour": "red"}, r"^x.yaml: colour: 'colour' is not a key; allowed: name, task"),
        ({"objectives": {"acc": "max"}}, r"^x.yaml: objectives.acc: 'acc' is not a measure; allowed: accuracy, accuracy_drop, "),
        ({"objectives": {"accuracy": "up"}}, r"objectives.accuracy: 'up' is not a direction; allowed: min, max"),
        ({"objectives": {}}, r"objectives: at least one is needed"),
        ({"constraints": ["acc <= 0.1"]}, r"constraints\[0\]: 'acc' is not a measure; allowed: accuracy"),
        ({"constraints": ["accuracy_drop == 0.1"]}, r"constraints\[0\]: 'accuracy_drop == 0.1' is not 'MEASURE OP NUMBER'; allowed operators: <=, >=, <, >"),
        ({"constraints": ["accuracy_drop <= lots"]}, r"constraints\[0\]: bound 'lots' is not a finite number"),
        ({"params__sparsity": {"low": 0.9, "high": 0.3}}, r"params.sparsity: empty or inverted range: low=0.9 must be < high=0.3"),
        ({"params__sparsity": {"low": 0.5, "high": 0.5}}, r"params.sparsity: empty or inverted range"),
        ({"params__sparsity": {"low": 0.5, "high": 1.2}}, r"params.sparsity.high: sparsity must be in \[0, 1\), but got sparsity=1.2"),
        ({"params__finetune_lr": {"low": 0.0, "high": 0.1, "log": True}}, r"params.finetune_lr.low: .*finetune_lr must be > 0"),
        ({"params__sparsity": {"low": 0.0, "high": 0.9, "log": True}}, r"params.sparsity.low: a log range needs low > 0, but got low=0.0"),
        ({"params__colour": {"choices": ["red"]}}, r"params.colour: 'colour' is not a recipe field; allowed: criterion, granularity"),
        ({"params__granularity": {"choices": ["foo"]}}, r"params.granularity.choices: 'foo' is not a granularity; allowed: unstructured, nm, channel"),
        ({"params__finetune_schedule": {"choices": ["step"]}}, r"params.finetune_schedule.choices: 'step' is not a finetune_schedule; allowed: constant, cosine"),
        ({"params__granularity": {"low": 1, "high": 2}}, r"params.granularity: granularity needs choices \(a list from unstructured, nm, channel, head, ffn, head\+ffn, layer\)"),
        ({"params__steps": {"low": 2, "high": 4, "type": "float"}}, r"params.steps.type: 'float' does not fit recipe field steps \(int\); allowed: int"),
        ({"params__steps": {"low": 2.5, "high": 4}}, r"params.steps.low: steps takes an integer, but got 2.5"),
        ({"params__steps": {"low": 2, "high": 4, "when": {"colour": ["x"]}}}, r"params.steps.when.colour: 'colour' is not another param; allowed: granularity, schedule, allocation, nm_n"),
        ({"params__steps": {"low": 2, "high": 4, "when": {"sparsity": [0.5]}}}, r"params.steps.when.sparsity: conditions need a param with choices"),
        ({"params__steps": {"low": 2, "high": 4, "when": {"schedule": ["daily"]}}}, r"params.steps.when.schedule: 'daily' is not a choice of schedule; allowed: one_shot, iterative, gradual"),
        ({"params__keep_layers": {"choices": [["fc1"]]}}, r"params.keep_layers: keep_layers cannot be searched; set it under fixed"),
        ({"params__nm_n": {"choices": [2, 4]}}, r"params.nm_n: nm_n can be 4 and nm_m 4, but nm_n must stay below nm_m"),
        ({"params__nm_m": {"low": 2, "high": 8}}, r"params.nm_n: nm_n can be 2 and nm_m 2, but nm_n must stay below nm_m"),
        ({"params": {}}, r"params: nothing to search"),
        ({"fixed__sparsity": 0.5}, r"fixed.sparsity: sparsity is also under params; a field is either fixed or searched"),
        ({"fixed__colour": 1}, r"fixed.colour: 'colour' is not a recipe field"),
        ({"budget": {"trials": None, "seconds": None}}, r"budget: set trials \(an integer >= 1\) and/or seconds \(> 0\)"),
        ({"budget": {"trials": -3}}, r"budget.trials: must be an integer >= 1 or null, but got -3"),
        ({"budget": {"seconds": 0}}, r"budget.seconds: must be a number > 0 or null, but got 0"),
        ({"budget": {"minutes": 3}}, r"budget.minutes: 'minutes' is not a key here; allowed: trials, seconds"),
        ({"backend": "hyperopt"}, r"backend: 'hyperopt' is not a backend; allowed: optuna, flaml"),
        ({"sampler": "cmaes"}, r"sampler: 'cmaes' is not a sampler of backend optuna; allowed: tpe, nsga2, nsga3, gp, random"),
        ({"backend": "flaml", "sampler": "tpe"}, r"sampler: 'tpe' is not a sampler of backend flaml; allowed: cfo, blendsearch"),
        ({"backend": "flaml", "sampler": "blendsearch"}, r"sampler: blendsearch takes one objective, but the space has 3; allowed: cfo"),
        ({"trial_pruner": "patient"}, r"trial_pruner: 'patient' is not a trial pruner; allowed: none, median, hyperband, successive_halving, pareto"),
        ({"trial_pruner": "median"}, r"trial_pruner: median is for one objective, but the space has 3; allowed with 3 objectives: none, pareto"),
        ({"trial_pruner": {"name": "pareto", "percentile": 120}}, r"trial_pruner: percentile must be a number in \[0, 100\], but got percentile=120"),
        ({"trial_pruner": {"name": "pareto", "patience": 2}}, r"trial_pruner: 'patience' is not an option of pareto; allowed: percentile, n_startup_trials"),
        ({"executor": {"name": "slurm"}}, r"executor.name: 'slurm' is not an executor; allowed: local, ray"),
        ({"executor": {"name": "local", "workers": 0}}, r"executor.workers: must be an integer >= 1, but got 0"),
        ({"flaml": {"tolerances": {"flops": 0.1}}}, r"flaml.tolerances.flops: 'flops' is not a key here; allowed: accuracy, latency_ms, size_bytes"),
        ({"flaml": {"tolerances": {"accuracy": "lots"}}}, r"flaml.tolerances.accuracy: must be a number >= 0 or a percentage like '5%'"),
        ({"warm_start": [{"sparsity": 0.99}]}, r"warm_start\[0\]: recipe has sparsity=0.99, outside params.sparsity \(float range \[0.3, 0.95\]\)"),
        ({"warm_start": [{"criterion": "taylor"}]}, r"warm_start\[0\]: recipe has criterion='taylor' but the space does not search \(default\) criterion='magnitude_l1'"),
        ({"name": "../evil"}, r"name: must be letters, digits"),
        ({"seed": -1}, r"seed: must be an integer in \[0, 2\*\*32\)"),
    ],
)
def test_invalid_spaces_name_file_key_and_allowed(changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        space_with(**changes)
    assert "\n" not in str(info.value)


def test_single_objective_pruners_need_the_metric_as_objective() -> None:
    one = {"objectives": {"accuracy": "max"}, "trial_pruner": "median"}
    assert space_with(**one).trial_pruner.name == "median"
    assert space_with(objectives={"accuracy_drop": "min"}, trial_pruner="hyperband").trial_pruner.name == "hyperband"
    with pytest.raises(ConfigError, match=r"trial_pruner: median compares the task metric across trials, so the objective must be accuracy: max or accuracy_drop: min, but got size_bytes: min"):
        space_with(objectives={"size_bytes": "min"}, trial_pruner="median")
    with pytest.raises(ConfigError, match=r"trial_pruner: pareto compares trials on their other objectives, so it needs two or more"):
        space_with(objectives={"accuracy": "max"}, trial_pruner="pareto")
    with pytest.raises(ConfigError, match=r"trial_pruner: reduction_factor must be an integer >= 2, but got reduction_factor=1"):
        space_with(objectives={"accuracy": "max"}, trial_pruner={"name": "successive_halving", "reduction_factor": 1})


def test_fixed_contradiction_is_the_recipe_error() -> None:
    with pytest.raises(ConfigError, match=r"^x.yaml: fixed: allocation must be uniform for granularity=nm"):
        space_with(params={"sparsity": {"low": 0.3, "high": 0.9}}, fixed={"granularity": "nm", "allocation": "global"})


def test_yaml_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: digits-mlp\nobjectives: {accuracy: max\nparams: {}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:3: malformed YAML: "):
        load_space(bad)
    dup = tmp_path / "dup.yaml"
    dup.write_text("objectives: {accuracy: max}\nobjectives: {size_bytes: min}\n")
    with pytest.raises(ConfigError, match=r"dup.yaml:2: malformed YAML: duplicate key 'objectives'"):
        load_space(dup)
    with pytest.raises(ConfigError, match=r"nope.yaml: no such search space file; built-in spaces: default, full"):
        load_space(tmp_path / "nope.yaml")
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list.yaml: expected a mapping of keys at the top level"):
        load_space(listed)


def test_yaml_reads_exponents_without_a_dot(tmp_path: Path) -> None:
    path = tmp_path / "lr.yaml"
    path.write_text(
        "objectives: {accuracy: max, size_bytes: min}\n"
        "params:\n  finetune_lr: {low: 1e-4, high: 1e-2, log: true}\n"
    )
    (p,) = load_space(path).params
    assert (p.low, p.high, p.log) == (1e-4, 1e-2, True)
    assert load_space(path).name == "lr"


# --- sampling ----------------------------------------------------------------------------


def test_sample_optuna_skips_inactive_params_and_applies_fixed() -> None:
    space = space_with()
    trial = optuna.trial.FixedTrial(
        {"granularity": "channel", "sparsity": 0.5, "schedule": "one_shot", "allocation": "global",
         "finetune_epochs": 3, "steps": 4, "nm_n": 1}  # steps and nm_n are inactive
    )
    recipe = sample_recipe(space, trial)
    assert recipe == Recipe(granularity="channel", sparsity=0.5, schedule="one_shot", allocation="global",
                            finetune_epochs=3, finetune_lr=0.001)
    assert recipe.steps == 1 and recipe.nm_n == 2  # recipe defaults


def test_conditions_chain_and_cycles_are_refused() -> None:
    params = {
        "steps": {"low": 2, "high": 4, "when": {"schedule": ["iterative"]}},
        "schedule": {"choices": ["one_shot", "iterative"], "when": {"granularity": ["channel"]}},
        "granularity": {"choices": ["unstructured", "channel"]},
    }
    space = space_with(params=params)
    assert [p.name for p in space.params] == ["granularity", "schedule", "steps"]
    # schedule is inactive for unstructured, so steps is too, whatever the trial holds
    fixed = {"granularity": "unstructured", "schedule": "iterative", "steps": 4}
    assert sample_recipe(space, optuna.trial.FixedTrial(fixed)) == Recipe(finetune_lr=0.001)
    fixed["granularity"] = "channel"
    assert sample_recipe(space, optuna.trial.FixedTrial(fixed)).steps == 4
    params["granularity"]["when"] = {"steps": [2]}
    with pytest.raises(ConfigError, match=r"params.granularity.when.steps: conditions need a param with choices, but steps is a range"):
        space_with(params=params)
    params["granularity"]["when"] = {"schedule": ["iterative"]}
    with pytest.raises(ConfigError, match=r"params.schedule.when: conditions form a cycle: schedule -> granularity -> schedule"):
        space_with(params=params)


def test_sample_optuna_forces_uniform_allocation_for_nm() -> None:
    space = space_with()
    trial = optuna.trial.FixedTrial(
        {"granularity": "nm", "sparsity": 0.5, "schedule": "iterative", "allocation": "sensitivity",
         "finetune_epochs": 1, "steps": 3, "nm_n": 1}
    )
    recipe = sample_recipe(space, trial)
    assert (recipe.granularity, recipe.allocation, recipe.nm_n, recipe.steps) == ("nm", "uniform", 1, 3)


def test_sampled_recipes_are_valid_and_round_trip_through_optuna_params() -> None:
    space = space_with()
    study = optuna.create_study(
        directions=space.directions, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    for _ in range(40):
        trial = study.ask()
        recipe = sample_recipe(space, trial)
        assert recipe.finetune_lr == 0.001
        assert recipe.allocation == "uniform" if recipe.granularity == "nm" else recipe.allocation in ("global", "sensitivity")
        params = trial_params(space, recipe)
        # the params of an nm recipe's allocation is a stand-in (any choice means uniform)
        expected = {k: v for k, v in trial.params.items() if not (k == "allocation" and recipe.granularity == "nm")}
        assert {k: v for k, v in params.items() if k in expected} == expected
        assert space.recipe(params) == recipe
        study.tell(trial, [0.9, 1.0, 1.0])


def test_optuna_params_enqueue_a_warm_start() -> None:
    space = space_with()
    warm = Recipe(granularity="channel", sparsity=0.5, schedule="iterative", steps=3, allocation="global",
                  finetune_epochs=2, finetune_lr=0.001)
    study = optuna.create_study(directions=space.directions)
    study.enqueue_trial(trial_params(space, warm))
    assert sample_recipe(space, study.ask()) == warm
    with pytest.raises(ConfigError, match=r"recipe has finetune_lr=0.01 but the space fixes finetune_lr=0.001"):
        trial_params(space, Recipe(finetune_lr=0.01, allocation="global"))


def test_warm_start_recipes_come_from_the_file() -> None:
    space = space_with(warm_start=[{"granularity": "channel", "sparsity": 0.5, "allocation": "global"}])
    (recipe,) = space.warm_start_recipes()
    assert (recipe.granularity, recipe.sparsity, recipe.finetune_lr) == ("channel", 0.5, 0.001)
    assert parse_space(space.to_dict(), "again").warm_start_recipes() == [recipe]


def test_flaml_config_and_recipe_from_config() -> None:
    pytest.importorskip("flaml")
    space = space_with()
    config = flaml_config(space)
    assert set(config) == {p.name for p in space.params}
    assert config["granularity"].categories == ["unstructured", "channel", "nm"]
    assert (config["finetune_epochs"].lower, config["finetune_epochs"].upper) == (1, 5)  # upper exclusive
    assert (config["sparsity"].lower, config["sparsity"].upper) == (0.3, 0.95)
    # flat config: inactive params ignored, numbers rounded and kept in range
    recipe = recipe_from_config(
        space,
        {"granularity": np.str_("unstructured"), "sparsity": np.float64(0.951), "schedule": "one_shot",
         "allocation": "global", "finetune_epochs": 2.6, "steps": 3, "nm_n": 1}
    )
    assert type(recipe.granularity) is str and type(recipe.sparsity) is float
    assert recipe == Recipe(granularity="unstructured", sparsity=0.95, schedule="one_shot", allocation="global",
                            finetune_epochs=3, finetune_lr=0.001)
    with pytest.raises(ConfigError, match=r"the sampled config lacks param 'sparsity'"):
        recipe_from_config(space, {"granularity": "unstructured"})


def test_flaml_lexico_objectives() -> None:
    space = space_with(backend="flaml", flaml={"tolerances": {"accuracy": 0.01, "size_bytes": "5%"}})
    assert space.sampler == "cfo"
    assert lexico_objectives(space) == {
        "metrics": ["accuracy", "latency_ms", "size_bytes"],
        "modes": ["max", "min", "min"],
        "tolerances": {"accuracy": 0.01, "latency_ms": 0.0, "size_bytes": "5%"},
        "targets": {"accuracy": math.inf, "latency_ms": -math.inf, "size_bytes": -math.inf},
    }


# --- constraints and derived values --------------------------------------------------------


def test_constraint_violations_in_optuna_convention() -> None:
    space = space_with()  # accuracy_drop <= 0.01, latency_ms <= 2
    assert constraint_violations(space, {"accuracy_drop": 0.005, "latency_ms": 3.0}) == pytest.approx([-0.005, 1.0])
    assert is_feasible(space, {"accuracy_drop": 0.01, "latency_ms": 2.0})  # bounds included
    assert not is_feasible(space, {"accuracy_drop": 0.011, "latency_ms": 1.0})
    assert constraint_violations(space, {"accuracy_drop": None, "latency_ms": math.nan}) == [math.inf, math.inf]
    strict = [Constraint("accuracy", ">", 0.9)]
    assert constraint_violations(strict, {"accuracy": 0.95}) == pytest.approx([-0.05])
    assert constraint_violations(strict, {"accuracy": 0.9})[0] > 0  # equality violates a strict bound
    with pytest.raises(KeyError, match="needs 'latency_ms'"):
        constraint_violations(space, {"accuracy_drop": 0.0})


def test_min_accuracy_and_reference_point() -> None:
    space = space_with(constraints=["accuracy_drop <= 0.02", "accuracy >= 0.9"])
    assert space.min_accuracy(0.97) == pytest.approx(0.95)
    assert space.min_accuracy(0.91) == pytest.approx(0.9)
    assert space_with(constraints=[]).min_accuracy(0.97) is None
    assert space.reference_point is None
    assert space_with(reference_point={"latency_ms": 0.8}).reference_point == [5.0, 0.8, 1.0]
    assert space.hypervolume_reference == [5.0, 1.0, 1.0]  # the default when the file sets none
    assert space_with(reference_point={"latency_ms": 0.8}).hypervolume_reference == [5.0, 0.8, 1.0]


# --- recovery fields: step budgets, nullable fields, the relative learning rate ----------


def _recovery_space(**params) -> SearchSpace:
    return parse_space({"task": "digits-mlp", "objectives": {"accuracy": "max", "size_bytes": "min"},
                        "budget": {"trials": 4}, **params}, "r.yaml")


def test_a_step_budget_space_samples_and_round_trips_its_recipes() -> None:
    space = _recovery_space(
        fixed={"finetune_steps": 200, "report_every": 50, "report_batches": 2},
        params={"sparsity": {"low": 0.3, "high": 0.9}, "finetune_lr_scale": {"low": 0.1, "high": 10.0, "log": True},
                "bn_recalibration": {"choices": [None, False]}, "distill_weight": {"low": 0.0, "high": 1.0}},
        warm_start=[{"sparsity": 0.5, "bn_recalibration": False}],
    )
    (warm,) = space.warm_start_recipes()
    assert (warm.finetune_steps, warm.finetune_epochs, warm.bn_recalibration) == (200, 0, False)
    study = optuna.create_study(directions=space.directions, sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(10):
        trial = study.ask()
        recipe = sample_recipe(space, trial)
        assert recipe.budget_unit == "steps" and recipe.finetune_lr is None and recipe.bn_recalibration in (None, False)
        assert space.recipe(trial_params(space, recipe)) == recipe
        study.tell(trial, [0.9, 1.0])
    assert parse_space(space.to_dict(), "again") == space


@pytest.mark.parametrize(
    "params, message",
    [
        ({"fixed": {"finetune_steps": 100}, "params": {"finetune_epochs": {"low": 1, "high": 3}}},
         r"r\.yaml: params\.finetune_epochs: finetune_steps and finetune_epochs cannot both be set \(also fixed\.finetune_steps\)"),
        ({"params": {"finetune_steps": {"low": 10, "high": 30}, "finetune_epochs": {"low": 1, "high": 3}}},
         r"finetune_steps and finetune_epochs cannot both be set"),
        ({"fixed": {"finetune_lr": 0.001}, "params": {"finetune_lr_scale": {"low": 0.1, "high": 10.0}}},
         r"params\.finetune_lr_scale: finetune_lr and finetune_lr_scale cannot both be set"),
        ({"params": {"distill_weight": {"low": 0.0, "high": 1.5}}}, r"params\.distill_weight\.high: distill_weight must be a number in \[0, 1\]"),
        ({"params": {"bn_recalibration": {"low": 0, "high": 1}}}, r"bn_recalibration needs choices"),
        ({"params": {"sparsity": {"low": 0.3, "high": 0.9}}, "fixed": {"report_every": 0, "finetune_steps": 10}},
         r"fixed\.report_every: report_every must be an integer in \[1, 1e\+07\]"),
    ],
)
def test_recovery_fields_that_contradict_are_refused(params: dict, message: str) -> None:
    params.setdefault("params", {"sparsity": {"low": 0.3, "high": 0.9}})
    with pytest.raises(ConfigError, match=message):
        _recovery_space(**params)
def test_the_transformer_space_reaches_every_part_and_checks_its_extremes() -> None:
    from autoprune.search._params import extreme_recipes

    space = load_space(SPACES / "transformer.yaml")
    by_name = {p.name: p for p in space.params}
    assert by_name["granularity"].choices == ("head", "ffn", "head+ffn", "layer")
    assert by_name["head_sparsity"].when == (("granularity", ("head+ffn",)),)
    # the rate is relative to the task's baseline_lr (5e-5): 1e-5..5e-4, BERT's rates and a small model's
    assert "finetune_lr" not in by_name
    assert (by_name["finetune_lr_scale"].low, by_name["finetune_lr_scale"].high) == (0.2, 10.0)
    assert by_name["finetune_lr_scale"].log
    extremes = {r.granularity: r for r in extreme_recipes(space.params, space.fixed)}
    assert extremes["layer"].sparsity == 0.5 and extremes["layer"].allocation == "uniform"
    assert (extremes["layer"].finetune_steps, extremes["layer"].report_every) == (80, 80)
    assert (extremes["head+ffn"].head_sparsity, extremes["head+ffn"].ffn_sparsity) == (0.5, 0.6)
    combo = space.recipe({"granularity": "head+ffn", "head_sparsity": 0.25, "ffn_sparsity": 0.4,
                          "finetune_steps": 80})
    assert combo.summary().startswith("head 0.25 + ffn 0.40")
    assert (combo.budget_unit, combo.report_every, combo.report_batches) == ("steps", 80, 8)
    warm = space.warm_start_recipes()
    assert [r.granularity for r in warm] == ["ffn", "head+ffn", "layer"]
    assert (warm[1].head_sparsity, warm[1].ffn_sparsity, warm[2].sparsity) == (0.25, 0.6, 0.5)
    assert [r.distill_weight for r in warm] == [0.5, 0.9, 0.5]
    assert all(space.recipe(space.param_values(r)) == r for r in warm)


def test_a_fixed_report_every_goes_with_a_searched_step_budget() -> None:
    space = _recovery_space(fixed={"report_every": 20},
                            params={"sparsity": {"low": 0.3, "high": 0.9},
                                    "finetune_steps": {"low": 20, "high": 100, "step": 20, "type": "int"}})
    recipe = space.recipe({"sparsity": 0.5, "finetune_steps": 60})
    assert (recipe.finetune_steps, recipe.report_every) == (60, 20)
    with pytest.raises(ConfigError, match=r"fixed: report_every counts optimizer steps and needs finetune_steps"):
        _recovery_space(fixed={"report_every": 20}, params={"sparsity": {"low": 0.3, "high": 0.9}})
