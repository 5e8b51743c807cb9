"""Export a pruned model for deployment, and check the export against the model."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autoprune._io import atomic_path
from autoprune.errors import ConfigError, ExportError
from autoprune.pruning import granularity_of
from autoprune.recipe import Recipe
from autoprune.tasks import Task, call_model

__all__ = ["EXPORT_FORMATS", "export_model"]

EXPORT_FORMATS = ("state_dict", "torch_export", "onnx")


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
    ``ExportedProgram`` saved with ``torch.export.save``, batch dimension dynamic) and
    ``onnx`` (needs the ``onnx`` extra; checked with ONNX Runtime).

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
        expected = call_model(model, inputs)
    with atomic_path(output) as tmp:  # a failed check leaves no file behind
        if format == "state_dict":
            from autoprune.serialize import load_pruned, save_pruned

            sparse = granularity_of(recipe).packed
            save_pruned(tmp, model, recipe=recipe, task_name=task_name, sparse=sparse)
            reloaded, _ = load_pruned(tmp, task)
            with torch.inference_mode():
                got = call_model(reloaded.eval(), inputs)
        elif format == "torch_export":
            args, kwargs = _args_kwargs(inputs)
            batch = torch.export.Dim("batch", min=1, max=65536)
            program = torch.export.export(model, args, kwargs, dynamic_shapes=_dynamic_batch(args, kwargs, batch))
            torch.export.save(program, tmp)
            loaded = torch.export.load(tmp).module()
            with torch.inference_mode():
                got = loaded(*args, **kwargs)
        else:
            got = _export_onnx(model, inputs, tmp)
        _check_close(expected, got, atol, format)
    return output


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
        torch.onnx.export(model, args, str(scratch), kwargs=kwargs or None, input_names=names,
                          output_names=["output"], dynamo=True, external_data=False,
                          dynamic_shapes=_dynamic_batch(args, kwargs, torch.export.Dim("batch", min=1, max=65536)))
        os.replace(scratch, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {n: t.numpy() for n, t in zip(names, list(kwargs.values()) if kwargs else args)}
    return torch.from_numpy(session.run(None, feed)[0])


def _check_close(expected: Any, got: Any, atol: float, format: str) -> None:
    if isinstance(expected, (tuple, list)):
        expected = expected[0]
    if isinstance(got, (tuple, list)):
        got = got[0]
    if expected.shape != got.shape or not torch.allclose(expected.float(), got.float(), atol=atol, rtol=1e-4):
        diff = (expected.float() - got.float()).abs().max().item() if expected.shape == got.shape else "shape"
        raise ExportError(f"the {format} export does not reproduce the model's outputs (max abs diff {diff}).")
