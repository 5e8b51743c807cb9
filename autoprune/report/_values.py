"""Reading measures off trial records and formatting them for the report.

Records come from storage and may hold anything a trial managed to write: ``None``,
NaN, a string. Everything here turns such values into NaN instead of raising, so one
bad trial never costs the whole report.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

from autoprune.errors import ConfigError
from autoprune.measures import MEASURES, Measure, number
from autoprune.recipe import Recipe

if TYPE_CHECKING:
    from autoprune.search._records import TrialRecord


def _measure(name: str) -> Measure | None:
    """The table's entry for ``name``; None for names a record may hold but the table does
    not declare (a report still shows them)."""
    return MEASURES.get(name)


def check_objectives(objectives: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Validate ``(name, direction)`` pairs; directions are ``min`` or ``max``."""
    out = [tuple(o) for o in objectives]
    if not out:
        raise ConfigError("objectives must name at least one measure, but got objectives=[].")
    for pair in out:
        if len(pair) != 2 or pair[1] not in ("min", "max"):
            raise ConfigError(
                f"each objective must be (name, 'min' | 'max'), but got objective={pair!r}."
            )
    return out  # type: ignore[return-value]


def finite(value: float) -> bool:
    return math.isfinite(value)


def objective_value(record: TrialRecord, name: str) -> float:
    return number((record.measures or {}).get(name))


def fmt(name: str, value: Any) -> str:
    """One cell of a table: ``n/a`` for missing, percent for fractions, commas for counts."""
    v = number(value)
    if not finite(v):
        return "n/a"
    m = _measure(name)
    if m is not None and m.kind in ("points", "bytes"):
        return m.format(v)
    if (m is not None and m.kind == "count" and m.objective) or (v.is_integer() and abs(v) >= 1000):
        return f"{v:,.0f}"
    return f"{v:.4g}"


def recipe_summary(recipe: Mapping[str, Any]) -> str:
    """``Recipe.summary()``; a stored recipe that no longer validates is shown as it is."""
    try:
        return Recipe.from_dict(recipe).summary()
    except (ConfigError, TypeError) as exc:
        return f"{dict(recipe)!r} (not a valid recipe: {exc})"
