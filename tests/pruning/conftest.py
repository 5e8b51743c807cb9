"""A task made of given batches, so criteria and scans can be checked by hand."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch
from torch import nn

from autoprune.tasks import Task


class ListTask(Task):
    """Batches, example input, loss and metric given by the test."""

    name = "list-task"

    def __init__(
        self,
        model_fn: Callable[[], nn.Module],
        batches: list[tuple[Any, torch.Tensor]],
        *,
        example: Any = None,
        metric: Callable[[nn.Module], float] | None = None,
        loss: Callable[[Any, torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.model_fn, self.batches = model_fn, batches
        self.example = example if example is not None else batches[0][0][:1]
        self.metric, self.loss_fn = metric, loss
        self.evaluations = 0

    def build_model(self) -> nn.Module:
        return self.model_fn()

    def train_batches(self, epoch: int):
        return iter(self.batches)

    def val_batches(self):
        return iter(self.batches)

    def example_input(self, batch_size: int = 1) -> Any:
        return self.example

    def loss(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(outputs, targets) if self.loss_fn else super().loss(outputs, targets)

    def evaluate(self, model: nn.Module) -> float:
        self.evaluations += 1
        return self.metric(model) if self.metric else super().evaluate(model)


@pytest.fixture
def make_task() -> Callable[..., ListTask]:
    return ListTask
