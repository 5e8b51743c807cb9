"""Trial records: what the study stores of each trial, and the files of a run directory.

The Optuna study is the single source of truth; ``trials.csv`` and ``pareto.json`` are
derived from it after every trial (written atomically), so an interrupted search never
leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from autoprune._io import write_text_atomic
from autoprune.measures import MEASURES as MEASURE_TABLE
from autoprune.recipe import Recipe
from autoprune.result import TrialStatus

__all__ = ["TrialRecord", "record_from_frozen", "write_json_atomic", "write_trials_csv", "trials_csv"]

# user-attr keys on Optuna trials
RECIPE, MEASURES, CURVE, REASON, DETAILS, WORKER, SECONDS, ATTEMPTS, INTERRUPTED = (
    "recipe", "measures", "curve", "reason", "details", "worker", "seconds", "attempts", "interrupted",
)
LATENCIES = "latencies"  # the latency memo's measurements first taken for this trial
REPEAT_OF = "repeat_of"  # the finished trial whose recipe (and so measures) a trial repeats


@dataclass
class TrialRecord:
    """One trial as stored: state is ``complete``, ``pruned``, ``failed`` or ``running``."""

    number: int
    state: str
    recipe: dict[str, Any]
    measures: dict[str, Any] = field(default_factory=dict)
    curve: list[list[float]] = field(default_factory=list)
    reason: str | None = None
    seconds: float = 0.0
    worker: str = ""
    attempts: int = 1
    feasible: bool | None = None
    repeat_of: int | None = None  # answered from that trial's measures: its model is that trial's

    @property
    def recipe_obj(self) -> Recipe:
        return Recipe.from_dict(self.recipe)

    def summary(self) -> str:
        return self.recipe_obj.summary()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_from_frozen(trial: Any) -> TrialRecord:
    """Build a record from an ``optuna.trial.FrozenTrial``."""
    attrs = trial.user_attrs
    return TrialRecord(
        number=trial.number,
        state=TrialStatus.of_optuna(trial.state).value,
        recipe=attrs.get(RECIPE, {}),
        measures=attrs.get(MEASURES, {}),
        curve=attrs.get(CURVE, []),
        reason=attrs.get(REASON),
        seconds=float(attrs.get(SECONDS, 0.0)),
        worker=attrs.get(WORKER, ""),
        attempts=int(attrs.get(ATTEMPTS, 1)),
        repeat_of=attrs.get(REPEAT_OF) if isinstance(attrs.get(REPEAT_OF), int) else None,
    )


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


# "seconds" is a column of its own (the record's wall time); latency is followed by the
# dense latency the trial timed in its own process, which its ratio is relative to.
_MEASURE_COLUMNS = tuple(
    column for name in MEASURE_TABLE if name != "seconds"
    for column in ((name, "baseline_latency_ms") if name == "latency_ms" else (name,))
)
_RECIPE_COLUMNS = tuple(Recipe().to_dict())


def write_trials_csv(path: Path, records: Iterable[TrialRecord]) -> None:
    write_text_atomic(path, trials_csv(records))


def trials_csv(records: Iterable[TrialRecord]) -> str:
    """One CSV row per trial: state, feasibility, recipe fields, measures, steps, reason."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["number", "state", "feasible", *_RECIPE_COLUMNS, *_MEASURE_COLUMNS,
                     "steps_reported", "seconds", "worker", "attempts", "reason"])
    for r in records:
        recipe = [_cell(r.recipe.get(k)) for k in _RECIPE_COLUMNS]
        measures = [_cell(r.measures.get(k)) for k in _MEASURE_COLUMNS]
        writer.writerow([r.number, r.state, _cell(r.feasible), *recipe, *measures, len(r.curve),
                         f"{r.seconds:.2f}", r.worker, r.attempts, r.reason or ""])
    return buf.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ";".join(map(str, value))
    return value
