"""The pick table: for each accuracy budget, the fastest and the smallest front model.

A user rarely wants the whole front; they have a budget ("at most one point below the
dense model") and want the fastest or the smallest model within it, and the command that
exports it. Budgets are points of accuracy drop: 0.5, 1 and 2, plus the space's own
accuracy constraint when it sets one.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from autoprune.measures import number
from autoprune.report._axes import accuracy_drop_points, latency_ratio

if TYPE_CHECKING:
    from autoprune.search._constraints import Constraint
    from autoprune.search._records import TrialRecord

__all__ = ["BUDGETS", "Budget", "Pick", "budgets", "picks", "export_command", "size_format"]

#: accuracy budgets in points of drop from the dense model
BUDGETS = (0.5, 1.0, 2.0)
# budgets compare rounded drops: 97.33 % vs 97.11 % is 0.2222... points, and a budget of
# exactly the constraint must admit the trial the constraint admitted
_EPS = 1e-9
EXPORT_FORMAT = "state_dict"


@dataclass(frozen=True)
class Budget:
    """At most ``points`` of accuracy drop; ``constraint`` is the space's constraint text
    when this budget is the space's own."""

    points: float
    constraint: str | None = None

    @property
    def label(self) -> str:
        """``drop \u2264 1 point``."""
        return f"drop \u2264 {self.points:g} point{'' if self.points == 1 else 's'}"


@dataclass(frozen=True)
class Pick:
    """One row: the model ``record`` chosen as ``goals`` (``fastest``, ``smallest`` or
    both) within ``budget``; ``record`` is None when no front model is within it, and then
    ``closest`` is the front model with the least drop."""

    budget: Budget
    goals: tuple[str, ...]
    record: TrialRecord | None
    closest: TrialRecord | None = None

    @property
    def goal_text(self) -> str:
        return " and ".join(self.goals)


def budgets(constraints: Iterable[Constraint], baseline_accuracy: float) -> list[Budget]:
    """0.5, 1 and 2 points, and the space's accuracy constraints in points, ascending;
    a constraint equal to a fixed budget marks that budget instead of adding one."""
    out = {p: Budget(p) for p in BUDGETS}
    for c in constraints:
        if c.measure == "accuracy_drop" and c.op in ("<=", "<"):
            points = c.bound * 100.0
        elif c.measure == "accuracy" and c.op in (">=", ">") and math.isfinite(baseline_accuracy):
            points = (baseline_accuracy - c.bound) * 100.0
        else:
            continue
        points = round(points, 6)  # 0.02 * 100 is 2.0000000000000004
        out[points] = Budget(points, f"{c.measure} {c.op} {c.bound:g}")
    return [out[p] for p in sorted(out)]


def _key(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def picks(front: Sequence[TrialRecord], baseline: Mapping[str, Any], budget_list: Sequence[Budget]) -> list[Pick]:
    """The fastest and the smallest front model within each budget.

    Fastest is the lowest latency ratio, smallest the fewest ``size_bytes``; ties go to
    the smaller drop, then the lower trial number. When one model is both, it is one row.

    Example (hand-checked in ``tests/report/test_pick.py``): front drops 0.2 / 0.8 / 1.6
    points with latency ratios 0.9 / 0.5 / 0.2: within 1 point the fastest is the second.
    """
    rows: list[Pick] = []
    drops = {r.number: accuracy_drop_points(r, baseline) for r in front}
    for budget in budget_list:
        within = [r for r in front if math.isfinite(drops[r.number]) and drops[r.number] <= budget.points + _EPS]
        if not within:
            finite = [r for r in front if math.isfinite(drops[r.number])]
            closest = min(finite, key=lambda r: (drops[r.number], r.number)) if finite else None
            rows.append(Pick(budget, (), None, closest))
            continue
        fastest = min(within, key=lambda r: (_key(latency_ratio(r, baseline)), drops[r.number], r.number))
        smallest = min(within, key=lambda r: (_key(number(r.measures.get("size_bytes"))), drops[r.number],
                                              r.number))
        if fastest.number == smallest.number:
            rows.append(Pick(budget, ("fastest", "smallest"), fastest))
        else:
            rows += [Pick(budget, ("fastest",), fastest), Pick(budget, ("smallest",), smallest)]
    return rows


def export_command(run_dir: str, number: int, format: str = EXPORT_FORMAT) -> str:
    """The CLI line that exports trial ``number``, ready to paste into a shell."""
    suffix = {"state_dict": "pt", "torch_export": "pt2", "onnx": "onnx"}.get(format, format)
    return (f"autoprune export {shlex.quote(str(run_dir))} --trial {number} --format {format} "
            f"--output trial_{number}.{suffix}")


def size_format(recipe: Mapping[str, Any]) -> str:
    """The form ``size_bytes`` was measured in: the ``state_dict`` file, its sparse
    tensors packed (values and positions only) when the granularity keeps zeros."""
    from autoprune.errors import ConfigError
    from autoprune.pruning import granularity_of
    from autoprune.recipe import Recipe

    try:
        packed = granularity_of(Recipe.from_dict(recipe)).packed
    except (ConfigError, TypeError, ValueError):  # a stored recipe that no longer validates
        return "state_dict"
    return "packed state_dict" if packed else "state_dict"
