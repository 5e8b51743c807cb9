"""The run report: one HTML page to pick a model from, with PNG plots beside it.

Matplotlib, scikit-learn and (optionally) plotly load only when a report is written.
"""

from __future__ import annotations

from autoprune.report._importance import recipe_importances
from autoprune.report._report import write_report

__all__ = ["write_report", "recipe_importances"]
