"""Building blocks of the search space schema (:mod:`autoprune.search._schema`).

Each field type declares what the JSON Schema shows an editor (type, bounds, the names
a registry holds when the schema is written) and checks its value with a validator that
raises the one-line message a user reads: ``must be an integer >= 1, but got 0.``.
Those messages travel as :class:`pydantic_core.PydanticCustomError` of type
``autoprune``, whose ``path`` (relative to where the error is raised) completes the key
path; :func:`autoprune.search._schema.validate_space` turns the first one into a
:class:`~autoprune.errors.ConfigError`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Callable, Mapping, Optional, Sequence

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from autoprune.registry import Registry
from autoprune.search._params import FIELDS, NULLABLE, field_choices

__all__ = [
    "ERROR_TYPE",
    "fail",
    "join",
    "is_number",
    "is_int",
    "Section",
    "number",
    "named",
    "device_name",
    "amp_name",
    "json_schema",
    "recipe_field_schema",
    "recipe_fields_schema",
]

#: the pydantic error type of every message written here
ERROR_TYPE = "autoprune"


def fail(message: str, path: str = "") -> PydanticCustomError:
    """The error to raise in a validator: ``message`` at ``path`` below the current key
    (``"minutes"``, ``"[0].sparsity"``; empty: the current key itself)."""
    return PydanticCustomError(ERROR_TYPE, "{message}", {"message": message, "path": path})


def join(items: Sequence[Any]) -> str:
    return ", ".join(str(i) for i in items)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def json_schema(make: Callable[[], dict[str, Any]]) -> Any:
    """A ``Field`` whose JSON Schema is ``make()`` (keeping the generated default, title
    and description), computed when the schema is written, so registered names are
    current."""

    def extra(schema: dict[str, Any]) -> None:
        kept = {k: schema[k] for k in ("default", "title", "description") if k in schema}
        schema.clear()
        schema.update(kept)
        schema.update(make())

    return Field(json_schema_extra=extra)


class Section(BaseModel):
    """A mapping of known keys. ``null`` means every default; an unknown key is refused
    naming the keys allowed (``extra="forbid"`` is what the JSON Schema shows)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            raise fail(f"expected a mapping, but got {data!r}.")
        for key in data:
            if key not in cls.model_fields:
                raise fail(f"{key!r} is not a key here; allowed: {join(cls.model_fields)}.", str(key))
        return data


def number(*, low: float | None = None, strict: bool = False, integer: bool = False, optional: bool = False) -> Any:
    """A number field (``integer``: an int, never a bool); ``low`` is its minimum
    (exclusive when ``strict``); ``optional`` also takes null."""
    what = "an integer" if integer else "a number"
    if low is not None:
        what += f" {'>' if strict else '>='} {low:g}"
    what += " or null" if optional else ""

    def check(value: Any) -> Any:
        if value is None and optional:
            return None
        ok = is_int(value) if integer else is_number(value)
        if ok and low is not None:
            ok = value > low if strict else value >= low
        if not ok:
            raise fail(f"must be {what}, but got {value!r}.")
        return value if integer else float(value)

    kind: Any = int if integer else float
    bounds = {} if low is None else {"gt": low} if strict else {"ge": low}
    return Annotated[Optional[kind] if optional else kind, Field(**bounds), BeforeValidator(check)]


def named(registry: Registry[Any], what: str) -> Any:
    """A name registered in ``registry`` (``what``: "a backend", for the message)."""

    def check(value: Any) -> Any:
        if value not in registry:
            raise fail(f"{value!r} is not {what}; allowed: {join(registry.names())}.")
        return value

    return Annotated[str, json_schema(lambda: {"type": "string", "enum": list(registry.names())}),
                     BeforeValidator(check)]


def device_name() -> Any:
    """A device as :func:`autoprune.devices.check_device` spells it (``auto``, ``cpu``,
    ``cuda``, ``cuda:N``); whether this machine has it is checked before a search starts."""
    from autoprune.devices import DEVICE_CHOICES, check_device
    from autoprune.errors import ConfigError

    def check(value: Any) -> Any:
        try:
            return check_device(value)
        except ConfigError:
            raise fail(f"{value!r} is not a device; allowed: {join(DEVICE_CHOICES)}.") from None

    return Annotated[str, json_schema(lambda: {"type": "string", "pattern": r"^(auto|cpu|cuda(:\d+)?)$"}),
                     BeforeValidator(check)]


def amp_name() -> Any:
    """Mixed precision: null (float32; also ``none``), ``bf16`` or ``fp16``."""

    def check(value: Any) -> Any:
        if value is None or value == "none":
            return None
        if value not in ("bf16", "fp16"):
            raise fail(f"{value!r} is not a mixed precision; allowed: null, bf16, fp16.")
        return value

    return Annotated[Optional[str], json_schema(lambda: {"enum": [None, "bf16", "fp16"]}), BeforeValidator(check)]


def recipe_field_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one value of recipe field ``name``."""
    choices = field_choices(name)
    if choices is not None:
        return {"enum": list(choices)}
    kind = FIELDS[name]
    if kind.startswith("tuple"):
        return {"type": "array", "items": {"type": "string"}}
    json_type = {"bool": "boolean", "int": "integer", "float": "number"}.get(kind, "string")
    return {"type": [json_type, "null"] if name in NULLABLE else json_type}


def recipe_fields_schema() -> dict[str, Any]:
    """A mapping of recipe fields to values (``fixed``, an item of ``warm_start``)."""
    return {
        "type": "object",
        "properties": {name: recipe_field_schema(name) for name in FIELDS},
        "additionalProperties": False,
    }
