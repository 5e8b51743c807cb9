"""A complete user task: an MLP on scikit-learn's bundled breast-cancer data.

Run a pruning trial on it with::

    autoprune trial --task examples/custom_task.py:task --set granularity=channel --set sparsity=0.5

or from Python::

    from autoprune import get_task
    task = get_task("examples/custom_task.py:task")

A task tells autoprune what the model is, what data it trains and scores on, and how.
Subclass :class:`autoprune.Task` and implement the four required methods; override the
others only when the classification defaults do not fit.

Required:

- ``build_model()``: the ``nn.Module`` to start from: freshly initialised (autoprune
  seeds torch before calling it) or loaded with pretrained weights
  (``autoprune.tasks.load_weights(model, path)``). It is called again to rebuild shapes
  (loading a baseline or a pruned model), so it must return the same weights every time.
  With pretrained weights, set ``baseline_epochs = 0``: the loaded model is the baseline.
- ``train_batches(epoch)``: an iterable of ``(inputs, targets)`` for one epoch, shuffled
  deterministically from ``epoch`` and ``self.seed`` (so trials are reproducible).
  ``inputs`` may be a tensor, a tuple of tensors (passed positionally) or a dict of
  tensors (passed as keywords, as Hugging Face models take them).
- ``val_batches()``: validation batches in a fixed order; what the metric is computed on.
- ``example_input(batch_size)``: model inputs of ``batch_size`` examples, in the same
  structure as the batches' inputs; used for tracing the layer graph, counting FLOPs
  (``batch_size=1``) and timing latency (``benchmark_batch_size``).

Optional (defaults suit classification):

- ``loss(outputs, targets)``: cross-entropy by default.
- ``training_step(model, batch)``: the loss of one batch; the caller runs backward and
  the optimizer step. Override for models whose outputs need unpacking.
- ``make_optimizer(params, lr)``: Adam by default; used for the baseline (at
  ``baseline_lr``) and for fine-tuning (at the recipe's ``finetune_lr_scale`` times
  ``baseline_lr``, or its explicit ``finetune_lr``).
- ``evaluate(model)``: the metric on ``val_batches()``, higher is better (top-1
  accuracy by default). The model arrives in train mode; put it in eval mode.
- ``calibration_batches(n)``: batches the ``taylor`` and ``wanda`` criteria score
  with; the first ``n`` training batches of epoch 0 by default.
- ``config()``: the settings that change the task (data size, width...). They enter
  ``fingerprint()``, which keys the cached dense baseline: change one and the baseline
  is retrained instead of reused.

Class attributes: ``name`` (used in logs and cache keys), ``metric_name``,
``baseline_epochs`` and ``baseline_lr`` (how the dense model is trained; 0 epochs: the
built model is the baseline, evaluated as it is),
``benchmark_batch_size`` (the batch latency is measured at), ``seed``.

The module-level ``task`` is what ``file.py:task`` names; an instance is used as it is,
with its own seed. Name the class or a factory instead (``file.py:BreastCancerMLP``) to
have autoprune pass ``seed=`` (and ``data_dir=``) when the signature accepts them.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from autoprune import Task


class BreastCancerMLP(Task):
    """MLP 30-64-64-2 on the Wisconsin breast-cancer data (569 samples, 2 classes)."""

    name = "breast-cancer-mlp"
    metric_name = "accuracy"
    baseline_epochs = 30
    baseline_lr = 1e-3
    benchmark_batch_size = 128

    def __init__(self, seed: int = 0, hidden: int = 64, batch_size: int = 32) -> None:
        from sklearn.datasets import load_breast_cancer
        from sklearn.model_selection import train_test_split

        self.seed = seed
        self.hidden = hidden
        self.batch_size = batch_size
        x, y = load_breast_cancer(return_X_y=True)
        # a fixed split (random_state=0) so every seed is scored on the same examples
        x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.25, stratify=y, random_state=0)
        mean, std = x_tr.mean(axis=0), x_tr.std(axis=0) + 1e-8  # statistics of the training part only
        self._x_train = torch.from_numpy(((x_tr - mean) / std).astype(np.float32))
        self._y_train = torch.from_numpy(y_tr).long()
        self._x_val = torch.from_numpy(((x_va - mean) / std).astype(np.float32))
        self._y_val = torch.from_numpy(y_va).long()

    def config(self) -> dict[str, Any]:
        return {"hidden": self.hidden, "batch_size": self.batch_size}

    def build_model(self) -> nn.Module:
        h = self.hidden
        return nn.Sequential(nn.Linear(30, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 2))

    def train_batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = torch.randperm(len(self._y_train), generator=gen)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            yield self._x_train[idx], self._y_train[idx]

    def val_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        yield self._x_val, self._y_val  # 143 examples: one batch

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        return torch.randn(batch_size, 30, generator=torch.Generator().manual_seed(1234))


task = BreastCancerMLP()
