"""Pretrained weights into a model, with a one-line error when they do not fit it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from autoprune.errors import TaskError

__all__ = ["load_weights", "read_state_dict"]

_ALLOWED = "allowed: a state_dict saved from this model (torch.save(model.state_dict(), path))"


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a weights file: a state_dict written by ``torch.save`` (``.pt``, ``.pth``,
    ``.bin``; also a checkpoint dict holding one under ``state_dict`` or ``model``) or a
    ``.safetensors`` file. Read with ``weights_only=True``, onto the CPU.

    Raises:
        TaskError: the file is missing, unreadable or holds no state_dict.
    """
    file = Path(path)
    if not file.is_file():
        raise TaskError(f"weights file {str(file)!r} does not exist; {_ALLOWED}.")
    try:
        if file.suffix == ".safetensors":
            from safetensors.torch import load_file

            data: Any = load_file(str(file), device="cpu")
        else:
            data = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # any reader's failure means the file cannot be used
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise TaskError(f"weights file {str(file)!r} cannot be read ({type(exc).__name__}: {detail}); "
                        f"{_ALLOWED}.") from None
    if isinstance(data, Mapping) and not all(isinstance(v, torch.Tensor) for v in data.values()):
        for key in ("state_dict", "model"):  # a training checkpoint
            if isinstance(data.get(key), Mapping):
                data = data[key]
                break
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise TaskError(f"weights file {str(file)!r} holds a {type(data).__name__}, not a state_dict; {_ALLOWED}.")
    return dict(data)


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> nn.Module:
    """Load the weights file ``path`` into ``model`` (every key, every shape) and return it.

    Use it in a task's ``build_model`` to start from pretrained weights; the task's
    fingerprint then changes whenever the file's weights do.

    Raises:
        TaskError: one line naming the file and the first key that is missing, unexpected
            or of another shape.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "w.pt")
        >>> torch.save(nn.Linear(2, 2).state_dict(), path)
        >>> load_weights(nn.Linear(2, 2), path).weight.shape
        torch.Size([2, 2])
    """
    state = read_state_dict(path)
    own = model.state_dict()
    shown = str(Path(path))
    for key, value in own.items():
        if key not in state:
            raise TaskError(f"weights file {shown!r} does not match the model: key {key!r} "
                            f"(shape {list(value.shape)}) is missing from the file; {_ALLOWED}.")
        if tuple(state[key].shape) != tuple(value.shape):
            raise TaskError(f"weights file {shown!r} does not match the model: key {key!r} has shape "
                            f"{list(state[key].shape)} in the file, {list(value.shape)} in the model; {_ALLOWED}.")
    extra = [k for k in state if k not in own]
    if extra:
        raise TaskError(f"weights file {shown!r} does not match the model: key {extra[0]!r} is not in the model"
                        f"{f' ({len(extra)} such keys)' if len(extra) > 1 else ''}; {_ALLOWED}.")
    model.load_state_dict(state)
    return model
