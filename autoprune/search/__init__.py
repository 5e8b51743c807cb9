"""The search: spaces, the controller, backends, executors, trial pruners, Pareto fronts."""

from autoprune.search._controller import (
    RunOptions,
    SearchResult,
    compute_front,
    open_run,
    search,
)
from autoprune.search._executors import Executor, LocalExecutor, TrialJob, TrialOutcome
from autoprune.search._pareto import (
    default_reference,
    hypervolume,
    knee_point,
    normalize,
    pareto_front,
)
from autoprune.search._records import TrialRecord
from autoprune.search._space import SearchSpace, load_space, parse_space
from autoprune.search.trial_pruners import ParetoTrialPruner, TrialPruner

__all__ = [
    "RunOptions",
    "SearchResult",
    "SearchSpace",
    "TrialRecord",
    "Executor",
    "LocalExecutor",
    "TrialJob",
    "TrialOutcome",
    "TrialPruner",
    "ParetoTrialPruner",
    "compute_front",
    "default_reference",
    "hypervolume",
    "knee_point",
    "load_space",
    "normalize",
    "open_run",
    "pareto_front",
    "parse_space",
    "search",
]
