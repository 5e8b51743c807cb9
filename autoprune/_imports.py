"""Lazy imports of the optional extras, failing with the exact install command."""

from __future__ import annotations

import importlib
from types import ModuleType

from autoprune.errors import MissingDependencyError

# module name -> extra that provides it
_EXTRAS = {
    "ray": "ray",
    "flaml": "flaml",
    "neptune": "neptune",
    "mlflow": "mlflow",
    "pandas": "pandas",
    "onnx": "onnx",
    "onnxruntime": "onnx",
}


def require(module: str) -> ModuleType:
    """Import an optional dependency or raise :class:`MissingDependencyError`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = _EXTRAS.get(module.split(".")[0], module)
        raise MissingDependencyError(
            f"{module!r} is not installed; run: pip install 'autoprune[{extra}]' ({exc})"
        ) from exc
