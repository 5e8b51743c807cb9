"""Executors run trials; the controller decides. Local (in-process) is the default.

A worker receives a :class:`TrialJob`, runs :func:`autoprune.trial.run_trial` and sends
back intermediate reports and a :class:`TrialOutcome`. Whether a trial stops early is
decided by the controller through the ``decide`` function handed to :meth:`Executor.wait`.

Executors are registered by name in :data:`autoprune.registry.EXECUTORS` (``local``,
``ray``) as classes; the controller builds one with :meth:`Executor.create`. A user may
also hand the search an executor object of their own.
"""

from __future__ import annotations

import abc
import os
import socket
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from autoprune.measure import LatencyConfig, LatencyMemo, torch_threads
from autoprune.recipe import Recipe
from autoprune.registry import EXECUTORS
from autoprune.result import TrialResult
from autoprune.trial import run_trial

__all__ = ["TrialJob", "TrialOutcome", "Decide", "ExecutorContext", "Executor", "LocalExecutor", "execute_job"]

# (trial number, step, metrics) -> stop?
Decide = Callable[[int, int, dict[str, float]], bool]


@dataclass(frozen=True)
class TrialJob:
    """Everything a worker needs to run one trial besides the task and baseline it holds
    (picklable; no torch modules)."""

    number: int
    recipe: Recipe
    seed: int  # seeds this trial's pruning and fine-tuning
    threads: int = 1  # torch threads while training: equal on every executor, so results match
    latency: LatencyConfig = LatencyConfig()
    cache_dir: str | None = None
    device: str = "cpu"  # where the trial trains and evaluates (a Ray worker maps it to its own GPU)
    amp: str | None = None  # mixed precision of fine-tuning


@dataclass
class TrialOutcome:
    """What comes back of a :class:`TrialJob`: the worker's result, or why there is none.
    (The curve of reports travels in ``result.curve``.)"""

    number: int
    result: TrialResult | None = None
    error: str | None = None  # one line reason; the traceback goes to ``details``
    details: str | None = None
    worker: str = ""
    seconds: float = 0.0
    attempts: int = 1


def execute_job(job: TrialJob, task: Any, baseline: Any,
                report: Callable[[int, dict[str, float]], bool], latency_memo: LatencyMemo) -> TrialOutcome:
    """Run one trial where this function is called (driver or worker)."""
    start = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    outcome = TrialOutcome(number=job.number, worker=worker)
    try:
        # device and amp only when set: a trial on the CPU in float32 is run_trial's default
        devices = {k: v for k, v in (("device", job.device), ("amp", job.amp)) if v not in ("cpu", None)}
        with torch_threads(job.threads):
            outcome.result = run_trial(
                task, job.recipe, baseline, seed=job.seed, callback=report,
                latency=job.latency, latency_memo=latency_memo,
                cache_dir=Path(job.cache_dir) if job.cache_dir else None, **devices,
            )
    except Exception as exc:  # a trial that raises is FAILED with its traceback; the search goes on
        outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.details = traceback.format_exc()
    outcome.seconds = time.perf_counter() - start
    return outcome


@dataclass(frozen=True)
class ExecutorContext:
    """What the controller knows when it builds a registered executor.

    Args:
        workers: trials in flight at once (the space's ``executor.workers`` or its override).
        address: Ray cluster address, or None.
        cpus_per_trial: CPUs per trial (also the torch threads a trial trains with).
        gpus_per_trial: GPUs per trial.
        max_attempts: runs of a trial whose worker died before it is FAILED.
        decisions: whether a trial pruner can stop trials (workers wait for a decision).
        task: (task spec, seed, data dir): how a worker process rebuilds the task; or the
            task object itself (a :class:`~autoprune.tasks.ModelTask`), sent to workers
            pickled.
        latency_memo: the latency measurements of this process (in-process executors).
    """

    workers: int = 1
    address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_attempts: int = 3
    decisions: bool = True
    task: tuple[str, int, str | None] | Any = ("digits-mlp", 0, None)
    latency_memo: LatencyMemo | None = None


class Executor(abc.ABC):
    """Runs trials. ``slots`` trials may run at once.

    The controller calls :meth:`start` once, then :meth:`submit` while :meth:`pending` is
    below ``slots``, :meth:`wait` to collect finished trials (handing it ``decide``, the
    trial pruner's verdict on each report) and :meth:`close` at the end, also on errors.
    """

    slots: int = 1

    @classmethod
    def create(cls, context: ExecutorContext) -> "Executor":
        """Build the executor a registered name stands for (default: no arguments)."""
        return cls()

    def start(self, baseline: Any, task: Any) -> None:
        """Called once before the first submit with the baseline and the resolved task."""

    @abc.abstractmethod
    def submit(self, job: TrialJob) -> None:
        """Queue a trial."""

    @abc.abstractmethod
    def wait(self, decide: Decide) -> list[TrialOutcome]:
        """Block until at least one submitted trial finishes; return the finished ones."""

    @abc.abstractmethod
    def pending(self) -> int:
        """Trials submitted and not yet returned by :meth:`wait`."""

    def status(self) -> dict[str, int]:
        """Counts for the progress bar: queued and running trials."""
        return {"queued": 0, "running": self.pending()}

    def close(self) -> None:
        """Release workers."""


@EXECUTORS.register("local", replace=True)  # replace: a re-import registers the new class
class LocalExecutor(Executor):
    """Runs each trial in this process when :meth:`wait` is called (one at a time);
    ``latency_memo`` (default: a new one) holds the latencies measured."""

    slots = 1

    def __init__(self, latency_memo: LatencyMemo | None = None) -> None:
        self.latency_memo = latency_memo if latency_memo is not None else LatencyMemo()
        self._queue: list[TrialJob] = []
        self._baseline: Any = None
        self._task: Any = None

    @classmethod
    def create(cls, context: ExecutorContext) -> "LocalExecutor":
        return cls(context.latency_memo)

    def start(self, baseline: Any, task: Any) -> None:
        self._baseline, self._task = baseline, task

    def submit(self, job: TrialJob) -> None:
        self._queue.append(job)

    def pending(self) -> int:
        return len(self._queue)

    def wait(self, decide: Decide) -> list[TrialOutcome]:
        job = self._queue[0]
        outcome = execute_job(job, self._task, self._baseline, lambda step, m: decide(job.number, step, m),
                              self.latency_memo)
        self._queue.pop(0)
        return [outcome]
