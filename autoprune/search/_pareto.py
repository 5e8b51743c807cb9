"""Pareto front, hypervolume and knee of trial results (numpy only).

Every routine works on points to *minimise*. :func:`normalize` puts a trial's measures
there, relative to the dense baseline, so that objectives of different units share one
space and one reference point:

- fractions (``accuracy``, ``accuracy_drop``, ``sparsity_achieved``) become *points*
  worse than the baseline: ``(baseline - value) * 100`` when maximised,
  ``(value - baseline) * 100`` when minimised. The dense model is at 0.
- everything else (sizes, counts, FLOPs, latency, ``*_ratio``) becomes a *ratio* to the
  baseline: ``value / baseline`` when minimised, ``baseline / value`` when maximised.
  The dense model is at 1.

The default reference point (:func:`default_reference`) is 5.0 on point axes (5 points
worse than dense) and 1.0 on ratio axes (no better than dense); a point outside that box
adds no hypervolume.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from autoprune.measures import MEASURES, get_measure

if TYPE_CHECKING:
    from autoprune.search._space import Objective

__all__ = [
    "POINT_MEASURES",
    "normalize",
    "default_reference",
    "pareto_front",
    "hypervolume",
    "hypervolume_history",
    "knee_point",
]

# The measure table says which measures are compared in points; kept under its old name
# for code that imported it.
POINT_MEASURES = tuple(name for name, m in MEASURES.items() if m.in_points)


def normalize(
    measures: Mapping[str, float], baseline: Mapping[str, float], objectives: Sequence[Objective]
) -> np.ndarray:
    """One trial's objectives as a point to minimise, relative to ``baseline``.

    Args:
        measures: the trial's measures by name.
        baseline: the dense model's measures (``accuracy``, ``size_bytes``, ...; keys
            ``baseline_<name>`` are preferred, so ``TrialResult.measures()`` works too).
            ``accuracy_drop`` and ``sparsity_achieved`` are 0 and ``*_ratio`` 1 for the
            dense model by definition; ``params_nonzero`` is compared with
            ``baseline_params_total``.
        objectives: objects with ``name`` and ``direction`` (``min`` / ``max``).

    Returns:
        Shape ``(len(objectives),)``; NaN where a measure is None or NaN (such a point
        is never on the front and adds no hypervolume).

    Example:
        >>> from autoprune.search._space import Objective
        >>> normalize({"accuracy": 0.95, "size_bytes": 250}, {"accuracy": 0.97, "size_bytes": 1000},
        ...           [Objective("accuracy", "max"), Objective("size_bytes", "min")]).round(6).tolist()
        [2.0, 0.25]
    """
    out = []
    for o in objectives:
        value = measures[o.name]
        value = math.nan if value is None else float(value)  # None: a measure not taken
        measure = get_measure(o.name)
        base = measure.baseline_value(baseline)
        maximize = o.direction == "max"
        if measure.in_points:
            out.append((base - value) * 100 if maximize else (value - base) * 100)
        else:
            if not base > 0:
                raise ValueError(f"{o.name} is compared as a ratio, but the baseline is {base}.")
            out.append(base / value if maximize else value / base)
    return np.asarray(out, dtype=float)


def default_reference(objectives: Sequence[Objective]) -> np.ndarray:
    """5.0 (points worse than dense) on point axes, 1.0 (as dense) on ratio axes."""
    return np.asarray([5.0 if get_measure(o.name).in_points else 1.0 for o in objectives], dtype=float)


def _as_points(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    arr = np.asarray(points, dtype=float)
    if arr.ndim != 2:
        raise ValueError(f"points must be a 2-D array (n, k), but got shape {arr.shape}.")
    return arr


def pareto_front(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Indices (ascending) of the non-dominated rows of ``points`` (to minimise).

    A row dominates another when it is no worse everywhere and better somewhere. Of equal
    rows only the first is kept; rows with NaN are never on the front.

    Example:
        >>> pareto_front([[1, 2], [2, 1], [2, 2], [1, 2]]).tolist()
        [0, 1]
    """
    arr = _as_points(points)
    others = arr[~np.isnan(arr).any(axis=1)]
    keep = []
    for i, p in enumerate(arr):
        if np.isnan(p).any():
            continue
        dominated = np.any(np.all(others <= p, axis=1) & np.any(others < p, axis=1))
        duplicate_before = np.any(np.all(arr[:i] == p, axis=1))
        if not dominated and not duplicate_before:
            keep.append(i)
    return np.asarray(keep, dtype=int)


def hypervolume(points: np.ndarray | Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Volume dominated by ``points`` (to minimise) inside the box below ``reference``.

    Rows outside the box (worse than the reference on any axis) or with NaN add nothing.
    Uses moocore's exact implementation (``moocore.hypervolume``, minimisation).

    Example:
        >>> hypervolume([[1, 2], [2, 1]], [3, 3])
        3.0
    """
    import moocore

    arr = _as_points(points)
    ref = np.asarray(reference, dtype=float)
    if ref.shape != (arr.shape[1],) or not np.isfinite(ref).all():
        raise ValueError(f"reference must be {arr.shape[1]} finite numbers, but got {reference!r}.")
    inside = arr[np.all(arr <= ref, axis=1)]  # NaN compares False: dropped too
    if len(inside) == 0:
        return 0.0
    return float(moocore.hypervolume(inside, ref=ref))


def hypervolume_history(
    points_in_trial_order: np.ndarray | Sequence[Sequence[float]], reference: Sequence[float]
) -> list[float]:
    """Hypervolume of the points seen so far, after each trial (for a progress plot).

    Rows of NaN (e.g. infeasible or failed trials) keep the trial axis and add nothing.

    Example:
        >>> hypervolume_history([[2, 2], [9, 9], [1, 2]], [3, 3])
        [1.0, 1.0, 2.0]
    """
    arr = _as_points(points_in_trial_order)
    history: list[float] = []
    front = np.empty((0, arr.shape[1]))
    current = 0.0
    ref = np.asarray(reference, dtype=float)
    for p in arr:
        if np.all(p <= ref) and not np.any(np.all(front <= p, axis=1)):
            front = np.vstack([front[~np.all(p <= front, axis=1)], p])
            current = hypervolume(front, ref)
        history.append(current)
    return history


def knee_point(front_points: np.ndarray | Sequence[Sequence[float]]) -> int:
    """Index of the front member closest to the ideal point: the balanced compromise.

    Each axis is min-max normalised over the front (an axis where all are equal counts
    0), the ideal point is then the origin, and the member with the smallest Euclidean
    distance to it is the knee (first one on ties).

    Example:
        >>> knee_point([[0, 10], [1, 1], [10, 0]])
        1
    """
    arr = _as_points(front_points)
    if len(arr) == 0:
        raise ValueError("knee_point needs at least one point.")
    low, high = arr.min(axis=0), arr.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    scaled = (arr - low) / span
    distance = np.sqrt((scaled**2).sum(axis=1))
    return int(np.argmin(distance))
