"""How each objective is shown on a plot axis, and which part of the axis to show.

A user picking a model reads every axis the same way: lower is better, the dense model
sits at a round number. Accuracy (or ``accuracy_drop``) is shown as points of drop from
the dense model (0 is dense, 1 is one point lost); latency as a ratio to the dense model
timed in the same process (what the front compares); sizes in KiB or MiB. Constraints are
converted into the same units so they can be drawn as lines.

The axis range is taken from the feasible region (feasible complete trials, the dense
model, constraint bounds near them): an infeasible or stopped trial far away is drawn at
the edge instead of rescaling the axis for everyone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from autoprune.measures import MEASURES, number

if TYPE_CHECKING:
    from autoprune.search._constraints import Constraint
    from autoprune.search._records import TrialRecord

__all__ = ["Axis", "Bound", "axis_for", "accuracy_drop_points", "latency_ratio", "focus_range", "clamp"]

# byte units by power of 1024
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB")
# a constraint bound further than this many spans of the focused values from them is not
# worth squashing the plot for; it is listed in the caption instead
_BOUND_REACH = 1.0


@dataclass(frozen=True)
class Bound:
    """A constraint in axis units: ``value``, the constraint's text, and the side of the
    line where trials are infeasible (``above`` or ``below``)."""

    value: float
    text: str
    infeasible: str


def _baseline_of(record: TrialRecord, baseline: Mapping[str, Any], key: str) -> float:
    """The dense value a trial is compared with: its own ``baseline_<key>`` when recorded."""
    own = number((record.measures or {}).get(f"baseline_{key}"))
    return own if math.isfinite(own) and own != 0 else number(baseline.get(key))


def accuracy_drop_points(record: TrialRecord, baseline: Mapping[str, Any]) -> float:
    """Points of accuracy lost against the dense model (negative: better than dense)."""
    m = record.measures or {}
    drop = number(m.get("accuracy_drop"))
    if not math.isfinite(drop):
        drop = _baseline_of(record, baseline, "accuracy") - number(m.get("accuracy"))
    return drop * 100.0


def latency_ratio(record: TrialRecord, baseline: Mapping[str, Any]) -> float:
    """Latency over the dense model's, timed beside it in the trial's process when it was."""
    m = record.measures or {}
    ratio = number(m.get("latency_ratio"))
    if math.isfinite(ratio):
        return ratio
    base = _baseline_of(record, baseline, "latency_ms")
    return number(m.get("latency_ms")) / base if math.isfinite(base) and base > 0 else math.nan


@dataclass(frozen=True)
class Axis:
    """One objective as an axis.

    Attributes:
        objective: the objective's measure name.
        title: what the axis shows, in words.
        unit: the unit after the number (``pts``, ``x``, ``KiB``, ...).
        better: ``min`` or ``max`` in shown units.
        kind: ``drop`` (points of accuracy lost), ``ratio`` (over the dense model),
            ``bytes`` (divided by ``divisor``), ``percent`` or ``plain``.
        divisor: raw value / divisor = shown value (bytes only).
        absolute: for a ``ratio`` axis, the absolute measure its constraints may name.
    """

    objective: str
    title: str
    unit: str
    better: str
    kind: str
    divisor: float = 1.0
    absolute: str | None = None

    @property
    def min_span(self) -> float | None:
        """The least stretch of axis worth showing: one point of drop, 0.1x of a ratio."""
        return {"drop": 1.0, "ratio": 0.1, "percent": 1.0}.get(self.kind)

    @property
    def label(self) -> str:
        arrow = "\u2193 lower is better" if self.better == "min" else "\u2191 higher is better"
        return f"{self.title} ({self.unit})  {arrow}" if self.unit else f"{self.title}  {arrow}"

    def value(self, record: TrialRecord, baseline: Mapping[str, Any]) -> float:
        """The record's value in shown units; NaN when it has none."""
        if self.kind == "drop":
            return accuracy_drop_points(record, baseline)
        if self.kind == "ratio" and self.absolute == "latency_ms":
            return latency_ratio(record, baseline)
        raw = number((record.measures or {}).get(self.objective))
        if self.kind == "ratio" and not math.isfinite(raw) and self.absolute:
            base = _baseline_of(record, baseline, self.absolute)
            absolute = number((record.measures or {}).get(self.absolute))
            raw = absolute / base if math.isfinite(base) and base > 0 else math.nan
        return self.show(raw)

    def show(self, raw: float) -> float:
        """A raw value of the objective's own measure in shown units."""
        if self.kind == "percent":
            return raw * 100.0
        return raw / self.divisor

    def dense(self, baseline: Mapping[str, Any]) -> float:
        """Where the dense model sits."""
        if self.kind == "drop":
            return 0.0
        if self.kind == "ratio":
            return 1.0
        m = MEASURES.get(self.objective)
        if m is not None and m.dense is not None:
            return self.show(m.dense)
        return self.show(number(baseline.get(m.baseline))) if m is not None and m.baseline else math.nan

    def bounds(self, constraints: Iterable[Constraint], baseline: Mapping[str, Any]) -> list[Bound]:
        """The constraints that bound this axis, converted into its units."""
        out = []
        for c in constraints:
            value, flips = self._convert(c.measure, c.bound, baseline)
            if not math.isfinite(value):
                continue
            above = c.op in ("<=", "<")
            out.append(Bound(value, _constraint_text(c), "above" if above != flips else "below"))
        return out

    def _convert(self, measure: str, bound: float, baseline: Mapping[str, Any]) -> tuple[float, bool]:
        """``bound`` of ``measure`` in this axis's units, and whether the conversion reverses
        the order (accuracy -> drop does); NaN when the measure is not this axis's."""
        if self.kind == "drop":
            if measure == "accuracy_drop":
                return bound * 100.0, False
            if measure == "accuracy":
                return (number(baseline.get("accuracy")) - bound) * 100.0, True
            return math.nan, False
        if self.kind == "ratio":
            # the absolute measure first: a latency_ms objective is drawn as a ratio
            if self.absolute and measure == self.absolute:
                base = number(baseline.get(self.absolute))
                return (bound / base if base > 0 else math.nan), False
            ratio = next((r.name for r in MEASURES.values() if r.ratio_of == self.absolute), None)
            if measure in (self.objective, ratio):
                return bound, False
            return math.nan, False
        if measure == self.objective:
            return self.show(bound), False
        ratio = next((r for r in MEASURES.values() if r.ratio_of == self.objective), None)
        if ratio is not None and measure == ratio.name:
            return self.show(bound * number(baseline.get(self.objective))), False
        return math.nan, False


