"""Earlier home of the search controller, kept so that imports of its names still work.

The controller is split by job: options (``_options``), the result (``_result``), the
study (``_study``), the baseline (``_baseline``), the loop (``_loop``), its events and
callbacks (``_events``) and the entry point (``_api``).
"""

from __future__ import annotations

from autoprune.search._api import run_search, search
from autoprune.search._loop import SearchLoop
from autoprune.search._options import RunOptions
from autoprune.search._result import (
    RUN_FILE,
    SearchResult,
    compute_front,
    hypervolume_over_trials,
    open_run,
    record_point,
    trial_baseline,
    write_run_report,
)

__all__ = [
    "RUN_FILE",
    "RunOptions",
    "SearchLoop",
    "SearchResult",
    "compute_front",
    "hypervolume_over_trials",
    "open_run",
    "record_point",
    "run_search",
    "search",
    "trial_baseline",
    "write_run_report",
]
