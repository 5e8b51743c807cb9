"""One trial: prune a trained model with a recipe, fine-tune it, measure what came out."""

from __future__ import annotations

import contextlib
import copy
import fcntl
import itertools
import math
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from autoprune import measure
from autoprune.measure import LatencyConfig
from autoprune.baseline import Baseline
from autoprune.devices import check_amp, resolve_device
from autoprune.errors import TrialFailedError
from autoprune.pruning import Pruner, granularity_of, prunable_layers, timing_of
from autoprune.pruning.recovery import Distillation, bn_recalibration_on, recalibrate_batchnorm
from autoprune.recipe import Recipe
from autoprune.result import TrialResult, TrialStatus
from autoprune.tasks import Task, to_device
from autoprune.training import model_device, train_epoch

__all__ = ["LatencyConfig", "ReportCallback", "run_trial", "node_latency_lock", "latency_lock_dir", "warm_up"]

# Called after every fine-tune epoch (or report_every optimizer steps) with (step, metrics);
# returning True stops the trial.
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
    device: str | torch.device = "cpu",
    amp: str | None = None,
) -> TrialResult:
    """Apply ``recipe`` to the task's model and measure the result beside ``baseline``.

    Args:
        task: what the model is and how it is trained and scored.
        recipe: the pruning recipe (criterion, granularity, sparsity, schedule, timing,
            fine-tune budget, recovery).
        baseline: the trained dense model of ``task`` (see :func:`autoprune.baseline.get_baseline`).
        seed: seeds pruning scores, fine-tuning order and initialisation.
        callback: called with ``(step, metrics)`` after every fine-tune epoch (step ``k``
            after ``k`` epochs), or with a step budget every ``recipe.report_every``
            optimizer steps and at the end of each fine-tune segment (step ``k`` after
            ``k`` optimizer steps); and, when pruning after training, once before the
            first (step 0: the pruned model as it is, BatchNorm recalibrated). Returning
            True stops the trial, which then comes back with status ``PRUNED``.
        latency: how latency is measured.
        latency_memo: reuse the latency of a model with the same architecture measured
            before (see :class:`autoprune.measure.LatencyMemo`); None measures every time.
        cache_dir: where sensitivity scans are cached (None: no cache).
        device: where the models (dense, teacher, pruned) train and are evaluated; the
            batches follow the model.
        amp: mixed precision of fine-tuning: ``bf16``, ``fp16`` (with a gradient
            scaler) or None (full precision).

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
    device = resolve_device(device)  # "auto" too; CUDA asked for where there is none: one line
    check_amp(amp, device)
    start = time.perf_counter()
    torch.manual_seed(seed)
    dense = baseline.build(task).to(device)
    recalibrate = bn_recalibration_on(recipe, dense)
    pruner = _RecoveringPruner(recipe, task, cache_dir=cache_dir, recalibrate=recalibrate)
    # the prunable weights are counted on the dense model, so removed channels count as pruned
    layer_names = [name for name, _ in prunable_layers(dense, recipe)]
    prunable_total = sum(dict(dense.named_modules())[n].weight.numel() for n in layer_names)

    timing = timing_of(recipe)
    teacher = dense if recipe.distill_weight > 0 else None  # eval mode, never trained: a timing copies it
    run = _Run(task, recipe, callback, report_pruned_model=timing.reports_pruned_model, amp=amp, teacher=teacher)
    model = timing.run(pruner, dense, run.train)
    model = pruner.finalize(model).eval()

    accuracy = run.final_accuracy(model)
    if not math.isfinite(accuracy):
        raise TrialFailedError(f"the task's metric is {accuracy} after pruning with {recipe.summary()}.")
    sd = measure.deployable_state_dict(model)
    sparse = granularity_of(recipe).packed
    modules = dict(model.named_modules())
    remaining = sum(int((modules[n].weight != 0).sum()) for n in layer_names if n in modules)
    params_total, params_nonzero = measure.count_params(model)
    reference = baseline.reference(task)
    if run.stopped:  # a stopped trial never enters the front: skip the expensive measurement
        latency_ms = baseline_latency_ms = math.nan
    else:
        latency_ms, baseline_latency_ms = _latency(task, model, dense, latency, latency_memo)
    return TrialResult(
        recipe=recipe,
        accuracy=accuracy,
        baseline_accuracy=baseline.accuracy,
        params_total=params_total,
        baseline_params_total=reference["params_total"],
        params_nonzero=params_nonzero,
        size_bytes=measure.state_dict_size(sd, sparse=sparse),
        baseline_size_bytes=reference["size_bytes"],
        flops=measure.count_flops(model, to_device(task.example_input(1), model_device(model))),
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


def _latency(task: Task, model: nn.Module, dense: nn.Module, latency: LatencyConfig,
             memo: measure.LatencyMemo | None) -> tuple[float, float]:
    """Latency of the pruned and the dense model on ``latency.device`` (the measurement moves
    them there and back)."""
    inputs = task.example_input(latency.batch_size or task.benchmark_batch_size)
    measure_pair = memo.pair if memo is not None else measure.measure_latency_pair
    with node_latency_lock():
        return measure_pair(model, dense, inputs, threads=latency.threads, warmup=latency.warmup,
                            repeats=latency.repeats, device=latency.device)


class _RecoveringPruner(Pruner):
    """The recipe's pruner, recalibrating BatchNorm after every pruning step (before the
    step's fine-tuning and its step-0 report) when ``recalibrate``."""

    def __init__(self, recipe: Recipe, task: Task, *, cache_dir: Path | None, recalibrate: bool) -> None:
        super().__init__(recipe, task, cache_dir=cache_dir)
        self.recalibrate = recalibrate

    def step(self, model: nn.Module, target: float) -> nn.Module:
        model = super().step(model, target)
        if self.recalibrate:
            recalibrate_batchnorm(model, self.task.calibration_batches(self.recipe.bn_recalibration_batches))
        return model


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
    """Fine-tuning bookkeeping: the budget's unit, epochs and optimizer steps run, the
    batch stream of a step budget, the curve, the stop signal."""

    def __init__(self, task: Task, recipe: Recipe, callback: ReportCallback | None, *,
                 report_pruned_model: bool, amp: str | None = None, teacher: nn.Module | None = None) -> None:
        self.task, self.recipe, self.callback = task, recipe, callback
        self.report_pruned_model = report_pruned_model
        self.amp = amp
        self.loss_fn = (Distillation(task, teacher, recipe.distill_weight, recipe.distill_temperature)
                        if teacher is not None else None)
        self.scaler = None  # made on the first fp16 segment, kept: its scale carries over
        self.epochs_run = 0  # complete epochs (a step budget: passes over the training data)
        self.steps_run = 0  # optimizer steps
        self.curve: list[tuple[int, float]] = []
        self.stopped = False
        self._stream: Iterator[Any] | None = None
        self._report_task: Task | None = None

    @property
    def position(self) -> int:
        """The step index of the next report: epochs, or optimizer steps with a step budget."""
        return self.epochs_run if self.recipe.budget_unit == "epochs" else self.steps_run

    def train(self, model: nn.Module, lr: float, amount: int, lr_schedule: str = "constant") -> bool:
        """Train ``amount`` epochs (or optimizer steps), reporting along the way; True when
        told to stop."""
        if amount <= 0 or self.stopped:
            return self.stopped
        # step 0: the pruned model before fine-tuning, so a trial pruner can stop it for free
        if self.report_pruned_model and not self.curve and self._report(model):
            return True
        # a fresh optimizer: channel pruning replaces parameters between steps
        optimizer = self.task.make_optimizer([p for p in model.parameters() if p.requires_grad], lr)
        scheduler = _lr_scheduler(optimizer, amount, lr_schedule)
        if self.amp == "fp16" and self.scaler is None:
            self.scaler = torch.amp.GradScaler(model_device(model).type)
        kwargs = dict(amp=self.amp, loss_fn=self.loss_fn, scaler=self.scaler)
        if self.recipe.budget_unit == "epochs":
            for _ in range(amount):
                batches = _Counted(self.task.train_batches(self.epochs_run))
                train_epoch(model, self.task, optimizer, self.epochs_run, batches=batches, **kwargs)
                self.steps_run += batches.n
                scheduler.step()
                self.epochs_run += 1
                if self._report(model):
                    return True
            return False
        end, every = self.steps_run + amount, self.recipe.report_every
        while self.steps_run < end:
            # up to the next report (a multiple of report_every, or the segment's end); one
            # step at a time when the learning rate changes every step
            chunk = end - self.steps_run if every is None else min(every - self.steps_run % every, end - self.steps_run)
            chunk = 1 if lr_schedule != "constant" else chunk
            train_epoch(model, self.task, optimizer, self.epochs_run, max_steps=chunk, batches=self._batches(),
                        **kwargs)
            self.steps_run += chunk
            for _ in range(chunk):
                scheduler.step()
            due = self.steps_run == end or (every is not None and self.steps_run % every == 0)
            if due and self._report(model):
                return True
        return False

    def _batches(self) -> Iterator[Any]:
        """One stream of training batches across epochs (a step budget ends mid-epoch and
        the next segment goes on from there)."""
        if self._stream is None:
            self._stream = self._epochs()
        return self._stream

    def _epochs(self) -> Iterator[Any]:
        while True:
            empty = True
            for batch in self.task.train_batches(self.epochs_run):
                empty = False
                yield batch
            if empty:
                raise TrialFailedError(f"the task yields no training batches in epoch {self.epochs_run}.")
            self.epochs_run += 1

    def _evaluate(self, model: nn.Module) -> float:
        """The metric of a report: on the first ``report_batches`` validation batches (a
        fixed subset, drawn once) or on all of them."""
        n = self.recipe.report_batches
        if n is None:
            return self.task.evaluate(model)
        if self._report_task is None:
            device = model_device(model)
            subset = [to_device(b, device) for b in itertools.islice(self.task.val_batches(), n)]
            view = copy.copy(self.task)  # the task's own evaluate, over the subset
            view.val_batches = lambda: iter(subset)  # type: ignore[method-assign]
            self._report_task = view
        return self._report_task.evaluate(model)

    def final_accuracy(self, model: nn.Module) -> float:
        """The metric on the whole validation data: the last report's when it was taken
        there on the final model, else evaluated now."""
        if self.curve and self.recipe.report_batches is None:
            return self.curve[-1][1]  # folding masks in changes no output
        return self.task.evaluate(model)

    def _report(self, model: nn.Module) -> bool:
        accuracy = self._evaluate(model)
        if not math.isfinite(accuracy):
            raise TrialFailedError(f"the task's metric is {accuracy} at fine-tune step {self.position}.")
        self.curve.append((self.position, accuracy))
        if self.callback is not None:
            total, nonzero = measure.count_params(model)
            metrics = {"accuracy": accuracy, "params_total": float(total), "params_nonzero": float(nonzero)}
            if self.callback(self.position, metrics):
                self.stopped = True
        return self.stopped


class _Counted:
    """Batches, counted as they are drawn (the optimizer steps of an epoch)."""

    def __init__(self, batches: Iterable[Any]) -> None:
        self.batches, self.n = batches, 0

    def __iter__(self) -> Iterator[Any]:
        for batch in self.batches:
            self.n += 1
            yield batch


def _lr_scheduler(optimizer: torch.optim.Optimizer, epochs: int, lr_schedule: str) -> LambdaLR:
    """Per-epoch learning-rate factors: 1, or for ``cosine`` the cosine curve from 1 to 0
    taken at each epoch's middle (2 epochs: 0.85, 0.15), so every epoch still learns and the
    last one ends near 0."""
    if lr_schedule == "cosine":
        return LambdaLR(optimizer, lambda epoch: 0.5 * (1.0 + math.cos(math.pi * (epoch + 0.5) / epochs)))
    return LambdaLR(optimizer, lambda epoch: 1.0)
