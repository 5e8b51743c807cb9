"""Placing point labels so that none hides another.

Front members often sit a pixel apart (two recipes with the same accuracy and size);
labels written at a fixed offset then cover each other. Each label here is tried at
growing distances around its point and takes the first spot that overlaps no label
already placed, no marker and nothing outside the axes; a label that ends up away from
its point gets a thin leader line (drawn by the caller).

Everything is in display pixels, so the placement is pure arithmetic and testable
without a figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

__all__ = ["Box", "place_labels"]

_RADII = (4.0, 9.0, 15.0, 23.0, 33.0, 46.0, 62.0, 82.0)
_ANGLES = tuple(math.radians(a) for a in (45, 135, -45, -135, 90, -90, 0, 180, 22, 158, -22, -158))


@dataclass(frozen=True)
class Box:
    """A rectangle by its centre and size, in pixels."""

    cx: float
    cy: float
    w: float
    h: float

    def overlap(self, other: Box) -> float:
        """Overlapping area with ``other`` (0 when apart)."""
        dx = min(self.cx + self.w / 2, other.cx + other.w / 2) - max(self.cx - self.w / 2, other.cx - other.w / 2)
        dy = min(self.cy + self.h / 2, other.cy + other.h / 2) - max(self.cy - self.h / 2, other.cy - other.h / 2)
        return dx * dy if dx > 0 and dy > 0 else 0.0

    def outside(self, frame: Box) -> float:
        """How far the box pokes out of ``frame`` (0 when inside)."""
        return (max(0.0, (frame.cx - frame.w / 2) - (self.cx - self.w / 2))
                + max(0.0, (self.cx + self.w / 2) - (frame.cx + frame.w / 2))
                + max(0.0, (frame.cy - frame.h / 2) - (self.cy - self.h / 2))
                + max(0.0, (self.cy + self.h / 2) - (frame.cy + frame.h / 2)))


def place_labels(
    anchors: Sequence[tuple[float, float]],
    sizes: Sequence[tuple[float, float]],
    frame: Box,
    markers: Sequence[tuple[float, float]] = (),
    marker_radius: float = 5.0,
) -> list[tuple[float, float]]:
    """Centres for labels of ``sizes`` (w, h) next to ``anchors``, in pixels.

    Args:
        anchors: the labelled points.
        sizes: each label's width and height.
        frame: the axes; labels stay inside it.
        markers: every drawn point (anchors included); labels avoid covering them.
        marker_radius: the markers' radius.

    Returns:
        One centre per label. Labels never overlap one another when there is room;
        when there is none, the spot with the least overlap is taken.

    Example:
        >>> frame = Box(50, 50, 100, 100)
        >>> a, b = place_labels([(50, 50), (51, 50)], [(20, 8), (20, 8)], frame)
        >>> Box(*a, 20, 8).overlap(Box(*b, 20, 8))
        0.0
    """
    obstacles = [Box(x, y, 2 * marker_radius, 2 * marker_radius) for x, y in list(markers) + list(anchors)]
    placed: list[Box] = []
    out: list[tuple[float, float]] = [(0.0, 0.0)] * len(anchors)
    # crowded points first: they have the fewest free spots
    order = sorted(range(len(anchors)), key=lambda i: -sum(
        1 for j in range(len(anchors)) if j != i and math.dist(anchors[i], anchors[j]) < 40))
    for i in order:
        (x, y), (w, h) = anchors[i], sizes[i]
        best = (math.inf, Box(x, y, w, h))
        for radius in _RADII:
            for angle in _ANGLES:
                box = Box(x + math.cos(angle) * (radius + w / 2), y + math.sin(angle) * (radius + h / 2), w, h)
                label_hits = sum(box.overlap(p) for p in placed)
                cost = (1000.0 * label_hits + 1000.0 * box.outside(frame)
                        + 5.0 * sum(box.overlap(o) for o in obstacles) + radius)
                if cost < best[0]:
                    best = (cost, box)
            if best[0] <= radius:  # a free spot at this distance: take it
                break
        placed.append(best[1])
        out[i] = (best[1].cx, best[1].cy)
    return out
