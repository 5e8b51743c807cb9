"""The search space schema: its JSON Schema for editors, registry names, the trial-pruner check."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from autoprune.errors import ConfigError
from autoprune.registry import BACKENDS, CRITERIA, EXECUTORS
from autoprune.search._loader import SCHEMA_FILE, read_space_file, write_space_schema
from autoprune.search._params import check_field_value
from autoprune.search._schema import space_json_schema
from autoprune.search._space import parse_space
from autoprune.search.trial_pruners import TrialPrunerConfig, validate_trial_pruner
from autoprune.search.backends import OptunaBackend


ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "search_spaces").glob("*.yaml"))
BENCHMARKS = sorted((ROOT / "benchmarks" / "spaces").glob("*.yaml"))
SMALL = {"objectives": {"accuracy": "max", "size_bytes": "min"}, "params": {"sparsity": {"low": 0.3, "high": 0.9}}}


def _validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = space_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_shipped_schema_file_is_the_schema_of_today() -> None:
    shipped = json.loads((ROOT / "search_spaces" / SCHEMA_FILE).read_text())
    assert shipped == space_json_schema(), (
        "search_spaces/schema.json is stale; rewrite it with autoprune.search._loader.write_space_schema()"
    )


def test_write_space_schema_writes_the_json_schema(tmp_path: Path) -> None:
    path = write_space_schema(tmp_path / "schema.json")
    assert json.loads(path.read_text()) == space_json_schema()
    assert space_json_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_spaces_point_editors_at_the_schema(path: Path) -> None:
    assert path.read_text().splitlines()[0] == f"# yaml-language-server: $schema={SCHEMA_FILE}"


@pytest.mark.parametrize("path", SHIPPED + BENCHMARKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_space_file_meets_the_json_schema(path: Path) -> None:
    data, _ = read_space_file(path)
    errors = [e.message for e in _validator().iter_errors(data)]
    assert errors == []


@pytest.mark.parametrize(
    "changes",
    [
        {"colour": "red"},  # top level: additionalProperties false
        {"budget": {"minutes": 3}},  # every section too
        {"executor": {"name": "slurm"}},  # registered names are enums
        {"objectives": {"acc": "max"}},
        {"params": {"colour": {"choices": [1]}}},
        {"params": {"sparsity": {"low": 0.3, "high": 0.9, "when": {}}}},
        {"fixed": {"granularity": "blocks"}},
        {"warm_start": [{"colour": 1}]},
        {"seed": -1},
        {"budget": {"trials": 0}},
    ],
)
def test_the_json_schema_refuses_what_validation_refuses(changes: dict) -> None:
    data = {**copy.deepcopy(SMALL), **changes}
    assert list(_validator().iter_errors(data)) != []
    with pytest.raises(ConfigError):
        parse_space(data, "x.yaml")


def test_required_keys_are_objectives_and_params() -> None:
    assert space_json_schema()["required"] == ["objectives", "params"]
    with pytest.raises(ConfigError, match=r"^x.yaml: params: nothing to search"):
        parse_space({"objectives": {"accuracy": "max"}}, "x.yaml")
    with pytest.raises(ConfigError, match=r"^x.yaml: objectives: at least one is needed"):
        parse_space({"params": SMALL["params"]}, "x.yaml")


def test_names_registered_later_are_in_the_schema_and_accepted() -> None:
    class Mine(OptunaBackend):
        samplers = ("anneal",)
        default_sampler = "anneal"

    BACKENDS.register("mine", Mine)
    CRITERIA.register("movement", object())
    try:
        schema = space_json_schema()
        assert "mine" in schema["properties"]["backend"]["enum"]
        assert "anneal" in schema["properties"]["sampler"]["enum"]
        assert "movement" in schema["properties"]["fixed"]["properties"]["criterion"]["enum"]
        space = parse_space({**SMALL, "backend": "mine"}, "x.yaml")
        assert (space.backend, space.sampler) == ("mine", "anneal")
        # the space takes the name; the recipe itself checks it against the same registry
        assert check_field_value("criterion", "movement") == "movement"
    finally:
        BACKENDS.unregister("mine")
        CRITERIA.unregister("movement")
    with pytest.raises(ConfigError, match=r"backend: 'mine' is not a backend; allowed: optuna, flaml\.$"):
        parse_space({**SMALL, "backend": "mine"}, "x.yaml")


def test_every_registered_executor_is_accepted() -> None:
    for name in EXECUTORS.names():
        executor = {"name": name, "address": "auto"} if name == "ray" else {"name": name}
        assert parse_space({**SMALL, "executor": executor}, "x.yaml").executor.name == name


def test_errors_are_one_line_with_file_and_key_path() -> None:
    data = {**copy.deepcopy(SMALL), "params": {"sparsity": {"low": 0.3, "high": 0.9, "when": {"granularity": "nm"}}}}
    with pytest.raises(ConfigError) as info:
        parse_space(data, "x.yaml")
    assert str(info.value) == "x.yaml: params.sparsity.when.granularity: 'granularity' is not another param; allowed: none."


# --- the trial pruner check: one function, given the config and the objectives ----------------


def test_check_trial_pruner_accepts_what_fits() -> None:
    two = [("accuracy", "max"), ("size_bytes", "min")]
    validate_trial_pruner(TrialPrunerConfig("none"), two)
    validate_trial_pruner(TrialPrunerConfig("pareto", {"percentile": 50}), two)
    validate_trial_pruner(TrialPrunerConfig("median", {"n_startup_trials": 2}), [("accuracy_drop", "min")])


@pytest.mark.parametrize(
    ("config", "objectives", "message"),
    [
        (TrialPrunerConfig("patient"), [("accuracy", "max")], r"^'patient' is not a trial pruner; allowed: none, median"),
        (TrialPrunerConfig("median"), [("size_bytes", "min")], r"^median compares the task metric across trials, so the objective must be accuracy: max or accuracy_drop: min, but got size_bytes: min\.$"),
        (TrialPrunerConfig("median"), [("accuracy", "max"), ("size_bytes", "min")], r"^median is for one objective, but the space has 2"),
        (TrialPrunerConfig("pareto"), [("accuracy", "max")], r"^pareto compares trials on their other objectives, so it needs two or more"),
        (TrialPrunerConfig("pareto", {"percentile": 120}), [("accuracy", "max"), ("flops", "min")], r"^percentile must be a number in \[0, 100\], but got percentile=120"),
    ],
)
def test_check_trial_pruner_refuses_with_the_message_of_the_rule(config, objectives, message) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_trial_pruner(config, objectives)


def test_cli_schema_writes_the_schema_the_loader_validates_with(tmp_path, capsys) -> None:
    import json

    from autoprune.cli import main

    assert main(["schema", "--output", str(tmp_path / "schema.json")]) == 0
    assert json.loads((tmp_path / "schema.json").read_text()) == space_json_schema()
    capsys.readouterr()
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == space_json_schema()
