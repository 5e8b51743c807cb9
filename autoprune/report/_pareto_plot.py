"""``pareto.png``: the trials in objective space, focused on the feasible region.

Every axis reads "lower is better" (accuracy as points of drop, latency and sizes as
they are), so the models worth picking sit bottom-left. Front members are labelled with
their trial numbers (placed so no label hides another), the knee is ringed, the
constraints are lines with their infeasible side shaded, and the dense model is a star.
Dominated, infeasible and stopped trials are grey; one outside the focused range is drawn
at the edge, pointing the way it lies, instead of widening the axes for everyone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from autoprune.report._axes import clamp
from autoprune.report._data import CATEGORIES, ReportData
from autoprune.report._figures import FRONT, GREY, KNEE, annotate_apart, figure, save

__all__ = ["pareto_figure", "plot_pareto"]

_STYLE = {
    "stopped": {"marker": "v", "s": 26, "facecolors": "none", "edgecolors": GREY, "linewidths": 1.0,
                "label": "stopped early"},
    "infeasible": {"marker": "x", "s": 26, "color": GREY, "linewidths": 1.2,
                   "label": "infeasible (breaks a constraint)"},
    "feasible": {"marker": "o", "s": 24, "color": "#c7c7c7", "edgecolors": GREY, "linewidths": 0.5,
                 "label": "feasible, dominated"},
    "front": {"marker": "o", "s": 52, "color": FRONT, "edgecolors": "black", "linewidths": 0.6,
              "label": "Pareto front (#trial)"},
}
_EDGE_MARKERS = {(-1, 0): "<", (1, 0): ">", (0, -1): "v", (0, 1): "^"}
_LABEL_SIZE = 8


def plot_pareto(path: Path, data: ReportData) -> str | None:
    """Write ``pareto.png``; None when written, else why there was nothing to draw."""
    fig = pareto_figure(data)
    if isinstance(fig, str):
        return fig
    save(fig, path)
    return None


def pareto_figure(data: ReportData) -> Any:
    """The figure (a matplotlib ``Figure``), or the reason it would be empty."""
    if not any(p.category != "stopped" for p in data.points):
        return "No complete trial has finite values for every objective: the Pareto plot is empty."
    k = len(data.axes)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)] or [(-1, 0)]
    cols = 1 if len(pairs) == 1 else 2
    rows = math.ceil(len(pairs) / cols)
    fig = figure(6.2 * cols if cols > 1 else 8.5, 5.0 * rows + (0.9 if len(pairs) % cols == 0 else 0.3))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (i, j) in zip(axes, pairs):
        _panel(ax, data, i, j, staircase=(k == 2))
    spare = axes[len(pairs):]
    handles: dict[str, Any] = {}
    for ax in axes[:len(pairs)]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if spare.size:  # an empty cell holds the legend and the reading guide
        for ax in spare:
            ax.set_axis_off()
        spare[0].legend(list(handles.values()), list(handles), loc="center", fontsize=9, frameon=False,
                        title=_guide(data), title_fontsize=9)
    elif len(pairs) > 1:
        fig.legend(list(handles.values()), list(handles), loc="outside upper center", ncols=4, fontsize=8)
    else:
        axes[0].legend(list(handles.values()), list(handles), fontsize=8, loc="best", title=_guide(data),
                       title_fontsize=8)
    fig.canvas.draw()  # fixes the layout, so label placement works in final pixels
    for ax, (i, j) in zip(axes, pairs):
        _label_front(ax, data, i, j)
    return fig


def _guide(data: ReportData) -> str:
    if len(data.axes) == 1:
        return "Lower is better." if data.axes[0].better == "min" else "Higher is better."
    if all(a.better == "min" for a in data.axes):
        return "Every axis: lower is better.\nThe models to pick sit bottom-left."
    return "Arrows on the axis labels say which way is better."


def _xy(data: ReportData, point: Any, i: int, j: int) -> tuple[float, float]:
    return (float(point.number) if i < 0 else point.values[i], point.values[j])


def _panel(ax: Any, data: ReportData, i: int, j: int, *, staircase: bool) -> None:
    xlim = (-0.5, max(p.number for p in data.points) + 0.5) if i < 0 else data.limits[i]
    ylim = data.limits[j]
    if i >= 0 and data.logs[i]:
        _log_axis(ax.xaxis, ax.set_xscale)
    if data.logs[j]:
        _log_axis(ax.yaxis, ax.set_yscale)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    _constraints(ax, data, i, j, xlim, ylim)
    edge: list[tuple[float, float, str]] = []
    for category in CATEGORIES:
        xs, ys = [], []
        for p in data.plotted(category):
            x, y = _xy(data, p, i, j)
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            (cx, sx), (cy, sy) = clamp(x, xlim), clamp(y, ylim)
            if sx or sy:
                edge.append((cx, cy, _EDGE_MARKERS[(sx, 0) if sx else (0, sy)]))
            else:
                xs.append(x)
                ys.append(y)
        if xs:
            ax.scatter(xs, ys, zorder=3 + CATEGORIES.index(category), **_STYLE[category])
    for n, (x, y, marker) in enumerate(edge):
        ax.scatter([x], [y], marker=marker, s=34, color=GREY, alpha=0.8, clip_on=False, zorder=2,
                   label="beyond the axes, drawn at the edge" if n == 0 else None)
    front = sorted(_xy(data, p, i, j) for p in data.plotted("front"))
    if staircase and len(front) > 1:
        # the edge of the dominated region: the best y so far holds until the next member
        ax.step([p[0] for p in front], [p[1] for p in front], where="post" if data.axes[i].better == "min" else "pre",
                color=FRONT, linewidth=1.0, alpha=0.6, zorder=2)
    if i >= 0:
        bx, by = data.dense[i], data.dense[j]
        if math.isfinite(bx) and math.isfinite(by):
            (cx, _), (cy, _) = clamp(bx, xlim), clamp(by, ylim)  # far off: on the edge, still shown
            ax.scatter([cx], [cy], marker="*", s=170, color="black", clip_on=False, zorder=8, label="dense model")
    elif math.isfinite(data.dense[j]):
        ax.axhline(data.dense[j], color="black", linestyle=":", linewidth=1, label="dense model")
    knee = next((p for p in data.plotted("front") if p.number == data.knee_number), None)
    if knee is not None:
        kx, ky = _xy(data, knee, i, j)
        ax.scatter([kx], [ky], s=200, facecolors="none", edgecolors=KNEE, linewidths=1.8, zorder=9, label="knee")
    ax.set_xlabel("trial number" if i < 0 else data.axes[i].label, fontsize=9)
    ax.set_ylabel(data.axes[j].label, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)


def _log_axis(axis: Any, set_scale: Any) -> None:
    """A log scale with plain numbers at 1, 2 and 5 of each decade (0.1, 0.2, 0.5, 1),
    not powers of ten: a reader compares ratios and sizes, not exponents."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    set_scale("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _constraints(ax: Any, data: ReportData, i: int, j: int, xlim: tuple, ylim: tuple) -> None:
    """Each constraint on a drawn axis: a dashed line, its infeasible side shaded."""
    for axis_index, vertical, (lo, hi) in ((i, True, xlim), (j, False, ylim)):
        if axis_index < 0:
            continue
        for b in data.bounds[axis_index]:
            if not lo <= b.value <= hi:
                continue  # entirely on one side of the view: the grey markers already say so
            far = hi if b.infeasible == "above" else lo
            span = (b.value, far)
            line = ax.axvline if vertical else ax.axhline
            shade = ax.axvspan if vertical else ax.axhspan
            line(b.value, color=KNEE, linestyle="--", linewidth=1.1, zorder=1, label="constraint (infeasible side shaded)")
            shade(min(span), max(span), color=KNEE, alpha=0.06, zorder=0)
            if vertical:
                ax.text(b.value, 0.98, f" {b.text} ", transform=ax.get_xaxis_transform(), rotation=90,
                        ha="right" if b.infeasible == "above" else "left", va="top", fontsize=7, color=KNEE)
            else:
                ax.text(0.99, b.value, f"{b.text} ", transform=ax.get_yaxis_transform(), ha="right",
                        va="bottom" if b.infeasible == "above" else "top", fontsize=7, color=KNEE)


def _label_front(ax: Any, data: ReportData, i: int, j: int) -> None:
    """``#N`` beside every front member in view, ``#N knee`` for the knee, none hidden."""
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    front = []
    for p in data.plotted("front"):
        x, y = _xy(data, p, i, j)
        if math.isfinite(x) and math.isfinite(y) and xlim[0] <= x <= xlim[1] and ylim[0] <= y <= ylim[1]:
            front.append((p, x, y))
    if not front:
        return
    to_px = ax.transData.transform
    markers = [tuple(to_px(_xy(data, p, i, j))) for p in data.points
               if all(math.isfinite(v) for v in _xy(data, p, i, j))]
    labels = []
    for p, x, y in front:
        is_knee = p.number == data.knee_number
        labels.append((f"#{p.number}" + (" knee" if is_knee else ""), (x, y), dict(
            fontsize=_LABEL_SIZE, color=KNEE if is_knee else "#0b3d6b", fontweight="bold" if is_knee else "normal",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.75},
            arrowprops={"arrowstyle": "-", "color": "#555555", "linewidth": 0.6, "shrinkA": 0, "shrinkB": 4},
        )))
    annotate_apart(ax, labels, markers, marker_radius=4.5)
