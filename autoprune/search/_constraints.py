"""Constraints of a search space: ``MEASURE OP NUMBER``, parsed, checked and measured.

Violations follow Optuna's convention (``trial.set_constraint``): a value <= 0 means the
constraint holds, a positive value is how far off the trial is.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from autoprune.measures import OBJECTIVE_MEASURES

__all__ = [
    "CONSTRAINT_OPS",
    "Constraint",
    "parse_constraint",
    "constraint_violations",
    "is_feasible",
    "min_accuracy",
]

CONSTRAINT_OPS = ("<=", ">=", "<", ">")
_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``measure op bound``, e.g. ``accuracy_drop <= 0.01``."""

    measure: str
    op: str
    bound: float

    def violation(self, value: float) -> float:
        """Optuna's convention: <= 0 when satisfied, else how far off (NaN: +inf)."""
        if math.isnan(value):
            return math.inf
        gap = value - self.bound if self.op in ("<=", "<") else self.bound - value
        if gap == 0 and self.op in ("<", ">"):  # strict: equality is a (tiny) violation
            return math.ulp(self.bound)
        return gap

    def __str__(self) -> str:
        return f"{self.measure} {self.op} {self.bound!r}"


def parse_constraint(text: Any) -> Constraint:
    """The constraint written as ``text`` (``"accuracy_drop <= 0.01"``).

    Raises:
        ValueError: not ``MEASURE OP NUMBER``, an unknown measure or a bound that is not
            a finite number; the message says what is allowed.

    Example:
        >>> parse_constraint("latency_ms < 2")
        Constraint(measure='latency_ms', op='<', bound=2.0)
    """
    match = _CONSTRAINT_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"{text!r} is not 'MEASURE OP NUMBER'; allowed operators: {', '.join(CONSTRAINT_OPS)}."
        )
    measure, op, raw = match.groups()
    if measure not in OBJECTIVE_MEASURES:
        raise ValueError(f"{measure!r} is not a measure; allowed: {', '.join(OBJECTIVE_MEASURES)}.")
    try:
        bound = float(raw)
    except ValueError:
        bound = math.nan
    if not math.isfinite(bound):
        raise ValueError(f"bound {raw!r} is not a finite number.")
    return Constraint(measure, op, bound)


def _constraints_of(space: Any) -> Sequence[Constraint]:
    # a SearchSpace, or the constraints themselves (no import of the space: it imports us)
    return space.constraints if hasattr(space, "constraints") else space


def constraint_violations(space: Any, measures: Mapping[str, float]) -> list[float]:
    """One value per constraint in Optuna's convention (<= 0: satisfied), for
    ``trial.set_constraint``. A measure that is None or NaN violates (+inf).

    Args:
        space: a :class:`~autoprune.search.SearchSpace` or a sequence of constraints.
        measures: the trial's measures by name.

    Raises:
        KeyError: a constrained measure is missing from ``measures``.
    """
    out = []
    for c in _constraints_of(space):
        if c.measure not in measures:
            raise KeyError(f"constraint '{c}' needs {c.measure!r}; measures have {', '.join(sorted(measures))}")
        value = measures[c.measure]
        out.append(c.violation(math.nan if value is None else float(value)))  # None: not measured
    return out


def is_feasible(space: Any, measures: Mapping[str, float]) -> bool:
    """True when every constraint holds."""
    return all(v <= 0 for v in constraint_violations(space, measures))


def min_accuracy(constraints: Sequence[Constraint], baseline_accuracy: float) -> float | None:
    """The lowest task metric ``constraints`` allow (``accuracy`` / ``accuracy_drop``
    bounds), or None."""
    bars = []
    for c in constraints:
        if c.measure == "accuracy" and c.op in (">=", ">"):
            bars.append(c.bound)
        elif c.measure == "accuracy_drop" and c.op in ("<=", "<"):
            bars.append(baseline_accuracy - c.bound)
    return max(bars) if bars else None
