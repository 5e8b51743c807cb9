"""Devices: mixed precision for training on a device."""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

__all__ = ["autocast"]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device | str, amp: str | None) -> ContextManager[object]:
    """Mixed precision on ``device``: ``torch.autocast`` with ``amp`` (``bf16`` or
    ``fp16``), or nothing for ``amp=None``.

    Example:
        >>> with autocast("cpu", None):
        ...     pass
    """
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=_DTYPES[amp])