def _constraint_text(c: Constraint) -> str:
    op = {"<=": "\u2264", ">=": "\u2265"}.get(c.op, c.op)
    return f"{c.measure} {op} {c.bound:g}"


def _byte_divisor(values: Sequence[float]) -> tuple[float, str]:
    """KiB or MiB (or GiB), whichever keeps the typical value between 1 and 1024."""
    vals = sorted(v for v in values if math.isfinite(v) and v > 0)
    if not vals:
        return 1024.0, "KiB"
    typical = vals[len(vals) // 2]
    power = 1
    while typical >= 1024 ** (power + 1) and power < len(_BYTE_UNITS) - 1:
        power += 1
    return float(1024 ** power), _BYTE_UNITS[power]


def axis_for(name: str, direction: str, raw_values: Sequence[float] = ()) -> Axis:
    """The axis of objective ``name``; ``raw_values`` (the measure over the trials that
    will be shown) pick the byte unit."""
    m = MEASURES.get(name)
    if name in ("accuracy", "accuracy_drop"):
        return Axis(name, "accuracy drop from dense", "points", "min", "drop")
    if name == "latency_ms":
        return Axis(name, "latency / dense, timed side by side", "\u00d7", "min", "ratio", absolute="latency_ms")
    if m is not None and m.kind == "ratio":
        return Axis(name, f"{m.ratio_of.split('_')[0]} / dense", "\u00d7", "min", "ratio", absolute=m.ratio_of)
    if m is not None and m.kind == "bytes":
        divisor, unit = _byte_divisor(raw_values)
        return Axis(name, "size of the state_dict file", unit, direction, "bytes", divisor=divisor)
    if m is not None and m.kind == "points":
        return Axis(name, name.replace("_", " "), "%", direction, "percent")
    return Axis(name, name.replace("_", " "), m.unit if m is not None else "", direction, "plain")


def focus_range(values: Iterable[float], include: Iterable[float] = (), *, pad: float = 0.08,
                log: bool = False, min_span: float | None = None) -> tuple[float, float] | None:
    """The axis range that shows ``values`` with a margin, widened to the ``include``
    values (constraint bounds) that lie within one span of them; None without values.
    ``min_span`` keeps values a hair apart readable (default: only a single value is
    widened, to a fifth of itself).

    Example:
        >>> focus_range([1.0, 2.0], include=[2.5, 40.0], pad=0.0)
        (1.0, 2.5)
    """
    vals = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
    if not vals:
        return None
    if log:
        lo, hi = focus_range([math.log10(v) for v in vals],
                             [math.log10(v) for v in include if math.isfinite(v) and v > 0], pad=pad,
                             min_span=0.3)
        return 10 ** lo, 10 ** hi
    lo, hi = min(vals), max(vals)
    # one value, or values a hair apart: show a readable stretch around them, not 1e-5
    least = min_span if min_span is not None else (max(abs(hi) * 0.2, 1e-3) if hi == lo else 0.0)
    if hi - lo < least:
        middle = (lo + hi) / 2
        lo, hi = middle - least / 2, middle + least / 2
    reach = (hi - lo) * _BOUND_REACH
    for v in include:
        if math.isfinite(v) and lo - reach <= v <= hi + reach:
            lo, hi = min(lo, v), max(hi, v)
    span = hi - lo
    return lo - pad * span, hi + pad * span


def clamp(value: float, limits: tuple[float, float]) -> tuple[float, int]:
    """``value`` moved inside ``limits``, and -1 / 0 / +1 for below / inside / above."""
    lo, hi = limits
    if value < lo:
        return lo, -1
    if value > hi:
        return hi, 1
    return value, 0
