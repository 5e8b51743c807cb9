"""The report's PNG plots.

Figures are built with ``matplotlib.figure.Figure`` and saved through the Agg canvas,
never through pyplot: the report can be written from any thread, and the backend of a
user's session (a notebook, a GUI) is left as it was. Each ``plot_*`` returns ``None``
when it wrote its file, else the reason it had nothing to draw.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from autoprune._io import atomic_path
from autoprune.report._values import axis_label

__all__ = ["plot_pareto", "plot_hypervolume", "plot_curves", "plot_importances"]

_GREY, _FRONT, _KNEE, _PRUNED = "#9e9e9e", "#1f77b4", "#d62728", "#d62728"


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig: Any, path: Path) -> None:
    """Save next to ``path`` and rename, so a reader never sees half a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def _auto_log(ax: Any, axis: str, values: Sequence[float]) -> None:
    """Log scale when positive values span two orders of magnitude or more (params, FLOPs)."""
    vals = [v for v in values if math.isfinite(v)]
    if vals and min(vals) > 0 and max(vals) / min(vals) >= 100:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _integer_ticks(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# -- Pareto front ----------------------------------------------------------------------


def plot_pareto(
    path: Path,
    objectives: Sequence[tuple[str, str]],
    points: dict[int, tuple[float, ...]],
    front: Sequence[int],
    infeasible: set[int],
    baseline: tuple[float, ...],
    knee: int | None,
) -> str | None:
    """Complete trials in objective space (values already scaled for display).

    ``points`` maps trial number to its objective values; ``front`` lists the members
    that have a point. One objective: value per trial number; two: one scatter with the
    front as a step line; more: a grid of pairwise scatters.
    """
    if not points:
        return "No complete trial has finite values for every objective: the Pareto plot is empty."
    front = [n for n in front if n in points]
    k = len(objectives)
    if k == 1:
        fig = _figure(7, 4.5)
        _draw_single(fig.add_subplot(), objectives[0], points, front, infeasible, baseline[0], knee)
    elif k == 2:
        fig = _figure(7, 5)
        ax = fig.add_subplot()
        _draw_pair(ax, objectives, points, front, infeasible, baseline, knee, 0, 1, detailed=True)
        ax.legend(fontsize=8, loc="best")
    else:
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        cols = min(3, len(pairs))
        rows = math.ceil(len(pairs) / cols)
        fig = _figure(4.2 * cols, 3.6 * rows + 0.6)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax, (i, j) in zip(axes, pairs):
            _draw_pair(ax, objectives, points, front, infeasible, baseline, knee, i, j, detailed=False)
        for ax in axes[len(pairs):]:
            ax.set_visible(False)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=min(4, len(labels)), fontsize=8)
    _save(fig, path)
    return None


def _draw_single(ax, objective, points, front, infeasible, base, knee) -> None:
    name, direction = objective
    front_set = set(front)
    others = [n for n in sorted(points) if n not in front_set]
    _scatter(ax, [(n, points[n][0]) for n in others if n not in infeasible], "complete trial", _GREY, "o")
    _scatter(ax, [(n, points[n][0]) for n in others if n in infeasible], "infeasible", _GREY, "x")
    _scatter(ax, [(n, points[n][0]) for n in front], "best (front)", _FRONT, "o", size=60)
    if math.isfinite(base):
        ax.axhline(base, color="black", linestyle=":", linewidth=1, label="dense baseline")
    if knee in points:
        ax.annotate(f"knee #{knee}", (knee, points[knee][0]), xytext=(14, -18), textcoords="offset points",
                    color=_KNEE, fontsize=8, arrowprops={"arrowstyle": "->", "color": _KNEE})
    _integer_ticks(ax)
    ax.set_xlabel("trial number")
    ax.set_ylabel(axis_label(name, direction))
    ax.set_title(f"{name} per complete trial", fontsize=10)
    ax.legend(fontsize=8, loc="best")


def _draw_pair(ax, objectives, points, front, infeasible, baseline, knee, i, j, *, detailed: bool) -> None:
    (xname, xdir), (yname, ydir) = objectives[i], objectives[j]
    front_set = set(front)
    others = [n for n in sorted(points) if n not in front_set]

    def xy(numbers):
        return [(points[n][i], points[n][j]) for n in numbers]

    _scatter(ax, xy(n for n in others if n not in infeasible), "complete trial", _GREY, "o")
    _scatter(ax, xy(n for n in others if n in infeasible), "infeasible", _GREY, "x")
    front_xy = xy(front)
    _scatter(ax, front_xy, "Pareto front", _FRONT, "o", size=46 if detailed else 30)
    if detailed and len(front_xy) > 1:
        # the edge of the dominated region: for a minimised x the best y so far holds until
        # the next member (steps-post); for a maximised x it holds from the member before
        line = sorted(front_xy)
        ax.step([p[0] for p in line], [p[1] for p in line], where="post" if xdir == "min" else "pre",
                color=_FRONT, linewidth=1.2)
    if detailed:
        for n in front:
            ax.annotate(f"#{n}", (points[n][i], points[n][j]), xytext=(4, 4), textcoords="offset points", fontsize=7)
    bx, by = baseline[i], baseline[j]
    if math.isfinite(bx) and math.isfinite(by):
        ax.scatter([bx], [by], marker="*", s=160, color="black", label="dense baseline", zorder=4)
    if knee in points:
        kx, ky = points[knee][i], points[knee][j]
        ax.scatter([kx], [ky], s=190, facecolors="none", edgecolors=_KNEE, linewidths=1.8, label="knee", zorder=5)
        if detailed:
            ax.annotate(f"knee #{knee}", (kx, ky), xytext=(14, -18), textcoords="offset points", color=_KNEE,
                        fontsize=8, arrowprops={"arrowstyle": "->", "color": _KNEE})
    _auto_log(ax, "x", [p[i] for p in points.values()] + [bx])
    _auto_log(ax, "y", [p[j] for p in points.values()] + [by])
    ax.set_xlabel(axis_label(xname, xdir), fontsize=9)
    ax.set_ylabel(axis_label(yname, ydir), fontsize=9)
    ax.grid(alpha=0.3)


