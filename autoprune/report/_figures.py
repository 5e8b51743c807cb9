"""Figures for the report's PNGs, built without pyplot.

Figures are ``matplotlib.figure.Figure`` objects saved through the Agg canvas, never
through pyplot: the report can be written from any thread, and the backend of a user's
session (a notebook, a GUI) is left as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from autoprune._io import atomic_path
from autoprune.report._labels import Box, place_labels

__all__ = ["FRONT", "GREY", "KNEE", "DPI", "figure", "save", "annotate_apart"]

FRONT, GREY, KNEE = "#1f77b4", "#9e9e9e", "#d62728"
#: pixels per inch of the saved PNGs; the page shows them at 100 per inch, so they stay
#: sharp on high-density screens and in papers
DPI = 150


def figure(width: float, height: float) -> Any:
    """A constrained-layout figure of ``width`` x ``height`` inches, attached to Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Any, path: Path) -> None:
    """Save next to ``path`` and rename, so a reader never sees half a PNG."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def annotate_apart(ax: Any, labels: Sequence[tuple[str, tuple[float, float], dict[str, Any]]],
                   markers: Sequence[tuple[float, float]] | None = None, marker_radius: float = 5.0) -> None:
    """Write each ``(text, (x, y), style)`` label at its data point, moved where it hides no
    other label and no marker (see :func:`~autoprune.report._labels.place_labels`); a moved
    label keeps the leader line of its style's ``arrowprops``.

    Args:
        ax: matplotlib axes, drawn once already (the labels are measured in pixels).
        labels: the text, the data point and ``ax.annotate`` keyword arguments.
        markers: pixel positions to keep clear; None: the labelled points.
        marker_radius: their radius in pixels.
    """
    from matplotlib.text import Text

    renderer = ax.figure.canvas.get_renderer()
    to_px = ax.transData.transform
    texts, anchors, sizes = [], [], []
    for label, xy, style in labels:
        text = ax.annotate(label, xy, xytext=(0, 0), textcoords="offset points", ha="center", va="center",
                           zorder=10, **style)
        text.set_in_layout(False)
        extent = Text.get_window_extent(text, renderer)  # the text alone, not its leader line
        texts.append(text)
        anchors.append(tuple(to_px(xy)))
        sizes.append((extent.width + 4, extent.height + 4))  # and the white box around it
    bbox = ax.get_window_extent(renderer)
    frame = Box((bbox.x0 + bbox.x1) / 2, (bbox.y0 + bbox.y1) / 2, bbox.width, bbox.height)
    centres = place_labels(anchors, sizes, frame, anchors if markers is None else markers, marker_radius=marker_radius)
    per_px = 72.0 / ax.figure.dpi
    for text, (px, py), (cx, cy) in zip(texts, anchors, centres):
        text.xyann = ((cx - px) * per_px, (cy - py) * per_px)
