"""The search: spaces, the loop, backends, executors, trial pruners, Pareto fronts.

``autoprune.run_search(...)`` runs a search. ``autoprune.search`` is this subpackage; the
earlier spelling ``autoprune.search(...)`` still runs a search, with a FutureWarning.
"""

from __future__ import annotations

import sys
import types
import warnings
from typing import Any

from autoprune.search import _ray  # noqa: F401  (registers the ray executor; ray loads on use)
from autoprune.search import backends  # noqa: F401  (registers the optuna and flaml backends)
from autoprune.search._api import run_search, search
from autoprune.search._events import (
    BaselineEpoch,
    BaselineReady,
    ProgressPrinter,
    ReportWriter,
    SearchCallback,
    SearchFinished,
    SearchStarted,
    TrackerCallback,
    TrialDecided,
    TrialFinished,
    TrialReported,
    TrialStarted,
)
from autoprune.search._progress import LiveProgress, make_progress
from autoprune.search._executors import Executor, ExecutorContext, LocalExecutor, TrialJob, TrialOutcome
from autoprune.search._options import RunOptions
from autoprune.search._pareto import (
    default_reference,
    hypervolume,
    knee_point,
    normalize,
    pareto_front,
)
from autoprune.search._records import TrialRecord
from autoprune.search._result import SearchResult, compute_front, open_run, write_run_report
from autoprune.search._space import SearchSpace, load_space, parse_space
from autoprune.search.trial_pruners import ParetoTrialPruner, TrialPruner

__all__ = [
    "run_search",
    "open_run",
    "RunOptions",
    "SearchResult",
    "SearchSpace",
    "TrialRecord",
    "Executor",
    "ExecutorContext",
    "LocalExecutor",
    "TrialJob",
    "TrialOutcome",
    "TrialPruner",
    "ParetoTrialPruner",
    "SearchCallback",
    "SearchStarted",
    "BaselineEpoch",
    "BaselineReady",
    "TrialStarted",
    "TrialReported",
    "TrialDecided",
    "TrialFinished",
    "SearchFinished",
    "ProgressPrinter",
    "LiveProgress",
    "make_progress",
    "ReportWriter",
    "TrackerCallback",
    "compute_front",
    "default_reference",
    "hypervolume",
    "knee_point",
    "load_space",
    "normalize",
    "pareto_front",
    "parse_space",
    "write_run_report",
    "search",
]


class _CallableModule(types.ModuleType):
    """This subpackage, callable as the search function it used to be hidden by.

    ``autoprune.search`` was once a function that shadowed the subpackage of the same name,
    so ``import autoprune.search`` gave the function. The subpackage now keeps its name; to
    keep ``autoprune.search(...)`` in user code working for a while, the module object
    itself forwards a call to :func:`run_search`, with a FutureWarning.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        warnings.warn("autoprune.search(...) is deprecated; call autoprune.run_search(...) instead.",
                      FutureWarning, stacklevel=2)
        return run_search(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
