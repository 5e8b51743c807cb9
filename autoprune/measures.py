"""Every measure a trial reports, declared once.

A measure's kind says how it compares with the dense model and how it prints; results,
study records, the Pareto math, the CLI table, the report and the trackers all read this
table instead of keeping their own lists.

Kinds:

- ``points``: a fraction (``accuracy``, ``accuracy_drop``, ``sparsity_achieved``) compared
  with the dense model in points (x100) and shown in percent;
- ``ratio``: a pruned value over the dense one (``latency_ratio``); the dense model is 1;
- ``count``, ``bytes``, ``ms``, ``seconds``: absolute values, compared with the dense model as
  ratios.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from autoprune.errors import ConfigError

__all__ = [
    "Measure",
    "MEASURES",
    "OBJECTIVE_MEASURES",
    "get_measure",
    "number",
    "human_bytes",
]

KINDS = ("points", "ratio", "count", "bytes", "ms", "seconds")


@dataclass(frozen=True)
class Measure:
    """One measure of a trial.

    Args:
        name: the key in a trial's measures.
        kind: one of ``points``, ``ratio``, ``count``, ``bytes``, ``ms``, ``seconds``.
        better: ``max`` or ``min``: the direction that is better (the default direction
            of an objective on it); None for bookkeeping values.
        description: one line for help texts and reports.
        baseline: the key of the dense model's value in a baseline's measures, or None
            when the dense value holds by definition (``dense``).
        dense: the dense model's value by definition (``accuracy_drop`` 0, ratios 1).
        ratio_of: for ``ratio`` measures, the measure divided by its baseline value.
        objective: whether a search may use it as an objective or in a constraint.
    """

    name: str
    kind: str
    better: str | None
    description: str
    baseline: str | None = None
    dense: float | None = None
    ratio_of: str | None = None
    objective: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"kind must be one of {', '.join(KINDS)}, but got kind={self.kind!r}.")

    @property
    def in_points(self) -> bool:
        """Compared with the dense model in points, not as a ratio."""
        return self.kind == "points"

    @property
    def unit(self) -> str:
        return {"points": "%", "ratio": "x", "bytes": "B", "ms": "ms", "seconds": "s"}.get(self.kind, "")

    def baseline_value(self, baseline: Mapping[str, Any]) -> float:
        """Where the dense model sits on this measure.

        ``baseline`` is a baseline's measures (``accuracy``, ``size_bytes``, ...) or a trial's
        own measures: its ``baseline_<key>`` entries are preferred, so a trial that timed
        the dense model in its own process is compared with that reading.

        Raises:
            ValueError: the baseline holds no value for this measure.
        """
        if self.dense is not None:
            return self.dense
        for key in ("baseline_" + (self.baseline or ""), self.baseline):
            if key and key in baseline and baseline[key] is not None:
                return float(baseline[key])
        raise ValueError(f"the baseline has no value for {self.name!r} (nor 'baseline_{self.baseline}').")

    def scale(self, value: float) -> float:
        """The value as plotted and tabulated: fractions in percent."""
        return value * 100.0 if self.in_points else value

    def format(self, value: Any) -> str:
        """One table cell: ``n/a`` for missing, percent, thousands separators, KiB / MiB."""
        v = number(value)
        if not math.isfinite(v):
            return "n/a"
        if self.kind == "points":
            return f"{v * 100:.2f} %"
        if self.kind == "ratio":
            return f"{v:.3g}\u00d7"
        if self.kind == "bytes":
            return f"{v:,.0f} B ({human_bytes(v)})"
        if self.kind == "count":
            return f"{v:,.0f}"
        return f"{v:.4g}"

    def label(self, direction: str | None = None) -> str:
        """An axis label: name, unit and which way is better."""
        unit = " (%)" if self.in_points else ""
        arrow = {"min": " \u2193 lower is better", "max": " \u2191 higher is better"}.get(direction or "", "")
        return f"{self.name}{unit}{arrow}"


def _m(*args: Any, **kwargs: Any) -> Measure:
    return Measure(*args, **kwargs)


_TABLE = (
    _m("accuracy", "points", "max", "the task's metric on the validation data", baseline="accuracy"),
    _m("accuracy_drop", "points", "min", "dense accuracy minus accuracy (0.01 is one point)", dense=0.0),
    _m("params_total", "count", "min", "parameters of the pruned model", baseline="params_total"),
    _m("params_nonzero", "count", "min", "parameters that are not zero", baseline="params_total"),
    _m("size_bytes", "bytes", "min", "serialized size in the deployable form", baseline="size_bytes"),
    _m("flops", "count", "min", "multiply-accumulates of one example", baseline="flops"),
    _m("latency_ms", "ms", "min", "median latency of one benchmark batch", baseline="latency_ms"),
    _m("sparsity_achieved", "points", "max", "fraction of prunable weights removed", dense=0.0),
    _m("params_ratio", "ratio", "min", "params_total over the dense model's", dense=1.0, ratio_of="params_total"),
    _m("size_ratio", "ratio", "min", "size_bytes over the dense model's", dense=1.0, ratio_of="size_bytes"),
    _m("flops_ratio", "ratio", "min", "flops over the dense model's", dense=1.0, ratio_of="flops"),
    _m("latency_ratio", "ratio", "min", "latency_ms over the dense model's", dense=1.0, ratio_of="latency_ms"),
    _m("finetune_epochs_run", "count", None, "fine-tune epochs actually run", objective=False),
    _m("seconds", "seconds", None, "wall time of the trial", objective=False),
)

#: every measure by name
MEASURES: dict[str, Measure] = {m.name: m for m in _TABLE}
#: the names a search may use as objectives or in constraints
OBJECTIVE_MEASURES: tuple[str, ...] = tuple(m.name for m in _TABLE if m.objective)


def get_measure(name: str) -> Measure:
    """The measure called ``name``.

    Raises:
        ConfigError: unknown name; the message lists the measures.
    """
    try:
        return MEASURES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"measure must be one of {', '.join(MEASURES)}, but got measure={name!r}.") from None


def number(value: Any) -> float:
    """``value`` as a float; NaN for anything missing or not a number (stored records may
    hold ``None``, NaN or a string: one bad trial must never cost a whole table)."""
    if isinstance(value, bool) or value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def human_bytes(v: float) -> str:
    """``1536`` -> ``1.5 KiB``."""
    units = ("B", "KiB", "MiB", "GiB")
    i = 0
    while abs(v) >= 1024 and i < len(units) - 1:
        v /= 1024
        i += 1
    return f"{v:.0f} B" if i == 0 else f"{v:.1f} {units[i]}"
