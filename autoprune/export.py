"""Export a pruned model for deployment, and check the export against the model."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from autoprune._io import atomic_path
from autoprune.errors import ConfigError, ExportError
from autoprune.pruning import granularity_of
from autoprune.recipe import Recipe
from autoprune.tasks import Task, call_model

__all__ = ["EXPORT_FORMATS", "KEEPS_SPARSITY", "TRIAL_RESULT", "TRIAL_MODEL", "export_model", "dense_export_size",
           "export_size", "format_bytes", "is_trial_dir", "open_trial_dir"]

EXPORT_FORMATS = ("state_dict", "torch_export", "onnx", "hf")
# Formats whose file shrinks with unstructured / N:M sparsity (packed tensors); the others
# store every weight dense, zeros included. Channel pruning shrinks every format.
KEEPS_SPARSITY = ("state_dict",)
_SUFFIX = {"state_dict": ".pt", "torch_export": ".pt2", "onnx": ".onnx", "hf": ""}  # torch.export.load wants .pt2
# what ``autoprune trial --out DIR`` writes
TRIAL_RESULT, TRIAL_MODEL = "result.json", "model.pt"


def _args_kwargs(inputs: Any) -> tuple[tuple, dict]:
    if isinstance(inputs, dict):
        return (), dict(inputs)
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs), {}
    return (inputs,), {}


def export_model(model: nn.Module, task: Task, *, format: str, output: Path, recipe: Recipe,
                 task_name: str, atol: float = 1e-4) -> Path:
    """Write ``model`` to ``output`` in ``format`` and check that the file reproduces it.

    Formats: ``state_dict`` (``torch.load(weights_only=True)``-safe file that
    :func:`autoprune.serialize.load_pruned` rebuilds), ``torch_export`` (an
    ``ExportedProgram`` saved with ``torch.export.save``, batch dimension dynamic),
    ``onnx`` (needs the ``onnx`` extra; checked with ONNX Runtime) and ``hf`` (Hugging
    Face models: a ``save_pretrained`` directory with the task's tokenizer or image
    processor, loaded back with :func:`autoprune.hf.from_pretrained`; see :mod:`autoprune.hf`).

    Raises:
        ConfigError: unknown format.
        ExportError: the export does not reproduce the model's outputs.
    """
    if format not in EXPORT_FORMATS:
        raise ConfigError(f"format must be one of {', '.join(EXPORT_FORMATS)}, but got format={format!r}.")
    output = Path(output)
    model = model.eval()
    inputs = task.example_input(2)
    with torch.inference_mode():
        expected = task.logits(call_model(model, inputs))
    if format == "hf":
        return _export_hf(model, task, inputs, expected, output, atol)
    with atomic_path(output) as tmp:  # a failed check leaves no file behind
        if format == "state_dict":
            from autoprune.serialize import load_pruned, save_pruned

            sparse = granularity_of(recipe).packed
            save_pruned(tmp, model, recipe=recipe, task_name=task_name, sparse=sparse)
            reloaded, _ = load_pruned(tmp, task)
            with torch.inference_mode():
                got = task.logits(call_model(reloaded.eval(), inputs))
        elif format == "torch_export":
            args, kwargs = _args_kwargs(inputs)
            batch = torch.export.Dim("batch", min=1, max=65536)
            program = torch.export.export(model, args, kwargs, dynamic_shapes=_dynamic_batch(args, kwargs, batch))
            torch.export.save(program, tmp)
            loaded = torch.export.load(tmp).module()
            with torch.inference_mode():
                got = task.logits(loaded(*args, **kwargs))
        else:
            got = _export_onnx(model, inputs, tmp)
        _check_close(expected, got, atol, format)
    return output


def is_trial_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is what ``autoprune trial --out`` wrote (``result.json`` and ``model.pt``)."""
    path = Path(path)
    return (path / TRIAL_RESULT).is_file() and (path / TRIAL_MODEL).is_file()


def open_trial_dir(path: str | os.PathLike[str], task: str | None = None) -> tuple[nn.Module, Recipe, Task]:
    """The model, recipe and task of a directory ``autoprune trial --out`` wrote.

    The directory is data: the task it names is built only when it is registered, or when
    the user names it again as ``task`` (a file or module task would run code from it).

    Raises:
        ConfigError: not such a directory, an unreadable ``result.json``, or a task that is
            not registered and not named.
        PrunedModelError: ``model.pt`` is not a pruned model of that task.
    """
    import json

    from autoprune.registry import TASKS
    from autoprune.serialize import load_pruned
    from autoprune.tasks import get_task

    path = Path(path)
    if not is_trial_dir(path):
        raise ConfigError(f"{str(path)!r} is not a trial directory (no {TRIAL_RESULT} and {TRIAL_MODEL}); allowed: "
                          f"what autoprune trial --out writes, or a search's run directory.")
    try:
        payload = json.loads((path / TRIAL_RESULT).read_bytes().decode("utf-8"))
        if not isinstance(payload, dict):
            raise ValueError(f"a {type(payload).__name__}, not an object")
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{str(path / TRIAL_RESULT)!r} is not valid JSON ({exc}); allowed: the {TRIAL_RESULT} "
                          f"autoprune trial writes.") from None
    spec = task or payload.get("task_spec") or payload.get("task")
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"{str(path / TRIAL_RESULT)!r} names no task; pass --task.")
    if task is None and spec not in TASKS:
        raise ConfigError(
            f"the trial names task={spec!r}, which is not a registered task, and autoprune does not run code named "
            f"in a trial directory; allowed: --task {spec} (task= in Python) once you trust that code, or a "
            f"registered task: {', '.join(TASKS.names())}.")
    seed = payload.get("seed") if isinstance(payload.get("seed"), int) else 0
    data_dir = payload.get("data_dir") if isinstance(payload.get("data_dir"), str) else None
    the_task = get_task(spec, seed=seed, data_dir=data_dir)
    model, info = load_pruned(path / TRIAL_MODEL, the_task)
    return model, info["recipe"], the_task
