"""autoprune: AutoML pruning search for PyTorch.

``import autoprune`` loads only the core (torch, torch-pruning, optuna, scikit-learn);
Ray, FLAML, Neptune and ONNX load when a feature that needs them is used.
"""

from autoprune.errors import AutopruneError, ConfigError, DataError, MissingDependencyError, TaskError
from autoprune.recipe import Recipe
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
    "Task",
    "get_task",
]
