"""Exceptions raised by autoprune.

Everything a user can get wrong raises a subclass of :class:`AutopruneError`; the CLI
turns those into one line and exit status 2. Anything else is a bug.
"""

from __future__ import annotations

__all__ = [
    "AutopruneError",
    "ConfigError",
    "TaskError",
    "DataError",
    "MissingDependencyError",
    "TrialFailedError",
    "ExportError",
    "PrunedModelError",
]


class AutopruneError(Exception):
    """Root of every error autoprune raises on purpose."""


class ConfigError(AutopruneError, ValueError):
    """A recipe, search space, CLI flag or storage setting is invalid."""


class TaskError(AutopruneError, ValueError):
    """A task cannot be loaded or does not follow the Task protocol."""


class DataError(AutopruneError, FileNotFoundError):
    """A data set a task needs is missing or malformed."""


class MissingDependencyError(AutopruneError, ImportError):
    """An optional extra (ray, flaml, neptune, onnx) is needed but not installed."""


class TrialFailedError(AutopruneError, RuntimeError):
    """A trial could not produce a valid result (e.g. its metric was NaN)."""


class ExportError(AutopruneError, RuntimeError):
    """An exported model does not reproduce the pruned model's outputs."""


class PrunedModelError(AutopruneError, ValueError):
    """A pruned-model file is missing, unreadable, foreign, or does not fit the task."""