def _export_hf(model: nn.Module, task: Task, inputs: Any, expected: Any, output: Path, atol: float) -> Path:
    """A ``save_pretrained`` directory, written beside ``output`` and moved there once
    :func:`autoprune.hf.from_pretrained` reproduces the model's outputs from it."""
    from autoprune import hf

    output.parent.mkdir(parents=True, exist_ok=True)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"output={str(output)!r} is a file; allowed: a directory (format hf writes one).")
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}-") as d:
        scratch = Path(d) / "model"
        hf.save_pretrained(model, scratch, task=task)
        with torch.inference_mode():
            got = task.logits(call_model(hf.from_pretrained(scratch), inputs))
        _check_close(expected, got, atol, "hf")
        hf.replace_directory(scratch, output)
    return output


def dense_export_size(task: Task, format: str, task_name: str, directory: Path | None = None) -> int:
    """Bytes of the task's dense model exported in ``format``: the reference a pruned
    export's size is compared with (dense tensors: the size depends on the shapes only,
    so an untrained model of the task measures the same as the baseline). The scratch
    file goes to a temporary folder in ``directory`` (e.g. beside the real export) and is
    removed.
    """
    with tempfile.TemporaryDirectory(prefix=".autoprune-dense-", dir=directory) as d:
        path = export_model(task.build_model(), task, format=format, output=Path(d) / f"dense{_SUFFIX.get(format, '')}",
                            recipe=Recipe(), task_name=task_name)
        return export_size(path)


def export_size(path: Path) -> int:
    """Bytes of an export: a file, or every file of a directory (format hf)."""
    path = Path(path)
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def format_bytes(n: float) -> str:
    """Bytes in B, KiB or MiB.

    Example:
        >>> format_bytes(1_206_312), format_bytes(900), format_bytes(185_738)
        ('1.15 MiB', '900 B', '181.4 KiB')
    """
    if n < 1024:
        return f"{int(n)} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.2f} MiB"


def _dynamic_batch(args: tuple, kwargs: dict, dim: Any) -> Any:
    if kwargs:
        return {k: {0: dim} for k in kwargs}
    return tuple({0: dim} for _ in args)


def _export_onnx(model: nn.Module, inputs: Any, path: Path) -> torch.Tensor:
    from autoprune._imports import require

    require("onnx")
    ort = require("onnxruntime")
    args, kwargs = _args_kwargs(inputs)
    names = list(kwargs) if kwargs else [f"input_{i}" for i in range(len(args))]
    # the exporter may write external data next to the file: export to a scratch dir beside
    # the output (same filesystem, so the move cannot fail with EXDEV), then move
    with tempfile.TemporaryDirectory(dir=Path(path).parent, prefix=".onnx-") as d:
        scratch = Path(d) / "model.onnx"
        with _quiet_exporter():
            torch.onnx.export(model, args, str(scratch), kwargs=kwargs or None, input_names=names,
                              output_names=["output"], dynamo=True, external_data=False,
                              verbose=_verbose(), dynamic_shapes=_dynamic_batch(
                                  args, kwargs, torch.export.Dim("batch", min=1, max=65536)))
        os.replace(scratch, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {n: t.numpy() for n, t in zip(names, list(kwargs.values()) if kwargs else args)}
    return torch.from_numpy(session.run(None, feed)[0])


def _verbose() -> bool:
    """``autoprune -v`` (INFO logging) shows the exporter's progress lines and warnings."""
    return logging.getLogger("autoprune").isEnabledFor(logging.INFO)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The ONNX exporter's warnings (absent torchvision ops, deprecations) hidden unless verbose:
    the export is checked against the model right after, which is what the user needs to know."""
    if _verbose():
        yield
        return
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _first(outputs: Any) -> Any:
    """The first tensor of an output: a tuple's first item, a Hugging Face output's first field."""
    if isinstance(outputs, (tuple, list)):
        return outputs[0]
    if isinstance(outputs, dict):  # transformers' ModelOutput is an OrderedDict of its set fields
        return next(iter(outputs.values()))
    return outputs


def _check_close(expected: Any, got: Any, atol: float, format: str) -> None:
    expected, got = _first(expected), _first(got)
    if expected.shape != got.shape or not torch.allclose(expected.float(), got.float(), atol=atol, rtol=1e-4):
        diff = (expected.float() - got.float()).abs().max().item() if expected.shape == got.shape else "shape"
        raise ExportError(f"the {format} export does not reproduce the model's outputs (max abs diff {diff}).")
