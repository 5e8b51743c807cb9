"""One trial: prune a trained model with a recipe, fine-tune it, measure what came out."""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from autoprune import measure
from autoprune.measure import LatencyConfig
from autoprune.baseline import Baseline
from autoprune.errors import TrialFailedError
from autoprune.pruning import Pruner, granularity_of, prunable_layers, timing_of
from autoprune.recipe import Recipe
from autoprune.result import TrialResult, TrialStatus
from autoprune.tasks import Task
from autoprune.training import train_epoch

__all__ = ["LatencyConfig", "ReportCallback", "run_trial", "node_latency_lock", "latency_lock_dir", "warm_up"]

# Called after every fine-tune epoch with (step, metrics); returning True stops the trial.
ReportCallback = Callable[[int, dict[str, float]], bool]


LATENCY_LOCK_TIMEOUT_S = 300.0  # one measurement takes seconds; longer means a stuck holder


def latency_lock_dir() -> Path:
    """``<tmp>/autoprune-<uid>``: a directory only this user can write, so no other user
    (or a directory someone placed at the lock's name) can hold or break the lock.

    Raises:
        TrialFailedError: the directory exists but is not this user's private directory.
    """
    path = Path(tempfile.gettempdir()) / f"autoprune-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise TrialFailedError(f"latency lock directory {str(path)!r} cannot be created ({exc.strerror}).") from None
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise TrialFailedError(
            f"latency lock directory {str(path)!r} is not a directory only this user can write "
            f"(owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):o}); allowed: this user's, mode 700. "
            f"Remove it, or set TMPDIR to a private directory."
        )
    return path


