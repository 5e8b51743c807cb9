"""Batching of in-memory tensors, shared by the built-in tasks."""

from __future__ import annotations

from typing import Iterator

import torch

__all__ = ["TensorBatches"]


class TensorBatches:
    """Deterministic mini-batches over ``(x, y)`` tensors held in memory."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> None:
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed

    def __len__(self) -> int:
        return len(self.y)

    def epoch(self, epoch: int, limit: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled batches of one epoch; ``limit`` caps the examples seen per epoch."""
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = torch.randperm(len(self.y), generator=gen)
        if limit is not None:
            order = order[:limit]
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            yield self.x[idx], self.y[idx]

    def ordered(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self.y), self.batch_size):
            yield self.x[start : start + self.batch_size], self.y[start : start + self.batch_size]
