"""The run report: one self-contained HTML page with the Pareto front, tables and plots.

Matplotlib and scikit-learn load only when a report is written.
"""

from __future__ import annotations

from autoprune.report._importance import recipe_importances
from autoprune.report._report import write_report

__all__ = ["write_report", "recipe_importances"]
