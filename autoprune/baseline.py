"""The dense baseline: trained once per (task, seed), cached on disk, measured per process.

The baseline starts from the task's :meth:`~autoprune.tasks.Task.build_model` (fresh or
pretrained). ``baseline_epochs = 0``: that model is the baseline, evaluated as it is
(nothing trained, BatchNorm statistics untouched); ``> 0``: it is trained that many
epochs first. Either way the result is cached under the task's fingerprint, which is the
same in every process and changes with the model's initial weights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from autoprune._io import atomic_path
from autoprune._paths import cache_dir as default_cache_dir
from autoprune.tasks import Task
from autoprune.tasks._base import check_metric_value
from autoprune.training import train_epoch

__all__ = ["Baseline", "get_baseline", "train_baseline", "baseline_cache_path"]

log = logging.getLogger(__name__)

_FORMAT = "autoprune.baseline/1"


@dataclass
class Baseline:
    """Trained dense weights of a task and the accuracy they reach.

    Latency is not stored: it depends on the machine, so every trial measures the dense
    model beside the pruned one in the same process.
    """

    task_name: str
    fingerprint: str
    seed: int
    accuracy: float
    state_dict: dict[str, torch.Tensor]
    cached: bool = field(default=False, compare=False)  # loaded from the cache, not trained now
    _reference: dict[str, int] | None = field(default=None, repr=False, compare=False)

    def reference(self, task: Task) -> dict[str, int]:
        """The dense model's parameters, serialized size and MACs, computed once (they never change)."""
        if self._reference is None:
            from autoprune import measure

            dense = self.build(task)
            total, nonzero = measure.count_params(dense)
            self._reference = {
                "params_total": total,
                "params_nonzero": nonzero,
                "size_bytes": measure.state_dict_size(dense.state_dict(), sparse=False),
                "flops": measure.count_flops(dense, task.example_input(1)),
            }
        return self._reference

    def build(self, task: Task) -> nn.Module:
        """A fresh copy of the trained dense model (on the device ``build_model`` puts it)."""
        model = task.build_model()
        model.load_state_dict(self.state_dict)
        return model.eval()

    def to_file(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "task_name": self.task_name,
            "fingerprint": self.fingerprint,
            "seed": self.seed,
            "accuracy": self.accuracy,
            "state_dict": self.state_dict,
        }


def train_baseline(task: Task, seed: int, on_epoch: Callable[[int, int], None] | None = None, *,
                   device: str | torch.device = "cpu", fingerprint: str | None = None) -> Baseline:
    """The dense model: ``task.build_model()`` under ``torch.manual_seed(seed)``, trained
    ``task.baseline_epochs`` epochs on ``device`` (0: not trained, evaluated as it is);
    ``on_epoch(done, total)`` is called after each epoch (progress display).

    The weights are kept on the CPU (a cache file and Ray workers need no GPU to read
    them).

    Raises:
        TaskError: the task's metric returned something other than a finite number.
    """
    torch.manual_seed(seed)
    model = task.build_model().to(device)
    if task.baseline_epochs > 0:
        optimizer = task.make_optimizer(model.parameters(), task.baseline_lr)
        for epoch in range(task.baseline_epochs):
            train_epoch(model, task, optimizer, epoch)
            if on_epoch is not None:
                on_epoch(epoch + 1, task.baseline_epochs)
    accuracy = check_metric_value(task.evaluate(model), f"the metric of task {task.name!r}")
    return Baseline(
        task_name=task.name,
        fingerprint=fingerprint or task.fingerprint(),
        seed=seed,
        accuracy=accuracy,
        state_dict={k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
    )


def baseline_cache_path(task: Task, seed: int, cache: Path | None = None) -> Path:
    """The file the baseline of ``(task, seed)`` is cached in."""
    directory = Path(cache) if cache is not None else default_cache_dir() / "baselines"
    return directory / f"{_safe(task.name)}-seed{seed}.pt"


def get_baseline(task: Task, seed: int, cache: Path | None = None, *, use_cache: bool = True,
                 on_epoch: Callable[[int, int], None] | None = None,
                 device: str | torch.device = "cpu") -> Baseline:
    """Load the cached baseline of ``(task, seed)``, or train (on ``device``) and cache it.

    A cached file whose fingerprint does not match the task (other model, initial or
    pretrained weights, data, epochs) is retrained and replaced, never reused.
    ``Baseline.cached`` says which happened; ``on_epoch(done, total)`` follows the
    training, when there is one.
    """
    path = baseline_cache_path(task, seed, cache)
    fingerprint = task.fingerprint()
    if use_cache and path.exists():
        try:
            data = torch.load(path, weights_only=True)
        except Exception as exc:  # unreadable cache: retrain rather than fail
            log.warning("cached baseline %s is unreadable (%s); retraining", path, exc)
        else:
            # a cache file is data: anything but our dict (a list, another format) is retrained
            if isinstance(data, dict) and data.get("format") == _FORMAT and data.get("fingerprint") == fingerprint:
                return Baseline(
                    task_name=data["task_name"], fingerprint=fingerprint, seed=seed,
                    accuracy=float(data["accuracy"]), state_dict=data["state_dict"], cached=True,
                )
            log.warning("cached baseline %s does not match task %s; retraining", path, task.name)
    baseline = train_baseline(task, seed, on_epoch, device=device, fingerprint=fingerprint)
    if use_cache:
        with atomic_path(path) as tmp:
            torch.save(baseline.to_file(), tmp)
    return baseline


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
