"""Contract checks for the search layer's extension points: executors, trackers, tasks.

Every registered implementation passes them, and a plug-in runs them on its own::

    from autoprune.testing.search import check_executor, check_tracker, check_task

    def test_my_tracker(tmp_path):
        check_tracker(MyTracker(), tmp_path)

A check raises AssertionError naming the broken promise.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from autoprune.result import TrialStatus

__all__ = ["check_executor", "check_tracker", "check_task", "small_job"]


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def check_task(task: Any) -> None:
    """A task follows the :class:`autoprune.Task` protocol and its parts work together:
    the model runs on the example input, one training step gives a differentiable scalar
    loss, evaluation gives a finite number, the fingerprint is stable."""
    from autoprune.tasks import call_model
    from autoprune.tasks import check_task as check_protocol

    check_protocol(task)
    _expect(isinstance(task.name, str) and task.name != "", f"task.name must be a non-empty string, got {task.name!r}")
    model = task.build_model()
    _expect(isinstance(model, nn.Module), f"build_model() must return an nn.Module, got {type(model).__name__}")
    model.eval()
    with torch.no_grad():
        call_model(model, task.example_input(2))
    model.train()
    batch = next(iter(task.train_batches(0)))
    loss = task.training_step(model, batch)
    _expect(isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.requires_grad,
            "training_step() must return a scalar loss tensor with a gradient")
    value = task.evaluate(model)
    _expect(isinstance(value, float) and math.isfinite(value), f"evaluate() must return a finite float, got {value!r}")
    _expect(task.fingerprint() == task.fingerprint() and isinstance(task.fingerprint(), str),
            "fingerprint() must be a string that does not change between calls")


def check_tracker(tracker: Any, run_dir: str | Path) -> None:
    """A tracker takes every hook in the order the search calls them, with the values a
    search passes, and ``redact`` returns text."""
    from autoprune.recipe import Recipe
    from autoprune.tracking import Tracker

    _expect(isinstance(tracker, Tracker), f"a tracker must subclass autoprune.Tracker, got {type(tracker).__name__}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    recipe = Recipe().to_dict()
    tracker.start(run_dir=run_dir, space={"name": "contract", "task": "digits-mlp"},
                  args={"out": str(run_dir), "tracker": "contract"}, versions={"autoprune": "0"})
    tracker.log_baseline({"accuracy": 0.97, "params_total": 1000, "size_bytes": 4000, "flops": 900,
                          "latency_ms": 0.5})
    measures = {"accuracy": 0.95, "accuracy_drop": 0.02, "size_bytes": 2000, "latency_ms": None}
    for number, state in ((0, TrialStatus.COMPLETE), (1, TrialStatus.PRUNED), (2, TrialStatus.FAILED)):
        tracker.log_trial({"number": number, "state": state.value, "reason": None if number == 0 else "why",
                           "recipe": recipe, "curve": [[1, 0.9], [2, 0.95]], "measures": measures if number == 0 else {},
                           "seconds": 1.5, "worker": "host:1", "attempts": 1, "feasible": number == 0 or None})
        tracker.log_front([{"number": 0, "recipe_summary": "s", "recipe": recipe, "accuracy": 0.95}], 0.5, number + 1)
    path = run_dir / "contract.txt"
    path.write_text("contract\n")
    tracker.log_file("report/contract_txt", path)
    tracker.finish("complete")
    _expect(isinstance(tracker.redact("token=abc"), str), "redact() must return a string")


def small_job(number: int = 0, *, finetune_epochs: int = 1) -> Any:
    """A cheap :class:`~autoprune.search.TrialJob` on ``digits-mlp``."""
    from autoprune.measure import LatencyConfig
    from autoprune.recipe import Recipe
    from autoprune.search._executors import TrialJob

    recipe = Recipe(granularity="unstructured", sparsity=0.5, finetune_epochs=finetune_epochs)
    return TrialJob(number=number, recipe=recipe, seed=number, threads=1,
                    latency=LatencyConfig(threads=1, warmup=1, repeats=3))


def check_executor(make: Callable[[], Any], *, task: Any = None, baseline: Any = None) -> None:
    """An executor runs submitted trials, asks ``decide`` after every report, honours a
    stop, counts what is pending and closes.

    Args:
        make: builds a fresh executor (its trial pruner decisions switched on).
        task: the task (default ``digits-mlp``, seed 0).
        baseline: its baseline (default: trained once and cached).
    """
    from autoprune.baseline import get_baseline
    from autoprune.search._executors import Executor
    from autoprune.tasks import get_task

    task = task if task is not None else get_task("digits-mlp", seed=0)
    baseline = baseline if baseline is not None else get_baseline(task, 0)
    executor = make()
    _expect(isinstance(executor, Executor), f"an executor must subclass Executor, got {type(executor).__name__}")
    _expect(isinstance(executor.slots, int) and executor.slots >= 1, f"slots must be an int >= 1, got {executor.slots!r}")
    try:
        executor.start(baseline, task)
        _expect(executor.pending() == 0, "a new executor has nothing pending")
        reports: list[tuple[int, int]] = []

        def decide(number: int, step: int, metrics: dict[str, float]) -> bool:
            _expect("accuracy" in metrics, f"a report must hold the accuracy, got {sorted(metrics)}")
            reports.append((number, step))
            return number == 1  # trial 1 is stopped at its first report

        executor.submit(small_job(0))
        _expect(executor.pending() == 1, f"one trial submitted: pending() must be 1, got {executor.pending()}")
        status = executor.status()
        _expect({"queued", "running"} <= set(status), f"status() must count queued and running, got {status}")
        outcomes = _drain(executor, decide)
        executor.submit(small_job(1, finetune_epochs=2))
        outcomes += _drain(executor, decide)
        by_number = {o.number: o for o in outcomes}
        _expect(sorted(by_number) == [0, 1] and len(outcomes) == 2, f"each trial returns once, got {sorted(by_number)}")
        for number, want in ((0, TrialStatus.COMPLETE), (1, TrialStatus.PRUNED)):
            outcome = by_number[number]
            _expect(outcome.result is not None, f"trial {number} failed: {outcome.error}")
            _expect(outcome.result.status is want, f"trial {number} must end {want.value}, got {outcome.result.status}")
        _expect(any(n == 0 for n, _ in reports), "decide() was never asked about trial 0")
        _expect([s for n, s in reports if n == 1][-1:] == [min(s for n, s in reports if n == 1)],
                "trial 1 reported again after it was told to stop")
    finally:
        executor.close()


def _drain(executor: Any, decide: Callable[[int, int, dict[str, float]], bool]) -> list[Any]:
    outcomes: list[Any] = []
    while executor.pending():
        outcomes += executor.wait(decide)
    _expect(executor.pending() == 0, "pending() must be 0 once every trial returned")
    return outcomes
