"""Reading measures off trial records and formatting them for the report.

Records come from storage and may hold anything a trial managed to write: ``None``,
NaN, a string. Everything here turns such values into NaN instead of raising, so one
bad trial never costs the whole report.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

from autoprune.errors import ConfigError
from autoprune.recipe import Recipe

if TYPE_CHECKING:
    from autoprune.search._records import TrialRecord

# Measures that are fractions and read better as percent (accuracy_drop 0.01 is one point).
PERCENT = frozenset({"accuracy", "accuracy_drop", "sparsity_achieved"})

# objective measure -> baseline key it is compared with (the ratio column of the front table)
_BASELINE_KEY = {
    "accuracy": "accuracy",
    "params_total": "params_total",
    "params_nonzero": "params_total",  # the dense baseline has every parameter non-zero
    "size_bytes": "size_bytes",
    "flops": "flops",
    "latency_ms": "latency_ms",
}


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


def number(value: Any) -> float:
    """``value`` as a float; NaN for anything missing or not a number."""
    if isinstance(value, bool) or value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def finite(value: float) -> bool:
    return math.isfinite(value)


def objective_value(record: TrialRecord, name: str) -> float:
    return number((record.measures or {}).get(name))


def baseline_value(baseline: Mapping[str, Any], name: str) -> float:
    """Where the dense model sits on objective ``name`` (ratios are 1, drops and sparsity 0)."""
    if name.endswith("_ratio"):
        return 1.0
    if name in ("accuracy_drop", "sparsity_achieved"):
        return 0.0
    key = _BASELINE_KEY.get(name)
    return number(baseline.get(key)) if key else math.nan


def ratio_to_baseline(record: TrialRecord, name: str, baseline: Mapping[str, Any]) -> float:
    """The objective over the baseline's; NaN where no ratio makes sense (drops, sparsity)."""
    value = objective_value(record, name)
    if name.endswith("_ratio"):
        return value
    key = _BASELINE_KEY.get(name)
    if key is None:
        return math.nan
    base = number(baseline.get(key))
    if key == "latency_ms":
        # latency is compared with the dense model timed in the trial's own process
        own = number((record.measures or {}).get("baseline_latency_ms"))
        if finite(own) and own > 0:
            base = own
    if not (finite(base) and base != 0):
        return math.nan
    return value / base


def scale(name: str, value: float) -> float:
    """Value as plotted and tabulated (fractions in percent)."""
    return value * 100.0 if name in PERCENT else value


def axis_label(name: str, direction: str | None = None) -> str:
    unit = " (%)" if name in PERCENT else ""
    arrow = {"min": " \u2193 lower is better", "max": " \u2191 higher is better"}.get(direction or "", "")
    return f"{name}{unit}{arrow}"


def fmt(name: str, value: Any) -> str:
    """One cell of a table: ``n/a`` for missing, percent for fractions, commas for counts."""
    v = number(value)
    if not finite(v):
        return "n/a"
    if name in PERCENT:
        return f"{v * 100:.2f} %"
    if name == "size_bytes":
        return f"{v:,.0f} B ({_human_bytes(v)})"
    if name in ("params_total", "params_nonzero", "flops") or (v.is_integer() and abs(v) >= 1000):
        return f"{v:,.0f}"
    return f"{v:.4g}"


def fmt_ratio(value: float) -> str:
    return f"{value:.3g}\u00d7" if finite(value) else "n/a"


def _human_bytes(v: float) -> str:
    units = ("B", "KiB", "MiB", "GiB")
    i = 0
    while abs(v) >= 1024 and i < len(units) - 1:
        v /= 1024
        i += 1
    return f"{v:.0f} B" if i == 0 else f"{v:.1f} {units[i]}"


def recipe_summary(recipe: Mapping[str, Any]) -> str:
    """``Recipe.summary()``; a stored recipe that no longer validates is shown as it is."""
    try:
        return Recipe.from_dict(recipe).summary()
    except (ConfigError, TypeError) as exc:
        return f"{dict(recipe)!r} (not a valid recipe: {exc})"
