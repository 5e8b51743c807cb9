"""Where models run: the ``device`` and ``amp`` settings of a search or a trial.

One rule holds everywhere: batches follow the model. The model is moved to the device
once; every place that feeds it (training, evaluation, calibration, scoring, latency)
moves each batch to the device of the model's parameters with
:func:`autoprune.tasks.to_device`. Data stays where the task produces it (usually the
CPU).

Devices:

- ``auto``: ``cuda:0`` when CUDA is available, else ``cpu`` (the default of a search
  and of ``autoprune trial``);
- ``cpu``; ``cuda`` (the current CUDA device, ``cuda:0`` unless set otherwise);
  ``cuda:N``.

Inside a Ray worker given GPUs (``gpus_per_trial`` > 0), Ray makes only those GPUs
visible: the trial runs on ``cuda:0`` of what it was given (:func:`worker_device`).

Mixed precision (``amp``) applies to fine-tuning: ``bf16`` (CPU or CUDA) or ``fp16``
(CUDA only, with a gradient scaler); ``None`` trains in float32.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, ContextManager

import torch

from autoprune.errors import ConfigError

__all__ = [
    "DEVICE_CHOICES",
    "AMP_CHOICES",
    "amp_mode",
    "check_device",
    "resolve_device",
    "check_amp",
    "autocast",
    "grad_scaler",
    "worker_device",
]

#: what ``device`` accepts (``cuda:N``: N a device index)
DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")
#: what ``amp`` accepts (None: float32)
AMP_CHOICES = (None, "bf16", "fp16")

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_device(value: Any, field: str = "device") -> str:
    """``value`` if it is spelled like a device (``auto``, ``cpu``, ``cuda``, ``cuda:N``),
    whatever this machine has; the value normalised (lower case, no spaces).

    Raises:
        ConfigError: any other value, naming ``field``.
    """
    text = value.strip().lower() if isinstance(value, str) else value
    if not isinstance(text, str) or not _DEVICE_RE.match(text):
        raise ConfigError(f"{field} must be one of {', '.join(DEVICE_CHOICES)}, but got {field}={value!r}.")
    return text


def resolve_device(value: str | torch.device, field: str = "device") -> torch.device:
    """The torch device ``value`` names on this machine.

    Args:
        value: ``auto`` (``cuda:0`` when CUDA is available, else ``cpu``), ``cpu``,
            ``cuda``, ``cuda:N``, or a ``torch.device``.
        field: the setting named in errors (``device``, ``latency.device``).

    Raises:
        ConfigError: a value not of that form, CUDA asked for on a machine without it, or
            a CUDA index this machine does not have.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    text = check_device(str(value) if isinstance(value, torch.device) else value, field)
    if text == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"{field}={text!r} but CUDA is not available on this machine; allowed: cpu or auto.")
    device = torch.device(text)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ConfigError(f"{field}={text!r} but this machine has {count} CUDA device(s); "
                          f"allowed: cuda:0 to cuda:{count - 1}, cpu or auto.")
    return device


def amp_mode(value: str | None) -> str | None:
    """The mixed precision a setting asks for: ``"none"`` (how a run records "off", and the
    CLI's way to turn a space's amp off) and None both mean float32."""
    return None if value in (None, "none") else value


def check_amp(amp: Any, device: str | torch.device | None = None, field: str = "amp") -> None:
    """``amp`` is None, ``bf16`` or ``fp16``, and ``device`` can run it.

    ``fp16`` needs CUDA (CPU kernels in half precision are slow and its gradient scaler
    is for CUDA); ``bf16`` runs on both.

    Raises:
        ConfigError: another value, or ``fp16`` on the CPU.
    """
    if amp not in AMP_CHOICES:
        raise ConfigError(f"{field} must be one of null, bf16, fp16, but got {field}={amp!r}.")
    if amp == "fp16" and device is not None and torch.device(device).type != "cuda":
        raise ConfigError(f"{field}='fp16' needs a CUDA device, but the device is {str(device)!r}; "
                          f"allowed on the CPU: null or bf16.")


def autocast(device: str | torch.device, amp: str | None) -> ContextManager[Any]:
    """Mixed precision for the forward passes of fine-tuning on ``device``.

    Returns ``contextlib.nullcontext()`` when ``amp`` is None, else
    ``torch.autocast(device_type, dtype=bfloat16 | float16)``.

    Example:
        >>> with autocast("cpu", None):
        ...     pass
    """
    if amp is None:
        return contextlib.nullcontext()
    check_amp(amp, device)
    return torch.autocast(device_type=torch.device(device).type, dtype=_DTYPES[amp])


def grad_scaler(device: str | torch.device, amp: str | None) -> torch.amp.GradScaler | None:
    """The gradient scaler ``fp16`` training needs (small gradients underflow in half
    precision); None for ``bf16`` and float32, whose range needs none."""
    if amp != "fp16":
        return None
    return torch.amp.GradScaler(torch.device(device).type)


def worker_device(device: str, gpus: float) -> str:
    """The device a Ray worker given ``gpus`` GPUs runs its trials on.

    Ray makes the worker's GPUs the only visible ones, so any CUDA device (and ``auto``)
    becomes ``cuda:0`` there; a worker given no GPU runs ``auto`` on the CPU (Ray leaves
    every GPU visible to it, and they belong to other workers).

    Example:
        >>> worker_device("cuda:3", 1), worker_device("auto", 0)
        ('cuda:0', 'cpu')
    """
    text = check_device(device)
    if gpus > 0 and text != "cpu":
        return "cuda:0"
    if text == "auto":
        return "cpu"
    return text
