"""The recipe sections of the search space schema: ``params``, ``fixed``, ``warm_start``.

What a param may hold depends on the recipe field it searches (an integer range for
``steps``, registered names for ``granularity``), so the per-field checks run once the
field is known, in :class:`Params`; ``when`` conditions and their order need every param.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Mapping

from pydantic import ConfigDict, PrivateAttr, RootModel, model_validator

from autoprune.errors import ConfigError
from autoprune.recipe import Recipe
from autoprune.search._params import (
    DEFAULTS,
    FIELDS,
    ParamSpec,
    check_field_value,
    field_choices,
    param_values,
    recipe_of,
    smallest_step_budget,
)
from autoprune.search._schema_fields import Section, fail, is_int, is_number, join, json_schema

__all__ = ["ParamModel", "Params", "check_fixed", "check_warm_start", "check_recipes"]

_SEARCHABLE = [name for name, kind in FIELDS.items() if not kind.startswith("tuple")]


def _any(schema: dict[str, Any]) -> Any:
    """A value checked by the recipe field it belongs to; ``schema`` is for editors."""
    return Annotated[Any, json_schema(lambda: schema)]


class ParamModel(Section):
    """One searched recipe field: ``choices``, or a range ``low``..``high`` (inclusive)
    with ``type``, ``log`` and ``step``; ``when`` samples it only when other params took
    some values (``{param: [values]}``)."""

    choices: _any({"type": "array", "minItems": 1}) = None
    low: _any({"type": "number"}) = None
    high: _any({"type": "number"}) = None
    type: _any({"enum": ["int", "float"]}) = None
    log: _any({"type": "boolean", "default": False}) = False
    step: _any({"type": "number", "exclusiveMinimum": 0}) = None
    when: _any({"type": "object", "additionalProperties": {"type": "array", "minItems": 1}, "minProperties": 1}) = None

    @model_validator(mode="after")
    def _choices_alone(self) -> ParamModel:
        if "choices" in self.model_fields_set:
            extra = sorted(self.model_fields_set - {"choices", "when"})
            if extra:
                raise fail("not allowed beside choices; use either choices or low/high.", extra[0])
        if not isinstance(self.log, bool):
            raise fail(f"must be true or false, but got {self.log!r}.", "log")
        return self


def _spec(name: str, m: ParamModel) -> ParamSpec:
    """The param ``name`` as the recipe field it searches allows."""
    kind = FIELDS[name]
    if "choices" in m.model_fields_set:
        if not isinstance(m.choices, list) or not m.choices:
            raise fail(f"expected a non-empty list, but got {m.choices!r}.", f"{name}.choices")
        try:
            values = tuple(check_field_value(name, c) for c in m.choices)
        except ValueError as exc:
            raise fail(str(exc), f"{name}.choices") from None
        if len(set(values)) != len(values):
            raise fail(f"has duplicates: {m.choices!r}.", f"{name}.choices")
        return ParamSpec(name, "choice", choices=values)
    if kind not in ("int", "float"):
        allowed = field_choices(name) or (True, False)
        raise fail(f"{name} needs choices (a list from {join(allowed)}), not a range.", name)
    range_kind = m.type if "type" in m.model_fields_set else kind
    if range_kind != kind:
        raise fail(f"{range_kind!r} does not fit recipe field {name} ({kind}); allowed: {kind}.", f"{name}.type")
    for key in ("low", "high"):
        if key not in m.model_fields_set:
            raise fail(f"a range needs low and high (or give choices); {key} is missing.", name)
    bounds = []
    for key in ("low", "high"):
        try:
            bounds.append(check_field_value(name, getattr(m, key)))
        except ValueError as exc:
            raise fail(str(exc), f"{name}.{key}") from None
    low, high = bounds
    if low >= high:
        raise fail(f"empty or inverted range: low={low!r} must be < high={high!r}.", name)
    if m.log and low <= 0:
        raise fail(f"a log range needs low > 0, but got low={low!r}.", f"{name}.low")
    step = m.step
    if step is not None:
        integer = kind == "int"
        if not ((is_int(step) if integer else is_number(step)) and step > 0):
            raise fail(f"must be {'an integer' if integer else 'a number'} > 0, but got {step!r}.", f"{name}.step")
        step = step if integer else float(step)
        if m.log:
            raise fail("cannot be combined with log: true.", f"{name}.step")
    return ParamSpec(name, kind, low=low, high=high, log=m.log, step=step)


def _when(name: str, when: Any, specs: Mapping[str, ParamSpec]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    path = f"{name}.when"
    if not isinstance(when, Mapping):
        raise fail(f"expected a mapping, but got {when!r}.", path)
    if not when:
        raise fail("empty; give {param: [values]}.", path)
    out = []
    for parent, allowed in when.items():
        parent_path = f"{path}.{parent}"
        if parent == name or parent not in specs:
            others = [n for n in specs if n != name and specs[n].kind == "choice"]
            raise fail(f"{parent!r} is not another param; allowed: {join(others) or 'none'}.", parent_path)
        if specs[parent].kind != "choice":
            raise fail(f"conditions need a param with choices, but {parent} is a range.", parent_path)
        allowed = allowed if isinstance(allowed, list) else [allowed]
        for v in allowed:
            if v not in specs[parent].choices:
                raise fail(f"{v!r} is not a choice of {parent}; allowed: {join(specs[parent].choices)}.", parent_path)
        out.append((parent, tuple(allowed)))
    return tuple(out)


def _ordered(specs: dict[str, ParamSpec]) -> tuple[ParamSpec, ...]:
    """Params in file order, each after the params its ``when`` reads."""
    done: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycle = " -> ".join(visiting[visiting.index(name):] + [name])
            raise fail(f"conditions form a cycle: {cycle}.", f"{name}.when")
        visiting.append(name)
        for parent, _ in specs[name].when:
            visit(parent)
        visiting.pop()
        done.append(name)

    for name in specs:
        visit(name)
    return tuple(specs[name] for name in done)


def _params_schema(schema: dict[str, Any]) -> None:
    schema.update(propertyNames={"enum": _SEARCHABLE}, minProperties=1)


class Params(RootModel[dict[str, ParamModel]]):
    """The searched recipe fields; :attr:`specs` holds them resolved and ordered."""

    model_config = ConfigDict(json_schema_extra=_params_schema)
    _specs: tuple[ParamSpec, ...] = PrivateAttr(default=())

    @model_validator(mode="before")
    @classmethod
    def _fields(cls, data: Any) -> Any:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise fail(f"expected a mapping, but got {data!r}.")
        if not data:
            raise fail(f"nothing to search; give recipe fields: {join(FIELDS)}.")
        for name in data:
            if name not in FIELDS:
                raise fail(f"{name!r} is not a recipe field; allowed: {join(FIELDS)}.", str(name))
            if name not in _SEARCHABLE:
                raise fail(f"{name} cannot be searched; set it under fixed.", name)
        return data

    @model_validator(mode="after")
    def _resolve(self) -> Params:
        specs = {name: _spec(name, m) for name, m in self.root.items()}
        for name, m in self.root.items():
            if m.when is not None:
                specs[name] = dataclasses.replace(specs[name], when=_when(name, m.when, specs))
        self._specs = _ordered(specs)
        return self

    @property
    def specs(self) -> tuple[ParamSpec, ...]:
        return self._specs


def _recipe_values(item: Any, path: str) -> dict[str, Any]:
    """A mapping of recipe fields to values, each checked and normalised."""
    if not isinstance(item, Mapping):
        raise fail(f"expected a mapping, but got {item!r}.", path)
    out = {}
    for name, value in item.items():
        if name not in FIELDS:
            raise fail(f"{name!r} is not a key here; allowed: {join(FIELDS)}.", f"{path}.{name}".lstrip("."))
        try:
            out[name] = check_field_value(name, value)
        except ValueError as exc:
            raise fail(str(exc), f"{path}.{name}".lstrip(".")) from None
    return out


def check_fixed(value: Any) -> dict[str, Any]:
    """``fixed``: recipe fields held constant."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        unknown = [name for name in value if name not in FIELDS]
        if unknown:
            raise fail(f"{unknown[0]!r} is not a recipe field; allowed: {join(FIELDS)}.", str(unknown[0]))
    return _recipe_values(value, "")


