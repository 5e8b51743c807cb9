"""Built-in tasks by name, and user tasks from ``pkg.mod:attr`` or ``path/file.py:attr``."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from autoprune.errors import ConfigError, TaskError
from autoprune.registry import TASKS
from autoprune.tasks._base import Task

__all__ = ["BUILTIN_TASKS", "TASKS", "register_task", "get_task", "load_task", "check_task", "check_task_spec",
           "task_from_flags",
           "task_label"]


def _digits_mlp(seed: int, data_dir: str | None) -> Task:
    from autoprune.tasks._digits import DigitsMLP

    return DigitsMLP(seed=seed)


def _digits_cnn(seed: int, data_dir: str | None) -> Task:
    from autoprune.tasks._digits import DigitsCNN

    return DigitsCNN(seed=seed)


def _fashion_cnn(seed: int, data_dir: str | None) -> Task:
    from autoprune.tasks._fashion import FashionMNISTCNN

    return FashionMNISTCNN(seed=seed, data_dir=data_dir)


def _hf_text(seed: int, data_dir: str | None, **options: Any) -> Task:
    from autoprune.tasks.hf import HFTextClassification

    return HFTextClassification(seed=seed, data_dir=data_dir, **options)


def _hf_image(seed: int, data_dir: str | None, **options: Any) -> Task:
    from autoprune.tasks.hf import HFImageClassification

    return HFImageClassification(seed=seed, data_dir=data_dir, **options)


def _options(module: str, name: str) -> Callable[[], dict[str, Any]]:
    # the option table, read when a space is checked (the module does not import transformers)
    return lambda: getattr(importlib.import_module(module), name)


# kinds that take options (a ``task:`` mapping): factory(seed, data_dir, **options)
_HF_KINDS = {
    "hf-text-classification": (_hf_text, "Hugging Face sequence classifier from a directory + CSV / JSONL / "
                               "folder text (task: {kind, model, data, ...})",
                               _options("autoprune.tasks.hf._text", "TEXT_OPTIONS")),
    "hf-image-classification": (_hf_image, "Hugging Face image classifier from a directory + image folders or "
                                "idx files (task: {kind, model, data, ...})",
                                _options("autoprune.tasks.hf._image", "IMAGE_OPTIONS")),
}
_REQUIRED_OPTIONS = ("model", "data")

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
for _name, (_factory, _description, _table) in _HF_KINDS.items():
    _factory.options = _table  # type: ignore[attr-defined]
    _factory.required = _REQUIRED_OPTIONS  # type: ignore[attr-defined]
    register_task(_name, _factory, _description, replace=True)


def check_task_spec(spec: Any) -> str | dict[str, Any]:
    """A ``task`` setting checked without building anything: a name / ``pkg.mod:attr`` /
    ``file.py:attr`` string, or a mapping ``{kind: NAME, OPTION: VALUE, ...}`` whose kind
    is registered with options (``hf-text-classification``, ``hf-image-classification``)
    and whose option names that kind takes. Files are checked when the task is built.

    Raises:
        ConfigError: one line naming the key, the value and what is allowed.
    """
    if isinstance(spec, str) and spec.strip():
        return spec
    if not isinstance(spec, Mapping):
        raise ConfigError(f"task must be a task name, pkg.mod:attr, file.py:attr or a mapping "
                          f"{{kind: ..., model: ..., data: ...}}, but got task={spec!r}.")
    kinds = [n for n, f in TASKS.items() if callable(getattr(f, "options", None))]
    kind = spec.get("kind")
    if kind not in kinds:
        raise ConfigError(f"task.kind must be one of {', '.join(kinds)}, but got kind={kind!r}.")
    factory = TASKS.get(kind)
    table = factory.options()
    from autoprune.tasks.hf._common import check_options

    options = {k: v for k, v in spec.items() if k != "kind"}
    check_options(kind, options, table, getattr(factory, "required", ()))
    return {"kind": kind, **options}


def task_label(spec: Any) -> str:
    """A task setting in one line, for displays: the string, or ``kind(model=..., data=...)``."""
    if isinstance(spec, Mapping):
        shown = ", ".join(f"{k}={spec[k]}" for k in ("model", "data") if spec.get(k) is not None)
        return f"{spec.get('kind')}({shown})"
    return str(spec)


def get_task(spec: str | Mapping[str, Any] | Task, seed: int = 0, data_dir: str | None = None) -> Task:
    """Resolve a task: a registered name, ``pkg.module:attr``, ``path/file.py:attr``, a
    mapping ``{kind: NAME, OPTION: VALUE, ...}`` (the Hugging Face tasks) or a Task.

    ``attr`` may be a Task instance, a Task subclass or a factory; classes and factories
    receive ``seed=`` when they accept it (and ``data_dir=`` likewise).
    """
    if isinstance(spec, Task):
        return check_task(spec)
    if isinstance(spec, Mapping):  # {kind: hf-text-classification, model: ..., data: ...}
        spec = check_task_spec(spec)
        options = {k: v for k, v in spec.items() if k != "kind"}
        try:
            return check_task(TASKS.get(spec["kind"])(seed, data_dir, **options))
        except ConfigError as exc:
            raise ConfigError(_in_task(str(exc))) from None
    if spec in TASKS and callable(getattr(TASKS.get(spec), "options", None)):
        raise TaskError(f"task={spec!r} needs options: in a space, task: {{kind: {spec}, model: DIR, data: PATH}}; "
                        f"on the command line, --task {spec} --model DIR --data PATH.")
    if spec in TASKS:
        return check_task(TASKS.get(spec)(seed, data_dir))
    if ":" not in spec:
        raise TaskError(
            f"task={spec!r} is neither a built-in task ({', '.join(TASKS.names())}) "
            f"nor of the form 'pkg.module:attr' or 'path/file.py:attr'."
        )
    return check_task(_instantiate(load_task(spec), spec, seed, data_dir))


def _in_task(message: str) -> str:
    """A task option's error, named as the space writes it (``task.model: ...``)."""
    return message if message.startswith("task.") else f"task.{message}"


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


def task_from_flags(base: Any, task: str | None, model: str | None, data: str | None,
                    options: list[str] | None = None) -> Any:
    """The task the command line asks for: ``--task`` alone as given, or with ``--model``,
    ``--data`` and ``--task-option KEY=VALUE`` (values read as YAML scalars) a mapping for
    a kind that takes options. Without ``--task`` the flags update ``base`` (the space's
    task), which must then be such a mapping. None: no flag given.

    Raises:
        ConfigError: an option flag without a kind to apply it to, or a bad option.
    """
    options = list(options or [])
    if model is None and data is None and not options:
        return task
    if task is not None:
        if not callable(getattr(TASKS.get(task) if task in TASKS else None, "options", None)):
            kinds = [n for n, f in TASKS.items() if callable(getattr(f, "options", None))]
            raise ConfigError(f"--model, --data and --task-option need --task to name a kind that takes them "
                              f"({', '.join(kinds)}), but got --task {task}.")
        spec = dict(base) if isinstance(base, Mapping) and base.get("kind") == task else {"kind": task}
    elif isinstance(base, Mapping):
        spec = dict(base)
    else:
        raise ConfigError(f"--model, --data and --task-option need --task KIND (e.g. --task hf-text-classification) "
                          f"when the space's task is {base!r}.")
    import yaml

    for text in options:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--task-option must be KEY=VALUE (e.g. max_length=64), but got {text!r}.")
        spec[key.strip()] = yaml.safe_load(value) if value.strip() else None
    spec.update({k: v for k, v in (("model", model), ("data", data)) if v is not None})
    return check_task_spec(spec)