@contextlib.contextmanager
def node_latency_lock(timeout: float = LATENCY_LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold a machine-wide (per user) lock while measuring latency: one measurement at a
    time per node.

    Trials running side by side (Ray workers) would otherwise slow each other's timed
    runs. A file lock needs no coordinator and is released if the process dies.

    Raises:
        TrialFailedError: the lock directory is not private, or the lock stayed held for
            ``timeout`` seconds (the message names the process holding it).
    """
    path = latency_lock_dir() / "latency.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
                    raise TrialFailedError(
                        f"latency lock {str(path)!r} is held by process {holder} for more than {timeout:g} s; "
                        f"stop that process or remove the lock file."
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run_trial(
    task: Task,
    recipe: Recipe,
    baseline: Baseline,
    *,
    seed: int = 0,
    callback: ReportCallback | None = None,
    latency: LatencyConfig = LatencyConfig(),
    latency_memo: measure.LatencyMemo | None = None,
    cache_dir: Path | None = None,
) -> TrialResult:
    """Apply ``recipe`` to the task's model and measure the result beside ``baseline``.

    Args:
        task: what the model is and how it is trained and scored.
        recipe: the pruning recipe (criterion, granularity, sparsity, schedule, timing,
            fine-tune budget).
        baseline: the trained dense model of ``task`` (see :func:`autoprune.baseline.get_baseline`).
        seed: seeds pruning scores, fine-tuning order and initialisation.
        callback: called with ``(step, metrics)`` after every fine-tune epoch (step ``k``
            after ``k`` epochs) and, when pruning after training, once before the first
            (step 0: the pruned model as it is); returning True stops the trial, which then
            comes back with status ``PRUNED``.
        latency: how latency is measured.
        latency_memo: reuse the latency of a model with the same architecture measured
            before (see :class:`autoprune.measure.LatencyMemo`); None measures every time.
        cache_dir: where sensitivity scans are cached (None: no cache).

    Returns:
        A :class:`TrialResult`; its ``model`` is the pruned model with masks made permanent.

    Example:
        >>> from autoprune import get_task, Recipe
        >>> from autoprune.baseline import get_baseline
        >>> task = get_task("digits-mlp")
        >>> result = run_trial(task, Recipe(granularity="channel", sparsity=0.5), get_baseline(task, 0))
        >>> result.params_total < result.baseline_params_total
        True
    """
    start = time.perf_counter()
    torch.manual_seed(seed)
    dense = baseline.build(task)
    pruner = Pruner(recipe, task, cache_dir=cache_dir)
    # the prunable weights are counted on the dense model, so removed channels count as pruned
    layer_names = [name for name, _ in prunable_layers(dense, recipe)]
    prunable_total = sum(dict(dense.named_modules())[n].weight.numel() for n in layer_names)

    timing = timing_of(recipe)
    run = _Run(task, callback, report_pruned_model=timing.reports_pruned_model)
    model = timing.run(pruner, dense, run.train)
    model = pruner.finalize(model).eval()

    # folding masks in changes no output, so the last fine-tune evaluation is the final one
    accuracy = run.curve[-1][1] if run.curve else task.evaluate(model)
    if not math.isfinite(accuracy):
        raise TrialFailedError(f"the task's metric is {accuracy} after pruning with {recipe.summary()}.")
    sd = measure.deployable_state_dict(model)
    sparse = granularity_of(recipe).packed
    modules = dict(model.named_modules())
    remaining = sum(int((modules[n].weight != 0).sum()) for n in layer_names if n in modules)
    params_total, params_nonzero = measure.count_params(model)
    reference = baseline.reference(task)
    inputs = task.example_input(latency.batch_size or task.benchmark_batch_size)
    lat_kwargs = dict(threads=latency.threads, warmup=latency.warmup, repeats=latency.repeats, device=latency.device)
    if run.stopped:  # a stopped trial never enters the front: skip the expensive measurement
        latency_ms = baseline_latency_ms = math.nan
    else:
        measure_pair = latency_memo.pair if latency_memo is not None else measure.measure_latency_pair
        with node_latency_lock():
            latency_ms, baseline_latency_ms = measure_pair(model, dense, inputs, **lat_kwargs)
    return TrialResult(
        recipe=recipe,
        accuracy=accuracy,
        baseline_accuracy=baseline.accuracy,
        params_total=params_total,
        baseline_params_total=reference["params_total"],
        params_nonzero=params_nonzero,
        size_bytes=measure.state_dict_size(sd, sparse=sparse),
        baseline_size_bytes=reference["size_bytes"],
        flops=measure.count_flops(model, task.example_input(1)),
        baseline_flops=reference["flops"],
        latency_ms=latency_ms,
        baseline_latency_ms=baseline_latency_ms,
        sparsity_achieved=1.0 - remaining / prunable_total,
        finetune_epochs_run=run.epochs_run,
        status=TrialStatus.PRUNED if run.stopped else TrialStatus.COMPLETE,
        seconds=time.perf_counter() - start,
        curve=run.curve,
        model=model,
    )


def warm_up(task: Task, baseline: Baseline) -> None:
    """Pay a worker process's one-time costs before its first trial: the task's data (loaded
    lazily), first-call imports (building the optimizer imports ``torch._dynamo``) and the
    dense reference measures. Trials timed afterwards time only themselves."""
    model = baseline.build(task)
    task.make_optimizer(model.parameters(), 1e-3)
    next(iter(task.train_batches(0)), None)
    task.evaluate(model)
    baseline.reference(task)


class _Run:
    """Fine-tuning bookkeeping: epochs run, the curve, the stop signal."""

    def __init__(self, task: Task, callback: ReportCallback | None, *, report_pruned_model: bool) -> None:
        self.task, self.callback = task, callback
        self.report_pruned_model = report_pruned_model
        self.epochs_run = 0
        self.curve: list[tuple[int, float]] = []
        self.stopped = False

    def train(self, model: nn.Module, lr: float, epochs: int, lr_schedule: str = "constant") -> bool:
        """Train ``epochs`` epochs, reporting after each; True when told to stop."""
        if epochs <= 0 or self.stopped:
            return self.stopped
        # step 0: the pruned model before fine-tuning, so a trial pruner can stop it for free
        if self.report_pruned_model and not self.curve and self._report(model):
            return True
        # a fresh optimizer: channel pruning replaces parameters between steps
        optimizer = self.task.make_optimizer([p for p in model.parameters() if p.requires_grad], lr)
        scheduler = _lr_scheduler(optimizer, epochs, lr_schedule)
        for _ in range(epochs):
            train_epoch(model, self.task, optimizer, epoch=self.epochs_run)
            scheduler.step()
            self.epochs_run += 1
            accuracy = self.task.evaluate(model)
            if not math.isfinite(accuracy):
                raise TrialFailedError(f"the task's metric is {accuracy} at fine-tune step {self.epochs_run}.")
            if self._report(model, accuracy):
                return True
        return False

    def _report(self, model: nn.Module, accuracy: float | None = None) -> bool:
        if accuracy is None:
            accuracy = self.task.evaluate(model)
        self.curve.append((self.epochs_run, accuracy))
        if self.callback is not None:
            total, nonzero = measure.count_params(model)
            metrics = {"accuracy": accuracy, "params_total": float(total), "params_nonzero": float(nonzero)}
            if self.callback(self.epochs_run, metrics):
                self.stopped = True
        return self.stopped


def _lr_scheduler(optimizer: torch.optim.Optimizer, epochs: int, lr_schedule: str) -> LambdaLR:
    """Per-epoch learning-rate factors: 1, or for ``cosine`` the cosine curve from 1 to 0
    taken at each epoch's middle (2 epochs: 0.85, 0.15), so every epoch still learns and the
    last one ends near 0."""
    if lr_schedule == "cosine":
        return LambdaLR(optimizer, lambda epoch: 0.5 * (1.0 + math.cos(math.pi * (epoch + 0.5) / epochs)))
    return LambdaLR(optimizer, lambda epoch: 1.0)
