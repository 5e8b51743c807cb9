"""Figures for the report's PNGs, built without pyplot.

Figures are ``matplotlib.figure.Figure`` objects saved through the Agg canvas, never
through pyplot: the report can be written from any thread, and the backend of a user's
session (a notebook, a GUI) is left as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoprune._io import atomic_path

__all__ = ["FRONT", "GREY", "KNEE", "DPI", "figure", "save"]

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
