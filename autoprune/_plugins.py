"""Plug-ins: user modules that register implementations when imported.

A plug-in is an ordinary module whose import registers criteria, granularities,
allocations, schedules, timings (or any other extension point of
:mod:`autoprune.registry`)::

    autoprune --plugin examples/custom_pruning.py trial --set granularity=block
    autoprune --plugin mypkg.pruning search ...

Installed packages can also declare an entry point in the group ``autoprune.plugins``
(``[project.entry-points."autoprune.plugins"] mine = "mypkg.pruning"``); the CLI loads
those before it resolves any name.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterable

from autoprune.errors import ConfigError

__all__ = ["ENTRY_POINT_GROUP", "load_plugin", "load_plugins", "load_entry_point_plugins", "loaded_plugins"]

ENTRY_POINT_GROUP = "autoprune.plugins"

_loaded: dict[str, ModuleType] = {}  # spec as given -> module; a plug-in registers only once


def load_plugin(spec: str) -> ModuleType:
    """Import the plug-in ``spec``: a module name (``pkg.module``) or a file (``path/to/file.py``).

    Importing a module twice is a no-op, so registrations happen once per process.

    Raises:
        ConfigError: the file does not exist or the module fails to import (one line,
            naming the plug-in and the error).

    Example:
        >>> load_plugin("autoprune.pruning").__name__
        'autoprune.pruning'
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"plugin must be a module name or a .py file, but got plugin={spec!r}.")
    if spec in _loaded:
        return _loaded[spec]
    try:
        if spec.endswith(".py"):
            module = _import_file(spec)
        else:
            module = importlib.import_module(spec)
    except ConfigError:
        raise
    except Exception as exc:  # the user's module failed: one line, not a traceback
        raise ConfigError(f"plugin={spec!r} failed to import: {type(exc).__name__}: {exc}") from exc
    _loaded[spec] = module
    return module


def _import_file(spec: str) -> ModuleType:
    path = Path(spec).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"plugin={spec!r}: file {str(path)!r} does not exist.")
    # a stable name per file (never Python's salted hash()), so a file imported twice is one module
    name = f"autoprune_plugin_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ConfigError(f"plugin={spec!r}: {str(path)!r} cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # so pickling and dataclasses can find its classes
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_entry_point_plugins(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Load every installed entry point of ``group``; returns their names.

    Raises:
        ConfigError: an entry point fails to load.
    """
    names = []
    for ep in importlib.metadata.entry_points(group=group):
        key = f"entry-point:{ep.name}={ep.value}"
        if key in _loaded:
            names.append(ep.name)
            continue
        try:
            obj = ep.load()
        except Exception as exc:
            raise ConfigError(
                f"plugin entry point {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}"
            ) from exc
        _loaded[key] = obj if isinstance(obj, ModuleType) else sys.modules[ep.module]
        names.append(ep.name)
    return names


def load_plugins(specs: Iterable[str] = (), *, entry_points: bool = True) -> list[ModuleType]:
    """Load the installed entry-point plug-ins (unless ``entry_points=False``), then ``specs``."""
    if entry_points:
        load_entry_point_plugins()
    return [load_plugin(spec) for spec in specs]


def loaded_plugins() -> tuple[str, ...]:
    """The plug-in specs loaded in this process (e.g. to load them again in a worker)."""
    return tuple(k for k in _loaded if not k.startswith("entry-point:"))