def check_warm_start(value: Any) -> list[dict[str, Any]]:
    """``warm_start``: recipes tried first, each as its recipe fields."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(f"expected a list of recipes ({{field: value}}), but got {value!r}.")
    return [_recipe_values(item, f"[{i}]") for i, item in enumerate(value)]


def check_recipes(params: tuple[ParamSpec, ...], fixed: dict[str, Any],
                  warm_start: list[dict[str, Any]]) -> tuple[Recipe, ...]:
    """The checks between params, fixed and warm starts; the warm-start recipes.

    Raises:
        pydantic_core.PydanticCustomError: with the key path from the top of the file.
    """
    searched = {p.name for p in params}
    for name in fixed:
        if name in searched:
            raise fail(f"{name} is also under params; a field is either fixed or searched.", f"fixed.{name}")
    probe = {**smallest_step_budget(params), **fixed}  # a fixed report_every needs a step budget
    try:
        Recipe(**probe)
    except ConfigError as exc:
        raise fail(str(exc), "fixed") from None
    _check_nm(params, fixed)
    _check_alternatives(params, fixed)
    recipes = []
    for i, values in enumerate(warm_start):
        try:
            recipe = recipe_of(fixed, values)
            param_values(params, fixed, recipe)  # the space must be able to produce it
        except ConfigError as exc:
            raise fail(str(exc), f"warm_start[{i}]") from None
        recipes.append(recipe)
    return tuple(recipes)


def _check_nm(params: tuple[ParamSpec, ...], fixed: Mapping[str, Any]) -> None:
    """nm_n < nm_m for every value the space can produce."""
    by_name = {p.name: p for p in params}

    def bounds(name: str) -> tuple[Any, Any]:
        if name in by_name:
            return by_name[name].bounds()
        value = fixed.get(name, DEFAULTS[name])
        return value, value

    n_max, m_min = bounds("nm_n")[1], bounds("nm_m")[0]
    if n_max >= m_min:
        where = "params.nm_n" if "nm_n" in by_name else "params.nm_m"
        raise fail(f"nm_n can be {n_max} and nm_m {m_min}, but nm_n must stay below nm_m.", where)



# pairs of recipe fields that say one thing two ways: (field, value that sets nothing)
_ALTERNATIVES = ((("finetune_steps", None), ("finetune_epochs", 0)), (("finetune_lr", None), ("finetune_lr_scale", 1.0)))


def _check_alternatives(params: tuple[ParamSpec, ...], fixed: Mapping[str, Any]) -> None:
    """A step budget and an epoch budget (an explicit learning rate and a relative one)
    are never both searched or fixed: every recipe of the space would be refused."""
    searched = {p.name for p in params}
    for pair in _ALTERNATIVES:
        where = [f"params.{name}" if name in searched else f"fixed.{name}"
                 for name, unset in pair if name in searched or fixed.get(name, unset) != unset]
        if len(where) == 2:
            raise fail(f"{pair[0][0]} and {pair[1][0]} cannot both be set (also {where[0]}); allowed: one of them.",
                       where[1])
