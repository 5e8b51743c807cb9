"""Built-in tasks by name, and user tasks from ``pkg.mod:attr`` or ``path/file.py:attr``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Callable

from autoprune.errors import TaskError
from autoprune.registry import TASKS
from autoprune.tasks._base import Task

__all__ = ["BUILTIN_TASKS", "TASKS", "register_task", "get_task", "load_task", "check_task"]


def _digits_mlp(seed: int, data_dir: str | None) -> Task:
    from autoprune.tasks._digits import DigitsMLP

    return DigitsMLP(seed=seed)


def _digits_cnn(seed: int, data_dir: str | None) -> Task:
    from autoprune.tasks._digits import DigitsCNN

    return DigitsCNN(seed=seed)


def _fashion_cnn(seed: int, data_dir: str | None) -> Task:
    from autoprune.tasks._fashion import FashionMNISTCNN

    return FashionMNISTCNN(seed=seed, data_dir=data_dir)


# name -> (factory(seed, data_dir), one-line description)
BUILTIN_TASKS: dict[str, tuple[Callable[[int, str | None], Task], str]] = {
    "digits-mlp": (_digits_mlp, "MLP 64-512-512-10 on scikit-learn's bundled digits (8x8, 10 classes)"),
    "digits-cnn": (_digits_cnn, "small CNN with batch norm on scikit-learn's bundled digits"),
    "fashion-mnist-cnn": (
        _fashion_cnn,
        "small CNN on Fashion-MNIST idx files (--data-dir, $AUTOPRUNE_DATA_DIR or /usr/share/datasets/fashion-mnist)",
    ),
}


def register_task(name: str, factory: Callable[[int, str | None], Task], description: str = "", *,
                  replace: bool = False) -> None:
    """Register a task under ``name`` in :data:`autoprune.registry.TASKS`.

    Args:
        name: what ``task:`` in a space or ``--task`` names.
        factory: ``factory(seed, data_dir) -> Task``.
        description: one line for ``autoprune tasks``.
        replace: override an entry of that name.
    """
    factory.description = description  # type: ignore[attr-defined]
    TASKS.register(name, factory, replace=replace)


# replace=True: a fresh import of this module (tests reload modules) registers again
for _name, (_factory, _description) in BUILTIN_TASKS.items():
    register_task(_name, _factory, _description, replace=True)


def get_task(spec: str | Task, seed: int = 0, data_dir: str | None = None) -> Task:
    """Resolve a task: a registered name, ``pkg.module:attr``, ``path/file.py:attr`` or a Task.

    ``attr`` may be a Task instance, a Task subclass or a factory; classes and factories
    receive ``seed=`` when they accept it (and ``data_dir=`` likewise).
    """
    if isinstance(spec, Task):
        return check_task(spec)
    if spec in TASKS:
        return check_task(TASKS.get(spec)(seed, data_dir))
    if ":" not in spec:
        raise TaskError(
            f"task={spec!r} is neither a built-in task ({', '.join(TASKS.names())}) "
            f"nor of the form 'pkg.module:attr' or 'path/file.py:attr'."
        )
    return check_task(_instantiate(load_task(spec), spec, seed, data_dir))


def load_task(spec: str) -> Any:
    """Import the object named by ``pkg.module:attr`` or ``path/file.py:attr``."""
    module_part, _, attr = spec.rpartition(":")
    try:
        if module_part.endswith(".py"):
            path = Path(module_part).expanduser().resolve()
            if not path.is_file():
                raise TaskError(f"task={spec!r}: file {str(path)!r} does not exist.")
            # a name of the path's SHA-256, not of Python's salted hash(): the same in
            # every process, so classes and pickles (Ray) name the module alike
            mod_name = f"autoprune_user_task_{hashlib.sha256(str(path).encode()).hexdigest()[:16]}"
            module_spec = importlib.util.spec_from_file_location(mod_name, path)
            module = importlib.util.module_from_spec(module_spec)  # type: ignore[arg-type]
            sys.modules[mod_name] = module  # so pickling (Ray) and dataclasses can find it
            module_spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            module = importlib.import_module(module_part)
    except TaskError:
        raise
    except Exception as exc:  # the user's module failed to import: report it in one line
        raise TaskError(f"task={spec!r} failed to import: {type(exc).__name__}: {exc}") from exc
    if not hasattr(module, attr):
        raise TaskError(f"task={spec!r}: module {module_part!r} has no attribute {attr!r}.")
    return getattr(module, attr)


def _instantiate(obj: Any, spec: str, seed: int, data_dir: str | None) -> Any:
    if isinstance(obj, Task):
        return obj
    if callable(obj):
        try:
            params = inspect.signature(obj).parameters
        except (TypeError, ValueError):
            params = {}
        kwargs = {k: v for k, v in (("seed", seed), ("data_dir", data_dir)) if k in params}
        try:
            return obj(**kwargs)
        except Exception as exc:
            raise TaskError(f"task={spec!r}: creating the task failed: {type(exc).__name__}: {exc}") from exc
    raise TaskError(f"task={spec!r} must name a Task instance, Task subclass or factory, got {type(obj).__name__}.")


_REQUIRED = ("build_model", "train_batches", "val_batches", "example_input", "training_step", "evaluate")


def check_task(task: Any) -> Task:
    """Check that ``task`` follows the Task protocol; raise TaskError naming what is missing."""
    if not isinstance(task, Task):
        missing = [m for m in _REQUIRED if not callable(getattr(task, m, None))]
        raise TaskError(
            f"task {task!r} does not follow the Task protocol: it must subclass autoprune.Task"
            + (f" (missing: {', '.join(missing)})" if missing else "")
            + "."
        )
    # baseline_epochs 0: the model build_model returns (pretrained) is the baseline
    for attr, low in (("benchmark_batch_size", 1), ("baseline_epochs", 0)):
        value = getattr(task, attr)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise TaskError(f"task {task.name!r}: {attr} must be an integer >= {low}, but got {attr}={value!r}.")
    lr = getattr(task, "baseline_lr")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (lr >= 0 and lr < float("inf")):
        raise TaskError(f"task {task.name!r}: baseline_lr must be a finite number >= 0, but got baseline_lr={lr!r}.")
    return task
