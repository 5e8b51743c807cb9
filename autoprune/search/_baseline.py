"""The dense baseline of a search: trained once (cached), measured once per study."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import optuna

from autoprune import measure
from autoprune.baseline import Baseline, get_baseline

if TYPE_CHECKING:
    from autoprune.search._space import SearchSpace
    from autoprune.tasks import Task

__all__ = ["BASELINE_ATTR", "search_baseline"]

BASELINE_ATTR = "baseline"  # study user attr: the dense model's measures


def search_baseline(study: optuna.Study, task: Task, space: SearchSpace,
                    on_epoch: Callable[[int, int], None] | None = None) -> tuple[Baseline, dict[str, float]]:
    """The baseline model and its measures; a resumed study keeps the measures it stored,
    so every trial of a study is compared with the same dense model. ``on_epoch(done,
    total)`` follows the baseline's training when it is not cached."""
    baseline = get_baseline(task, space.seed, on_epoch=on_epoch)
    stored = study.user_attrs.get(BASELINE_ATTR)
    if stored is not None:
        return baseline, stored
    lat = space.latency
    bs = lat.batch_size or task.benchmark_batch_size
    measures = {
        "accuracy": baseline.accuracy,
        **baseline.reference(task),
        "latency_ms": measure.measure_latency(baseline.build(task), task.example_input(bs),
                                              threads=lat.threads, warmup=lat.warmup, repeats=lat.repeats),
    }
    study.set_user_attr(BASELINE_ATTR, measures)
    return baseline, measures