def _scatter(ax, xy, label, color, marker, size=22) -> None:
    xy = list(xy)
    if not xy:
        return
    edge = {"edgecolors": "black", "linewidths": 0.5} if marker == "o" and color != _GREY else {}
    ax.scatter([p[0] for p in xy], [p[1] for p in xy], s=size, color=color, marker=marker, label=label,
               alpha=0.9 if color != _GREY else 0.6, zorder=3, **edge)


# -- hypervolume -------------------------------------------------------------------------


def plot_hypervolume(path: Path, history: Sequence[float]) -> str | None:
    values = [float(v) if v is not None else math.nan for v in history]
    if not any(math.isfinite(v) for v in values):
        return "No finished trial has a hypervolume yet: the hypervolume plot is empty."
    fig = _figure(7, 3.8)
    ax = fig.add_subplot()
    xs = list(range(1, len(values) + 1))
    # NaN entries leave gaps instead of a line through made-up values
    ax.plot(xs, values, marker="o", markersize=3, color=_FRONT, linewidth=1.3)
    _integer_ticks(ax)
    ax.set_xlabel("finished trials")
    ax.set_ylabel("hypervolume of the front")
    ax.set_title("Hypervolume after each finished trial", fontsize=10)
    ax.grid(alpha=0.3)
    _save(fig, path)
    return None


# -- intermediate curves ---------------------------------------------------------------


def plot_curves(
    path: Path, curves: Sequence[tuple[int, str, list[tuple[float, float]]]], baseline_accuracy: float
) -> str | None:
    """Accuracy per fine-tune step; ``curves`` holds ``(number, state, points)``, points in [0, 1]."""
    curves = [c for c in curves if c[2]]
    if not curves:
        return "No trial reported intermediate accuracy: the curves plot is empty."
    from matplotlib.lines import Line2D

    fig = _figure(7, 4.5)
    ax = fig.add_subplot()
    seen: dict[str, Line2D] = {}
    for _, state, pts in curves:
        xs, ys = [p[0] for p in pts], [p[1] * 100 for p in pts]
        if state == "complete":
            ax.plot(xs, ys, color=_FRONT, linewidth=1.1, alpha=0.7)
            seen.setdefault("complete", Line2D([], [], color=_FRONT, label="complete"))
        elif state == "pruned":
            ax.plot(xs, ys, color=_PRUNED, linestyle="--", linewidth=1.1, alpha=0.8)
            ax.plot(xs[-1:], ys[-1:], color=_PRUNED, marker="x", markersize=8, linestyle="none")
            seen.setdefault("pruned", Line2D([], [], color=_PRUNED, linestyle="--", marker="x",
                                             label="stopped early (pruned)"))
        else:
            ax.plot(xs, ys, color=_GREY, linestyle=":", linewidth=1.1)
            seen.setdefault("other", Line2D([], [], color=_GREY, linestyle=":", label="failed / running"))
    if math.isfinite(baseline_accuracy):
        ax.axhline(baseline_accuracy * 100, color="black", linestyle=":", linewidth=1)
        seen["baseline"] = Line2D([], [], color="black", linestyle=":", label="dense baseline")
    _integer_ticks(ax)
    ax.set_xlabel("fine-tune step")
    ax.set_ylabel(axis_label("accuracy"))
    ax.set_title("Intermediate accuracy", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(handles=list(seen.values()), fontsize=8, loc="best")
    _save(fig, path)
    return None


# -- parameter importances -------------------------------------------------------------


def plot_importances(path: Path, importances: dict[str, dict[str, float]]) -> str | None:
    """Horizontal bars: one row per recipe field, one bar per objective."""
    if not importances:
        return "Parameter importances could not be computed (see the notes above)."
    fields = sorted({f for imp in importances.values() for f in imp},
                    key=lambda f: max(imp.get(f, 0.0) for imp in importances.values()))
    names = list(importances)
    fig = _figure(7, max(2.8, 0.32 * len(fields) * max(1, len(names)) + 1.2))
    ax = fig.add_subplot()
    height = 0.8 / len(names)
    for k, name in enumerate(names):
        ys = [f_index + (k - (len(names) - 1) / 2) * height for f_index in range(len(fields))]
        ax.barh(ys, [importances[name].get(f, 0.0) for f in fields], height=height, label=name)
    ax.set_yticks(range(len(fields)), fields, fontsize=9)
    ax.set_xlabel("importance (random-forest impurity, sums to 1 per objective)")
    ax.set_title("Which recipe fields matter", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, path)
    return None
