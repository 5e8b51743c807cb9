"""autoprune: AutoML pruning search for PyTorch.

``import autoprune`` loads only the core (torch, torch-pruning, optuna, scikit-learn);
Ray, FLAML, Neptune and ONNX load when a feature that needs them is used.

Example:
    >>> import autoprune
    >>> result = autoprune.run_search("search_spaces/default.yaml", trials=4)  # doctest: +SKIP
    >>> result.knee.number  # doctest: +SKIP
"""

# the pruning layer first: importing it registers the criteria, granularities, ... that
# recipes and search spaces are checked against
from autoprune import pruning  # noqa: F401
from autoprune.baseline import get_baseline
from autoprune.errors import (
    AutopruneError,
    ConfigError,
    DataError,
    MissingDependencyError,
    TaskError,
)
from autoprune.measure import LatencyConfig
from autoprune.recipe import Recipe
from autoprune.result import TrialResult, TrialStatus

# ``autoprune.search`` is the subpackage (callable for a while as the old search function,
# with a FutureWarning; see autoprune/search/__init__.py); ``run_search`` runs a search.
from autoprune.search import (
    Executor,
    RunOptions,
    SearchCallback,
    SearchResult,
    TrialRecord,
    open_run,
    run_search,
)
from autoprune.search.trial_pruners import Decision, RunningTrial, TrialHistory, TrialPruner
from autoprune.tasks import ModelTask, Task, get_task, load_weights
from autoprune.tracking import Tracker
from autoprune.trial import run_trial

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "AutopruneError",
    "ConfigError",
    "DataError",
    "MissingDependencyError",
    "TaskError",
    "run_search",
    "open_run",
    "RunOptions",
    "SearchResult",
    "SearchCallback",
    "run_trial",
    "get_baseline",
    "LatencyConfig",
    "Recipe",
    "Task",
    "ModelTask",
    "load_weights",
    "get_task",
    "TrialResult",
    "TrialStatus",
    "TrialRecord",
    "Tracker",
    "Executor",
    "RunningTrial",
    "TrialHistory",
    "TrialPruner",
    "Decision",
]
