"""The report's other PNGs: hypervolume over trials, fine-tune curves, importances.

Each ``plot_*`` returns ``None`` when it wrote its file, else the reason it had nothing
to draw. The Pareto plot has a module of its own (:mod:`autoprune.report._pareto_plot`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from autoprune.report._axes import focus_range
from autoprune.report._figures import FRONT, GREY, KNEE, annotate_apart, figure, save

__all__ = ["Curve", "plot_hypervolume", "plot_curves", "plot_importances", "curve_limits"]

_COMPLETE = "#9ecae1"
# stopped trials get a colour each (no blue: that is the front's), so two curves that
# overlap are still told apart by colour, marker and label
_STOPPED = ("#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#7f7f7f")
_STOP_MARKERS = ("X", "D", "s", "P", "v", "^", "<", ">")
# how far (in steps) overlapping stopped curves are pulled apart
_DODGE = 0.07


@dataclass(frozen=True)
class Curve:
    """One trial's intermediate accuracy: ``points`` are ``(step, fraction)``."""

    number: int
    state: str
    points: list[tuple[float, float]]
    front: bool = False
    feasible: bool = True


def _integer_ticks(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# -- hypervolume -------------------------------------------------------------------------


def plot_hypervolume(path: Path, history: Sequence[float]) -> str | None:
    values = [float(v) if v is not None else math.nan for v in history]
    if not any(math.isfinite(v) for v in values):
        return "No finished trial has a hypervolume yet: the hypervolume plot is empty."
    fig = figure(7, 3.4)
    ax = fig.add_subplot()
    xs = list(range(1, len(values) + 1))
    # NaN entries leave gaps instead of a line through made-up values
    ax.plot(xs, values, marker="o", markersize=3, color=FRONT, linewidth=1.3)
    _integer_ticks(ax)
    ax.set_xlabel("finished trials")
    ax.set_ylabel("hypervolume of the front")
    ax.set_title("Hypervolume after each finished trial (flat: the front stopped improving)", fontsize=10)
    ax.grid(alpha=0.3)
    save(fig, path)
    return None


# -- intermediate curves ---------------------------------------------------------------


def curve_limits(curves: Sequence[Curve], dense: float, bar: float | None) -> tuple[float, float]:
    """The accuracy range (in %) worth showing: where the feasible complete trials ended,
    the dense model and the constraint's bar, widened to the other trials' ends near them;
    dips right after pruning and collapsed trials run off the bottom.

    Example:
        >>> curve_limits([Curve(0, "complete", [(0, 0.40), (1, 0.95)]),
        ...               Curve(1, "complete", [(0, 0.30), (1, 0.31)], feasible=False)], 0.97, 0.95)
        (94.84, 97.16)
    """
    focus = [c.points[-1][1] * 100 for c in curves if c.state == "complete" and c.feasible]
    focus += [v * 100 for v in (dense, bar) if v is not None]
    others = [c.points[-1][1] * 100 for c in curves if not (c.state == "complete" and c.feasible)]
    limits = (focus_range(focus, others, pad=0.08, min_span=1.0) or focus_range(others, pad=0.08, min_span=1.0)
              or (0.0, 100.0))
    return round(limits[0], 6), round(limits[1], 6)


def plot_curves(path: Path, curves: Sequence[Curve], baseline_accuracy: float, bar: float | None = None) -> str | None:
    """Accuracy per fine-tune step; ``bar`` is the lowest accuracy the constraints allow."""
    curves = [c for c in curves if c.points]
    if not curves:
        return "No trial reported intermediate accuracy: the curves plot is empty."
    from matplotlib.lines import Line2D

    fig = figure(8.5, 5.2)
    ax = fig.add_subplot()
    dense = baseline_accuracy if math.isfinite(baseline_accuracy) else math.nan
    lo, hi = curve_limits(curves, dense, bar)
    ax.set_ylim(lo, hi)
    legend: dict[str, Any] = {}
    ends: list[tuple[Curve, float, float, str]] = []
    groups: dict[tuple[float, float], int] = {}
    stopped = 0
    for c in sorted(curves, key=lambda c: (c.state == "pruned", c.front, c.number)):
        xs, ys = [p[0] for p in c.points], [p[1] * 100 for p in c.points]
        if c.state == "pruned":
            # curves ending at the same point are pulled apart sideways, each in its own colour
            end = (round(xs[-1], 3), round(ys[-1], 2))
            k = groups[end] = groups.get(end, -1) + 1
            xs = [x + _DODGE * k for x in xs]
            colour, marker = _STOPPED[stopped % len(_STOPPED)], _STOP_MARKERS[stopped % len(_STOP_MARKERS)]
            stopped += 1
            ax.plot(xs, ys, color=colour, linestyle="--", linewidth=1.3, zorder=4)
            ax.plot(xs[-1:], [min(max(ys[-1], lo), hi)], color=colour, marker=marker, markersize=8,
                    markeredgecolor="black", markeredgewidth=0.6, linestyle="none", clip_on=False, zorder=6)
            ends.append((c, xs[-1], min(max(ys[-1], lo), hi), colour))
            legend.setdefault("stopped", Line2D([], [], color=_STOPPED[0], linestyle="--", marker="X",
                                                label="stopped early (#trial at the stop)"))
        elif c.state == "complete":
            colour = FRONT if c.front else _COMPLETE
            ax.plot(xs, ys, color=colour, linewidth=1.6 if c.front else 1.0, zorder=3 if c.front else 2)
            key = "front" if c.front else "complete"
            legend.setdefault(key, Line2D([], [], color=colour, label="Pareto front" if c.front else "complete"))
        else:
            ax.plot(xs, ys, color=GREY, linestyle=":", linewidth=1.1)
            legend.setdefault("other", Line2D([], [], color=GREY, linestyle=":", label="failed / running"))
    if math.isfinite(dense):
        ax.axhline(dense * 100, color="black", linestyle=":", linewidth=1)
        legend["dense"] = Line2D([], [], color="black", linestyle=":", label=f"dense model {dense * 100:.2f} %")
        ax.secondary_yaxis("right", functions=(lambda a: dense * 100 - a, lambda d: dense * 100 - d)).set_ylabel(
            "drop from dense (points)", fontsize=9)
    if bar is not None and math.isfinite(bar):
        ax.axhline(bar * 100, color=KNEE, linestyle="--", linewidth=1.1)
        ax.axhspan(lo, bar * 100, color=KNEE, alpha=0.05)
        legend["bar"] = Line2D([], [], color=KNEE, linestyle="--",
                               label=f"lowest accuracy the constraints allow {bar * 100:.2f} %")
    if any(p[1] * 100 < lo for c in curves for p in c.points):
        ax.text(0.01, 0.01, "lower accuracies (right after pruning) run off the bottom", transform=ax.transAxes,
                fontsize=7, color=GREY, va="bottom")
    _integer_ticks(ax)
    ax.set_xlabel("fine-tune step")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy during fine-tuning", fontsize=10)
    ax.grid(alpha=0.3)
    fig.legend(handles=list(legend.values()), fontsize=8, loc="outside lower center", ncols=3, frameon=False)
    _label_ends(fig, ax, ends)
    save(fig, path)
    return None


def _label_ends(fig: Any, ax: Any, ends: list[tuple[Curve, float, float, str]]) -> None:
    """``#N`` at the end of each stopped curve, placed so none hides another."""
    if not ends:
        return
    fig.canvas.draw()
    annotate_apart(ax, [(f"#{c.number}", (x, y), dict(
        fontsize=8, color=colour, fontweight="bold", annotation_clip=False,
        arrowprops={"arrowstyle": "-", "color": colour, "linewidth": 0.6, "shrinkA": 0, "shrinkB": 4},
    )) for c, x, y, colour in ends])


# -- parameter importances -------------------------------------------------------------


def plot_importances(path: Path, importances: dict[str, dict[str, float]]) -> str | None:
    """Horizontal bars: one row per recipe field, one bar per objective."""
    if not importances:
        return "Parameter importances could not be computed (see the notes above)."
    fields = sorted({f for imp in importances.values() for f in imp},
                    key=lambda f: max(imp.get(f, 0.0) for imp in importances.values()))
    names = list(importances)
    fig = figure(7, max(2.8, 0.22 * len(fields) * max(1, len(names)) + 1.2))
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
    save(fig, path)
    return None
