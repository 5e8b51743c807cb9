"""Searched recipe fields: :class:`ParamSpec`, and recipes to and from param values.

Pure data and arithmetic on :class:`~autoprune.recipe.Recipe` fields; each backend turns
params into its own sampling calls (:mod:`autoprune.search.backends`).

Which values a text field takes comes from the registries of :mod:`autoprune.registry`
(criterion, granularity, allocation, schedule, timing): a name registered by a plug-in
is a valid choice as soon as it is registered.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from autoprune.errors import ConfigError
from autoprune.recipe import DEFAULT_FINETUNE_EPOCHS, LR_SCHEDULES, Recipe
from autoprune.registry import ALLOCATIONS, CRITERIA, GRANULARITIES, LAYER_CRITERIA, SCHEDULES, TIMINGS, Registry

__all__ = [
    "FIELDS",
    "NULLABLE",
    "DEFAULTS",
    "ParamSpec",
    "smallest_step_budget",
    "field_choices",
    "check_field_value",
    "describe",
    "recipe_of",
    "param_values",
    "extreme_recipes",
]

#: recipe field -> its type as written in recipe.py ("int", "float", "str", "bool", "tuple[str, ...]"),
#: without "| None"
FIELDS: dict[str, str] = {f.name: str(f.type).removesuffix(" | None") for f in dataclasses.fields(Recipe)}
#: the fields that also take None (null in YAML): a default derived when the trial runs
NULLABLE: frozenset[str] = frozenset(f.name for f in dataclasses.fields(Recipe) if str(f.type).endswith(" | None"))


def _default(f: dataclasses.Field) -> Any:
    value = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
    return list(value) if isinstance(value, tuple) else value  # as Recipe.to_dict() writes it


#: recipe field -> its default, as ``Recipe().to_dict()`` has it (read without building a Recipe)
DEFAULTS: dict[str, Any] = {f.name: _default(f) for f in dataclasses.fields(Recipe)}
DEFAULTS["finetune_epochs"] = DEFAULT_FINETUNE_EPOCHS  # None stands for it without finetune_steps

_NAMED: dict[str, Registry[Any] | tuple[str, ...]] = {
    "criterion": CRITERIA,
    "granularity": GRANULARITIES,
    "allocation": ALLOCATIONS,
    "schedule": SCHEDULES,
    "timing": TIMINGS,
    "finetune_schedule": LR_SCHEDULES,  # no extension point: a fixed list in recipe.py
    "layer_criterion": LAYER_CRITERIA,
}


def field_choices(name: str) -> tuple[Any, ...] | None:
    """The values text field ``name`` takes (registered names), or None for other fields."""
    named = _NAMED.get(name)
    if named is None:
        return None
    return named.names() if isinstance(named, Registry) else tuple(named)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_field_value(name: str, value: Any) -> Any:
    """One value of recipe field ``name``, checked on its own and normalised
    (floats as float, lists of names as tuples).

    Raises:
        ValueError: the value does not fit the field; the message says what does.
    """
    kind = FIELDS[name]
    choices = field_choices(name)
    if value is None and name in NULLABLE:
        return None
    if choices is not None:
        if value not in choices:
            raise ValueError(f"{value!r} is not a {name}; allowed: {', '.join(map(str, choices))}.")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} takes true or false, but got {value!r}.")
        return value
    if kind.startswith("tuple"):
        if not (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)):
            raise ValueError(f"{name} takes a list of module names, but got {value!r}.")
        return tuple(value)
    if kind == "int" and not _is_int(value):
        raise ValueError(f"{name} takes an integer, but got {value!r}.")
    if kind == "float" and not _is_number(value):
        raise ValueError(f"{name} takes a number, but got {value!r}.")
    value = float(value) if kind == "float" else value
    # the recipe's own check, with a partner that keeps nm_n < nm_m out of the way
    partner = {"nm_n": {"nm_m": value + 1}, "nm_m": {"nm_n": 1}, "report_every": {"finetune_steps": 1}}.get(name, {})
    try:
        Recipe(**{name: value, **partner})
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return value


@dataclass(frozen=True)
class ParamSpec:
    """One searched recipe field.

    ``kind`` is ``choice`` (``choices``), ``int`` or ``float`` (``low``..``high``
    inclusive, ``log``, ``step``). ``when`` holds ``(param, allowed values)`` pairs.
    """

    name: str
    kind: str
    choices: tuple[Any, ...] = ()
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def active(self, values: Mapping[str, Any]) -> bool:
        """Whether this param is sampled, given the values sampled before it."""
        return all(name in values and values[name] in allowed for name, allowed in self.when)

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.choices
        return isinstance(value, (int, float)) and self.low <= value <= self.high

    def bounds(self) -> tuple[Any, Any]:
        """The smallest and largest value the param can take."""
        if self.kind == "choice":
            return min(self.choices), max(self.choices)
        return self.low, self.high

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "choice":
            out: dict[str, Any] = {"choices": list(self.choices)}
        else:
            out = {"low": self.low, "high": self.high, "type": self.kind}
            if self.log:
                out["log"] = True
            if self.step is not None:
                out["step"] = self.step
        if self.when:
            out["when"] = {name: list(allowed) for name, allowed in self.when}
        return out


def describe(p: ParamSpec) -> str:
    """``choices a, b`` or ``float range [low, high]``."""
    if p.kind == "choice":
        return f"choices {', '.join(map(str, p.choices))}"
    return f"{p.kind} range [{p.low}, {p.high}]"


def _allocations(granularity: str) -> tuple[str, ...] | None:
    return GRANULARITIES.get(granularity).allocations


def recipe_of(fixed: Mapping[str, Any], values: Mapping[str, Any]) -> Recipe:
    """The recipe of sampled ``values`` on top of ``fixed``.

    A granularity that supports only some allocations (N:M fixes every layer's amount)
    takes the first of them when the sampled allocation is not one: that allocation
    would have no effect, and the recipe would be invalid.
    """
    merged = {**fixed, **values}
    allowed = _allocations(merged.get("granularity", DEFAULTS["granularity"]))
    if allowed is not None and merged.get("allocation", DEFAULTS["allocation"]) not in allowed:
        merged["allocation"] = allowed[0]
    return Recipe(**merged)


def _stands_for(candidate: Any, allowed: Sequence[str] | None, allocation: str) -> bool:
    """Whether allocation ``candidate`` becomes ``allocation`` in :func:`recipe_of`."""
    if candidate == allocation:
        return True
    return allowed is not None and candidate not in allowed and allowed[0] == allocation


def param_values(params: Sequence[ParamSpec], fixed: Mapping[str, Any], recipe: Recipe) -> dict[str, Any]:
    """The values of the active params that produce ``recipe`` (``recipe_of(fixed,
    param_values(...)) == recipe``): a warm start or a re-run as a point of the space.

    Raises:
        ConfigError: the recipe differs from the space on a field that is not searched,
            or a searched value is outside its param.
    """
    values = recipe.to_dict()
    searched = {p.name for p in params}
    allowed = _allocations(recipe.granularity)
    for name, value in values.items():
        if name in searched:
            continue
        expected = fixed.get(name, DEFAULTS[name])
        if name == "finetune_epochs" and fixed.get(name) is None:  # unset: derived from the budget's unit
            expected = 0 if recipe.finetune_steps is not None else DEFAULT_FINETUNE_EPOCHS
        if name == "allocation" and _stands_for(expected, allowed, value):
            continue
        if (list(expected) if isinstance(expected, tuple) else expected) != value:
            where = "fixes" if name in fixed else "does not search (default)"
            raise ConfigError(f"recipe has {name}={value!r} but the space {where} {name}={expected!r}.")
    out: dict[str, Any] = {}
    for p in params:
        if not p.active(out):
            continue
        value = values[p.name]
        if p.name == "allocation" and value not in p.choices:
            # any choice the granularity turns into this allocation stands for it
            value = next((c for c in p.choices if _stands_for(c, allowed, value)), value)
        if not p.contains(value):
            raise ConfigError(f"recipe has {p.name}={value!r}, outside params.{p.name} ({describe(p)}).")
        out[p.name] = value
    return out


def smallest_step_budget(params: Sequence[ParamSpec]) -> dict[str, int]:
    """``{"finetune_steps": its lowest value}`` when every recipe searches it, else ``{}``:
    what a fixed ``report_every`` (which needs a step budget) is checked beside."""
    steps = next((p for p in params if p.name == "finetune_steps" and not p.when), None)
    return {} if steps is None else {"finetune_steps": steps.bounds()[0]}


def extreme_recipes(params: Sequence[ParamSpec], fixed: Mapping[str, Any]) -> list[Recipe]:
    """One recipe per granularity the space can produce, every searched fraction at its
    largest: what a granularity checks against the model before the first trial
    (:meth:`~autoprune.pruning.Granularity.check_model`, e.g. that some layer stays)."""
    by_name = {p.name: p for p in params}
    granularity = by_name.get("granularity")
    names = granularity.choices if granularity is not None else (fixed.get("granularity", DEFAULTS["granularity"]),)
    largest = {p.name: p.bounds()[1] for p in params if p.name.endswith("sparsity") and p.kind != "choice"}
    largest.update({p.name: max(p.choices) for p in params if p.name.endswith("sparsity") and p.kind == "choice"})
    largest.update(smallest_step_budget(params))
    return [recipe_of(fixed, {**largest, "granularity": name}) for name in names]
