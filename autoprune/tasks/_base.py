"""The Task protocol: what a trial runs on."""

from __future__ import annotations

import abc
import hashlib
import json
from typing import Any, Iterable, Iterator

import torch
from torch import nn

__all__ = ["Task", "call_model", "to_device"]

Batch = tuple[Any, torch.Tensor]  # (inputs, targets); inputs: Tensor, tuple or dict of tensors


def call_model(model: nn.Module, inputs: Any) -> Any:
    """Forward ``inputs`` whatever their structure (tensor, tuple of tensors, dict of tensors)."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def to_device(obj: Any, device: torch.device | str) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


class Task(abc.ABC):
    """A model, its data, how it is trained and how it is scored.

    Subclasses implement :meth:`build_model`, :meth:`train_batches`, :meth:`val_batches`
    and :meth:`example_input`; the rest has defaults for classification. Batches are
    ``(inputs, targets)`` where ``inputs`` is a tensor, a tuple of tensors (passed as
    positional arguments) or a dict of tensors (passed as keyword arguments, as Hugging
    Face models take them).

    Attributes:
        name: registry name, also used in cache keys.
        metric_name: what :meth:`evaluate` returns (higher is better).
        baseline_epochs: epochs to train the dense baseline.
        baseline_lr: learning rate of the baseline.
        benchmark_batch_size: batch size at which latency is measured.
        seed: seed of data splits, initialisation and shuffling.
    """

    name: str = "task"
    metric_name: str = "accuracy"
    baseline_epochs: int = 10
    baseline_lr: float = 1e-3
    benchmark_batch_size: int = 256
    seed: int = 0

    # -- required ------------------------------------------------------------------
    @abc.abstractmethod
    def build_model(self) -> nn.Module:
        """A freshly initialised model (seeded by the caller)."""

    @abc.abstractmethod
    def train_batches(self, epoch: int) -> Iterable[Batch]:
        """Training batches for one epoch, shuffled deterministically from ``epoch``."""

    @abc.abstractmethod
    def val_batches(self) -> Iterable[Batch]:
        """Validation batches, in a fixed order."""

    @abc.abstractmethod
    def example_input(self, batch_size: int = 1) -> Any:
        """Model inputs of ``batch_size`` examples, for tracing, FLOPs and latency."""

    # -- defaults ------------------------------------------------------------------
    def logits(self, outputs: Any) -> torch.Tensor:
        """The class scores in a model's outputs: the outputs themselves, or the
        ``logits`` of a Hugging Face ``ModelOutput``."""
        logits = getattr(outputs, "logits", None)
        return outputs if logits is None else logits

    def loss(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(self.logits(outputs), targets)

    def training_step(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """Loss of one batch; the caller runs backward and the optimizer step."""
        inputs, targets = batch
        return self.loss(call_model(model, inputs), targets)

    def make_optimizer(self, params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
        params = list(params)
        # fused: one kernel for every parameter (about 35% faster steps than the default on CPU)
        fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
        return torch.optim.Adam(params, lr=lr, fused=fused)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> float:
        """The task's metric on validation data (default: top-1 accuracy in [0, 1])."""
        was_training = model.training
        model.eval()
        correct = total = 0
        for inputs, targets in self.val_batches():
            pred = self.logits(call_model(model, inputs)).argmax(dim=-1)
            correct += int((pred == targets).sum())
            total += int(targets.numel())
        model.train(was_training)
        return correct / max(total, 1)

    def calibration_batches(self, n: int) -> Iterator[Batch]:
        """The first ``n`` training batches of epoch 0 (Taylor / Wanda scores)."""
        for i, batch in enumerate(self.train_batches(0)):
            if i >= n:
                return
            yield batch

    def fingerprint(self) -> str:
        """Identifies the task's configuration; a cached baseline must match it."""
        model = self.build_model()
        shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
        blob = json.dumps(
            {
                "cls": f"{type(self).__module__}.{type(self).__qualname__}",
                "name": self.name,
                "seed": self.seed,
                "epochs": self.baseline_epochs,
                "lr": self.baseline_lr,
                "config": self.config(),
                "shapes": shapes,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def config(self) -> dict[str, Any]:
        """Extra settings that change the task (data size, model width, ...)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, seed={self.seed})"
