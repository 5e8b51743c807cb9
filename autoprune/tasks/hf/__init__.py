"""Hugging Face tasks from files: a model directory (or a cached Hub id) and labelled data,
named in a space's ``task:`` mapping or with ``--task KIND --model DIR --data PATH``.

``transformers`` is imported when a task is built, not when this package is.
"""

from __future__ import annotations

from autoprune.tasks.hf._common import HFTask, WarmupAdamW, resolve_model_dir
from autoprune.tasks.hf._image import IMAGE_OPTIONS, HFImageClassification
from autoprune.tasks.hf._text import TEXT_OPTIONS, HFTextClassification

__all__ = ["HFTask", "HFTextClassification", "HFImageClassification", "TEXT_OPTIONS", "IMAGE_OPTIONS",
           "WarmupAdamW", "resolve_model_dir"]
