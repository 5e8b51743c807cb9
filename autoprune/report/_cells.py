"""A trial's measures as the report prints them: accuracy with its drop in points,
latency as a ratio to the dense model with its milliseconds, size in KiB / MiB with the
file format it was measured in. Also the text of the interactive front's hover boxes."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

from autoprune.measures import human_bytes, number
from autoprune.report._axes import accuracy_drop_points, latency_ratio
from autoprune.report._pick import size_format

if TYPE_CHECKING:
    from autoprune.search._records import TrialRecord

__all__ = ["drop_text", "accuracy_text", "latency_text", "size_text", "size_ratio"]


def drop_text(points: float) -> str:
    """``1.25`` -> ``drop 1.25 pts``; a gain reads as one (``0.44 pts above dense``)."""
    if not math.isfinite(points):
        return "drop n/a"
    if points < -0.005:
        return f"{-points:.2f} pts above dense"
    return f"drop {abs(points):.2f} pts"


def accuracy_text(record: TrialRecord, baseline: Mapping[str, Any]) -> tuple[str, str]:
    """``("97.11 %", "drop 0.22 pts")``."""
    acc = number((record.measures or {}).get("accuracy"))
    shown = f"{acc * 100:.2f} %" if math.isfinite(acc) else "n/a"
    return shown, drop_text(accuracy_drop_points(record, baseline))


def latency_text(record: TrialRecord, baseline: Mapping[str, Any]) -> tuple[str, str]:
    """``("0.186\u00d7 dense", "0.327 ms")``."""
    ratio = latency_ratio(record, baseline)
    ms = number((record.measures or {}).get("latency_ms"))
    return (f"{ratio:.3g}\u00d7 dense" if math.isfinite(ratio) else "n/a",
            f"{ms:.3g} ms" if math.isfinite(ms) else "")


def size_ratio(record: TrialRecord, baseline: Mapping[str, Any]) -> float:
    m = record.measures or {}
    ratio = number(m.get("size_ratio"))
    if math.isfinite(ratio):
        return ratio
    base = number(m.get("baseline_size_bytes"))
    base = base if math.isfinite(base) and base > 0 else number(baseline.get("size_bytes"))
    return number(m.get("size_bytes")) / base if math.isfinite(base) and base > 0 else math.nan


def size_text(record: TrialRecord, baseline: Mapping[str, Any]) -> tuple[str, str, str]:
    """``("162.8 KiB", "0.138\u00d7 dense", "packed state_dict")``."""
    size = number((record.measures or {}).get("size_bytes"))
    ratio = size_ratio(record, baseline)
    return (human_bytes(size) if math.isfinite(size) else "n/a",
            f"{ratio:.3g}\u00d7 dense" if math.isfinite(ratio) else "",
            size_format(record.recipe or {}))
