"""The training loop shared by the baseline, fine-tuning and pruning during training."""

from __future__ import annotations

import torch
from torch import nn

from autoprune.errors import TrialFailedError
from autoprune.tasks import Task

__all__ = ["train_epoch"]


def train_epoch(model: nn.Module, task: Task, optimizer: torch.optim.Optimizer, epoch: int) -> float:
    """Train one epoch; returns the mean loss. A non-finite loss raises TrialFailedError."""
    model.train()
    total, n = 0.0, 0
    for i, batch in enumerate(task.train_batches(epoch)):
        optimizer.zero_grad(set_to_none=True)
        loss = task.training_step(model, batch)
        if not torch.isfinite(loss):
            raise TrialFailedError(f"training loss became {float(loss)} at epoch {epoch}, batch {i}.")
        loss.backward()
        optimizer.step()
        total += loss.item()
        n += 1
    return total / max(n, 1)


