"""autoprune: AutoML pruning search for PyTorch.

``import autoprune`` loads only the core (torch, torch-pruning, optuna, scikit-learn);
Ray, FLAML, Neptune and ONNX load when a feature that needs them is used.
"""

from autoprune.errors import (
    AutopruneError,
    ConfigError,
    DataError,
    MissingDependencyError,
    TaskError,
)
from autoprune.recipe import Recipe
from autoprune.result import TrialResult, TrialStatus

# ``autoprune.search(...)`` is the entry point; the subpackage stays importable as
# ``from autoprune.search import ...`` (it lives in sys.modules under that name).
from autoprune.search import (
    RunOptions,
    SearchResult,
    open_run,
    search,  # shadows the subpackage attribute on purpose
)
from autoprune.tasks import Task, get_task

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "AutopruneError",
    "ConfigError",
    "DataError",
    "MissingDependencyError",
    "TaskError",
    "Recipe",
    "RunOptions",
    "SearchResult",
    "Task",
    "TrialResult",
    "TrialStatus",
    "get_task",
    "open_run",
    "search",
]
