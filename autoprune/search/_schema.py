"""The search space file as a declarative schema (pydantic models with ``extra="forbid"``).

:func:`validate_space` checks a mapping (the parsed YAML) and raises the first problem
as one :class:`~autoprune.errors.ConfigError` line naming the file, the key path and
what is allowed; :func:`space_json_schema` is the same schema for editors. Names that
come from registries (backend, executor, trial pruner, the recipe's criterion,
granularity, allocation, schedule, timing) are checked against
:mod:`autoprune.registry` when a space is validated, so plug-ins registered before that
are accepted. Validation builds no runtime object (no sampler, no pruner, no model).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Mapping, Optional, Sequence

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from autoprune.errors import ConfigError
from autoprune.measures import OBJECTIVE_MEASURES
from autoprune.recipe import Recipe
from autoprune.registry import BACKENDS, EXECUTORS, TRIAL_PRUNERS
from autoprune.search._constraints import parse_constraint
from autoprune.search._schema_fields import (
    ERROR_TYPE,
    Section,
    amp_name,
    device_name,
    fail,
    join,
    json_schema,
    named,
    number,
    recipe_fields_schema,
)
from autoprune.search._schema_params import Params, check_fixed, check_recipes, check_warm_start
from autoprune.search.trial_pruners import TrialPrunerConfig, validate_trial_pruner

__all__ = ["MODELS", "SpaceModel", "validate_space", "space_json_schema"]

DIRECTIONS = ("min", "max")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PERCENT_RE = re.compile(r"\d+(\.\d*)?%")

PositiveInt = number(low=1, integer=True)
OptionalPositiveInt = number(low=1, integer=True, optional=True)
NonNegativeInt = number(low=0, integer=True)
PositiveNumber = number(low=0, strict=True)
OptionalPositiveNumber = number(low=0, strict=True, optional=True)
NonNegativeNumber = number(low=0)
Number = number()
BackendName = named(BACKENDS, "a backend")
DeviceName = device_name()
ExecutorName = named(EXECUTORS, "an executor")


def _mapping(value: Any) -> Any:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail(f"expected a mapping, but got {value!r}.")
    return value


def _tolerance(value: Any) -> Any:
    if (isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0) or (
        isinstance(value, str) and _PERCENT_RE.fullmatch(value.strip()) is not None
    ):
        return value
    raise fail(f"must be a number >= 0 or a percentage like '5%', but got {value!r}.")


Tolerance = Annotated[Any, BeforeValidator(_tolerance), json_schema(lambda: {"anyOf": [
    {"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^\s*\d+(\.\d*)?%\s*$"}]})]


class BudgetModel(Section):
    """When the search ends: after ``trials`` or ``seconds``, the first reached."""

    trials: OptionalPositiveInt = None
    seconds: OptionalPositiveNumber = None

    @model_validator(mode="after")
    def _one_limit(self) -> BudgetModel:
        if self.trials is None and self.seconds is None:
            raise fail("set trials (an integer >= 1) and/or seconds (> 0).")
        return self


class FlamlModel(Section):
    """How several objectives become one for FLAML: lexicographic, in objective order,
    each kept within its tolerance of its best before the next counts."""

    tolerances: Annotated[dict[str, Tolerance], BeforeValidator(_mapping)] = {}
    targets: Annotated[dict[str, Number], BeforeValidator(_mapping)] = {}


class ExecutorModel(Section):
    """Where trials run: local processes or Ray (``address`` null: start one)."""

    name: ExecutorName = "local"
    workers: PositiveInt = 1
    cpus_per_trial: PositiveNumber = 1.0
    gpus_per_trial: NonNegativeNumber = 0.0
    address: Annotated[Any, json_schema(lambda: {"type": ["string", "null"]})] = None

    @model_validator(mode="after")
    def _address_for_ray(self) -> ExecutorModel:
        if self.address is not None and (self.name != "ray" or not isinstance(self.address, str)):
            raise fail(f"is a Ray address (text) for executor ray, but got {self.address!r}.", "address")
        return self


class LatencyModel(Section):
    """How latency is measured (``batch_size`` null: the task's benchmark batch size;
    ``device``: cpu, the edge case, by default)."""

    device: DeviceName = "cpu"
    threads: PositiveInt = 1
    batch_size: OptionalPositiveInt = None
    warmup: NonNegativeInt = 10
    repeats: PositiveInt = 50


def _name(value: Any) -> Any:
    if not (isinstance(value, str) and _NAME_RE.match(value)):
        raise fail(f"must be letters, digits, '_', '.' or '-' (it names the run directory), but got {value!r}.")
    return value


def _task(value: Any) -> Any:
    if isinstance(value, Mapping):  # {kind: hf-text-classification, model: ..., data: ...}
        from autoprune.tasks import check_task_spec

        try:
            return check_task_spec(value)
        except ConfigError as exc:  # "task.model: ..." -> the key path of the file
            text = str(exc)
            key, sep, rest = text.partition(": ")
            if sep and key.startswith("task.") and " " not in key:
                raise fail(rest, key[len("task."):]) from None
            raise fail(text) from None
    if not isinstance(value, str) or not value.strip():
        raise fail(f"must be a task name, pkg.mod:attr, file.py:attr or a mapping {{kind: ..., model: ..., "
                   f"data: ...}}, but got {value!r}.")
    return value


def _data_dir(value: Any) -> Any:
    if value is not None and not isinstance(value, str):
        raise fail(f"must be a path or null, but got {value!r}.")
    return value


def _seed(value: Any) -> Any:
    if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32):
        raise fail(f"must be an integer in [0, 2**32), but got {value!r}.")
    return value


def _description(value: Any) -> Any:
    value = value or ""
    if not isinstance(value, str):
        raise fail(f"must be text, but got {value!r}.")
    return value


def _objectives(value: Any) -> Any:
    value = _mapping(value)
    if not value:
        raise fail(f"at least one is needed, as measure: min|max; measures: {join(OBJECTIVE_MEASURES)}.")
    for name, direction in value.items():
        if name not in OBJECTIVE_MEASURES:
            raise fail(f"{name!r} is not a measure; allowed: {join(OBJECTIVE_MEASURES)}.", str(name))
        if direction not in DIRECTIONS:
            raise fail(f"{direction!r} is not a direction; allowed: {join(DIRECTIONS)}.", str(name))
    return dict(value)


def _constraints(value: Any) -> Any:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(f"expected a list of 'MEASURE OP NUMBER', but got {value!r}.")
    for i, text in enumerate(value):
        try:
            parse_constraint(text)
        except ValueError as exc:
            raise fail(str(exc), f"[{i}]") from None
    return value


def _trial_pruner(value: Any) -> Any:
    if isinstance(value, str):
        return {"name": value}
    return dict(_mapping(value))


MODELS = ("front", "all")  # which trials keep their model in the run directory


def _models(value: Any) -> Any:
    if value not in MODELS:
        raise fail(f"{value!r} is not a choice; allowed: {join(MODELS)}.")
    return value


def _samplers() -> list[str]:
    return list(dict.fromkeys(s for _, backend in BACKENDS.items() for s in backend.samplers))


def _trial_pruner_schema() -> dict[str, Any]:
    names = {"enum": list(TRIAL_PRUNERS.names())}
    return {"anyOf": [names, {"type": "object", "properties": {"name": names}, "required": ["name"],
                              "additionalProperties": True}]}


class SpaceModel(BaseModel):
    """An autoprune search space: what to search (params, fixed), for what (objectives,
    constraints), how long (budget), with what (backend, sampler, trial_pruner,
    executor). Every key but objectives and params is optional."""

    model_config = ConfigDict(extra="forbid", title="autoprune search space")

    # Field before the validator: its bounds then reach the JSON Schema
    name: Annotated[str, Field(pattern=_NAME_RE.pattern, description="study and run directory name "
                    "(default: the file's stem)"), BeforeValidator(_name)] = "search"
    task: Annotated[Any, BeforeValidator(_task), json_schema(lambda: {"anyOf": [
        {"type": "string", "minLength": 1}, {"type": "object", "required": ["kind"]}],
        "description": "built-in task, pkg.mod:attr, file.py:attr, or {kind: hf-text-classification | "
                       "hf-image-classification, model: DIR, data: PATH, ...}"})] = "digits-mlp"
    data_dir: Annotated[Optional[str], Field(description="for tasks that read files"),
                        BeforeValidator(_data_dir)] = None
    seed: Annotated[int, Field(ge=0, lt=2**32), BeforeValidator(_seed)] = 0
    description: Annotated[str, BeforeValidator(_description)] = ""
    objectives: Annotated[dict[str, str], BeforeValidator(_objectives), json_schema(lambda: {
        "type": "object", "propertyNames": {"enum": list(OBJECTIVE_MEASURES)},
        "additionalProperties": {"enum": list(DIRECTIONS)}, "minProperties": 1,
        "description": "measure: min|max, in priority order"})]
    constraints: Annotated[list[str], BeforeValidator(_constraints), json_schema(lambda: {
        "type": "array", "items": {"type": "string", "pattern": r"^\s*[A-Za-z_]\w*\s*(<=|>=|<|>)\s*\S+\s*$"},
        "description": "'MEASURE OP NUMBER', OP one of <= >= < >"})] = []
    budget: BudgetModel = BudgetModel(trials=20)
    backend: BackendName = "optuna"
    sampler: Annotated[Any, json_schema(lambda: {"enum": _samplers(),
                       "description": "one of the backend's samplers (default: its default sampler)"})] = None
    trial_pruner: Annotated[Any, BeforeValidator(_trial_pruner), json_schema(_trial_pruner_schema)] = Field(
        "none", validate_default=True)
    flaml: FlamlModel = FlamlModel()
    executor: ExecutorModel = ExecutorModel()
    latency: LatencyModel = LatencyModel()
    device: Annotated[DeviceName, Field(description="where trials train and evaluate: auto (cuda:0 when "
                      "available, else cpu), cpu, cuda, cuda:N")] = "auto"
    amp: Annotated[amp_name(), Field(description="mixed precision of fine-tuning: null, bf16, fp16 (CUDA)")] = None
    reference_point: Annotated[dict[str, Number], BeforeValidator(_mapping), Field(
        description="per objective, for the hypervolume")] = {}
    warm_start: Annotated[list[dict[str, Any]], BeforeValidator(check_warm_start), json_schema(lambda: {
        "type": "array", "items": recipe_fields_schema(), "description": "recipes tried first"})] = []
    fixed: Annotated[dict[str, Any], BeforeValidator(check_fixed), json_schema(lambda: {
        **recipe_fields_schema(), "description": "recipe fields held constant"})] = {}
    params: Params
    models: Annotated[str, BeforeValidator(_models), json_schema(lambda: {
        "enum": list(MODELS), "default": "front",
        "description": "trials whose model the run directory keeps: the Pareto front, or every complete trial"})] = \
        "front"

    _sampler: str = PrivateAttr(default="")
    _trial_pruner: TrialPrunerConfig = PrivateAttr(default_factory=TrialPrunerConfig)
    _warm_start: tuple[Recipe, ...] = PrivateAttr(default=())

    @model_validator(mode="before")
    @classmethod
    def _top_level(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise fail(f"expected a mapping of keys at the top level, but got {data!r}.")
        for key in data:
            if key not in cls.model_fields:
                raise fail(f"{key!r} is not a key; allowed: {join(cls.model_fields)}.", str(key))
        # a missing objectives / params gets the message of an empty one
        return {"objectives": None, "params": None, **data}

    @model_validator(mode="after")
    def _between_sections(self) -> SpaceModel:
        objectives = list(self.objectives.items())
        backend = BACKENDS.get(self.backend)
        sampler = self.sampler if "sampler" in self.model_fields_set else backend.default_sampler
        if sampler not in backend.samplers:
            raise fail(f"{sampler!r} is not a sampler of backend {self.backend}; allowed: {join(backend.samplers)}.",
                       "sampler")
        try:
            backend.check_sampler(sampler, objectives)
        except ValueError as exc:  # a ConfigError, or a plug-in's ValueError
            raise fail(str(exc), "sampler") from None
        config = TrialPrunerConfig(self.trial_pruner.get("name"),
                                   {k: v for k, v in self.trial_pruner.items() if k != "name"})
        try:
            validate_trial_pruner(config, objectives)
        except ConfigError as exc:
            raise fail(str(exc), "trial_pruner") from None
        for section, values in (("flaml.tolerances", self.flaml.tolerances), ("flaml.targets", self.flaml.targets),
                                ("reference_point", self.reference_point)):
            for key in values:
                if key not in self.objectives:
                    raise fail(f"{key!r} is not a key here; allowed: {join(self.objectives)}.", f"{section}.{key}")
        self._warm_start = check_recipes(self.params.specs, self.fixed, self.warm_start)
        self._sampler, self._trial_pruner = sampler, config
        return self

    @property
    def resolved_sampler(self) -> str:
        return self._sampler

    @property
    def trial_pruner_config(self) -> TrialPrunerConfig:
        return self._trial_pruner

    @property
    def warm_start_recipes(self) -> tuple[Recipe, ...]:
        return self._warm_start


def _path(loc: Sequence[Any], extra: str) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    if extra:
        path += extra if extra.startswith("[") or not path else f".{extra}"
    return path


def validate_space(data: Any, source: str) -> SpaceModel:
    """``data`` (the YAML layout) checked against the schema.

    Raises:
        ConfigError: the first problem, as ``source: key.path: what is allowed``.
    """
    try:
        return SpaceModel.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
    ctx = error.get("ctx") or {}
    if error["type"] == ERROR_TYPE:
        path, message = _path(error["loc"], ctx.get("path", "")), ctx["message"]
    elif error["type"] == "value_error":  # a ValueError (a ConfigError too) raised by a check
        path, message = _path(error["loc"], ""), str(ctx.get("error", error["msg"]))
    else:  # pydantic's own check: its words, then the value
        text = error["msg"]
        path, message = _path(error["loc"], ""), f"{text[:1].lower()}{text[1:]}, but got {error.get('input')!r}."
    raise ConfigError(f"{source}: {path}: {message}" if path else f"{source}: {message}")


def space_json_schema() -> dict[str, Any]:
    """The JSON Schema of a search space file, for editors (the names registered now).

    Example:
        >>> space_json_schema()["required"]
        ['objectives', 'params']
    """
    schema = SpaceModel.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
