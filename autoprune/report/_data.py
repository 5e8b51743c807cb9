"""What every part of the report reads: the trials sorted into front / feasible /
infeasible / stopped, their objectives in axis units, and the focused axis ranges."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from autoprune.measures import number
from autoprune.report._axes import Axis, Bound, axis_for, focus_range

if TYPE_CHECKING:
    from autoprune.search._constraints import Constraint
    from autoprune.search._records import TrialRecord

__all__ = ["Point", "ReportData", "build_data", "parse_constraints", "CATEGORIES"]

#: how a plotted trial is drawn, in drawing order (front last, on top)
CATEGORIES = ("stopped", "infeasible", "feasible", "front")
# log scale when the focused values of an axis span this factor or more: ratios and sizes
# (the dense model at 1x beside models at 0.05x) from 8x, counts (params, FLOPs) from 100x
_LOG_SPAN = {"ratio": 8.0, "bytes": 8.0}
_LOG_SPAN_OTHER = 100.0


@dataclass(frozen=True)
class Point:
    """A trial in objective space: ``values`` in axis units (NaN where it has none)."""

    record: TrialRecord
    category: str
    values: tuple[float, ...]

    @property
    def number(self) -> int:
        return self.record.number


@dataclass
class ReportData:
    """The run as the report shows it (see :func:`build_data`)."""

    title: str
    run_dir: str
    records: list[TrialRecord]
    front: list[TrialRecord]
    knee: TrialRecord | None
    objectives: list[tuple[str, str]]
    baseline: Mapping[str, Any]
    constraints: tuple[Constraint, ...]
    latency: Any
    task: str | None
    hypervolume: float
    hypervolume_history: list[float]
    axes: list[Axis] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    dense: tuple[float, ...] = ()
    bounds: list[list[Bound]] = field(default_factory=list)
    limits: list[tuple[float, float] | None] = field(default_factory=list)
    logs: list[bool] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def knee_number(self) -> int | None:
        return self.knee.number if self.knee is not None else None

    def plotted(self, category: str) -> list[Point]:
        return [p for p in self.points if p.category == category]


def parse_constraints(constraints: Sequence[Any]) -> tuple[Constraint, ...]:
    """Constraint objects, or ``"MEASURE OP NUMBER"`` strings parsed into them."""
    from autoprune.search._constraints import parse_constraint

    return tuple(parse_constraint(c) if isinstance(c, str) else c for c in constraints)


def _category(record: TrialRecord, front: set[int]) -> str | None:
    if record.state == "pruned":
        return "stopped"
    if record.state != "complete":
        return None
    if record.number in front:
        return "front"
    return "infeasible" if record.feasible is False else "feasible"


def _axes(objectives: Sequence[tuple[str, str]], records: Sequence[TrialRecord],
          baseline: Mapping[str, Any]) -> list[Axis]:
    axes = []
    for name, direction in objectives:
        raw = [number((r.measures or {}).get(name)) for r in records if r.state in ("complete", "pruned")]
        axis = axis_for(name, direction, raw + [number(baseline.get(name))])
        if axis.kind == "drop" and not any(math.isfinite(axis.value(r, baseline)) for r in records):
            # no dense accuracy to take a drop from: show the accuracy itself
            axis = Axis(name, name.replace("_", " "), "%", direction, "percent")
        axes.append(axis)
    return axes


def build_data(
    *, title: str, run_dir: str, records: Sequence[TrialRecord], front: Sequence[TrialRecord],
    knee: TrialRecord | None, objectives: Sequence[tuple[str, str]], baseline: Mapping[str, Any],
    constraints: tuple[Constraint, ...], latency: Any, task: str | None, hypervolume: float,
    hypervolume_history: Sequence[float], notes: list[str],
) -> ReportData:
    """Sort the trials, put their objectives in axis units and focus each axis on the
    feasible region: feasible complete trials, the dense model and the constraint bounds
    near them (all complete trials when none is feasible)."""
    data = ReportData(title=title, run_dir=run_dir, records=list(records), front=list(front), knee=knee,
                      objectives=list(objectives), baseline=baseline, constraints=constraints, latency=latency,
                      task=task, hypervolume=hypervolume, hypervolume_history=list(hypervolume_history),
                      notes=notes)
    data.axes = _axes(objectives, data.records, baseline)
    front_numbers = {r.number for r in data.front}
    unplotted = []
    for r in data.records:
        category = _category(r, front_numbers)
        if category is None:
            continue
        values = tuple(axis.value(r, baseline) for axis in data.axes)
        if category != "stopped" and not all(math.isfinite(v) for v in values):
            unplotted.append(r.number)
            continue
        data.points.append(Point(r, category, values))
    if unplotted:
        notes.append(f"{len(unplotted)} complete trial(s) lack a finite value for some objective and are not "
                     f"plotted: {', '.join(f'#{n}' for n in unplotted)}.")
    data.dense = tuple(axis.dense(baseline) for axis in data.axes)
    data.bounds = [axis.bounds(constraints, baseline) for axis in data.axes]
    focus = [p for p in data.points if p.category in ("front", "feasible")] or [
        p for p in data.points if p.category != "stopped"]
    for i, axis in enumerate(data.axes):
        values = [p.values[i] for p in focus] + [data.dense[i]]
        finite = [v for v in values if math.isfinite(v)]
        span = _LOG_SPAN.get(axis.kind, _LOG_SPAN_OTHER)
        log = bool(finite) and min(finite) > 0 and max(finite) / min(finite) >= span
        data.logs.append(log)
        data.limits.append(focus_range(values, [b.value for b in data.bounds[i]], log=log, min_span=axis.min_span))
    return data
