"""A small, fast search space for end-to-end runs of the real controller."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

FAST_SPACE = """
task: digits-mlp
seed: 0
objectives: {accuracy: max, latency_ms: min, size_bytes: min}
constraints: ["accuracy_drop <= 0.05"]
budget: {trials: 12}
backend: optuna
sampler: tpe
trial_pruner: none
latency: {threads: 1, warmup: 2, repeats: 10}
fixed: {schedule: one_shot}
params:
  granularity: {choices: [unstructured, channel]}
  sparsity: {low: 0.3, high: 0.9}
  finetune_epochs: {low: 1, high: 2, type: int}
  finetune_lr: {low: 1.0e-3, high: 5.0e-3, log: true}
"""


def write_space(directory: Path, text: str = FAST_SPACE, name: str = "fast", **replace: str) -> Path:
    body = textwrap.dedent(text)
    for old, new in replace.items():
        body = body.replace(old, new)
    path = directory / f"{name}.yaml"
    path.write_text(body)
    return path


@pytest.fixture
def make_space(tmp_path: Path):
    """``make_space(name="fast", **{old: new})``: the fast space with text replaced."""

    def make(name: str = "fast", **replace: str) -> Path:
        return write_space(tmp_path, name=name, **replace)

    return make


@pytest.fixture
def fast_space(tmp_path: Path) -> Path:
    return write_space(tmp_path)
