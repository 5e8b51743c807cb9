"""The dense baseline of a search: trained once (cached), measured once per study."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import optuna

from autoprune import measure
from autoprune.baseline import Baseline, get_baseline

if TYPE_CHECKING:
    from autoprune.search._space import SearchSpace
    from autoprune.tasks import Task

__all__ = ["BASELINE_ATTR", "baseline_device", "search_baseline"]

BASELINE_ATTR = "baseline"  # study user attr: the dense model's measures


def search_baseline(study: optuna.Study, task: Task, space: SearchSpace,
                    on_epoch: Callable[[int, int], None] | None = None,
                    device: str = "cpu") -> tuple[Baseline, dict[str, float]]:
    """The baseline model and its measures; a resumed study keeps the measures it stored,
    so every trial of a study is compared with the same dense model. ``on_epoch(done,
    total)`` follows the baseline's training when it is not cached; it trains and is
    evaluated on ``device``; its latency is measured on ``space.latency.device``."""
    baseline = get_baseline(task, space.seed, on_epoch=on_epoch, device=device)
    stored = study.user_attrs.get(BASELINE_ATTR)
    if stored is not None:
        return baseline, stored
    lat = space.latency
    bs = lat.batch_size or task.benchmark_batch_size
    measures = {
        "accuracy": baseline.accuracy,
        **baseline.reference(task),
        "latency_ms": measure.measure_latency(baseline.build(task), task.example_input(bs),
                                              threads=lat.threads, warmup=lat.warmup, repeats=lat.repeats,
                                              device=lat.device),
    }
    study.set_user_attr(BASELINE_ATTR, measures)
    return baseline, measures


def baseline_device(device: str) -> str:
    """Where a search's dense model trains (in the driver process): the trials' ``device``
    when this machine has it; else the CPU (a Ray cluster's workers may have GPUs this
    machine lacks)."""
    import torch

    from autoprune.devices import resolve_device

    if device.startswith("cuda") and not torch.cuda.is_available():
        return "cpu"
    return str(resolve_device(device))
