"""Latency: median milliseconds per forward, with fixed threads, after warm-up.

Trials may share a node, so a pruned model is measured beside its dense baseline in the
same process, interleaved call by call: machine noise then hits both alike and the ratio
stays meaningful even when the absolute numbers drift.
"""

from __future__ import annotations

import contextlib
import hashlib
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

from autoprune.errors import ConfigError
from autoprune.tasks import call_model, to_device

__all__ = ["LatencyConfig", "LatencyMemo", "architecture_key", "measure_latency", "measure_latency_pair", "torch_threads"]

@dataclass(frozen=True)
class LatencyConfig:
    """How latency is measured: fixed torch threads, warm-up, median of repeats.

    ``batch_size`` None means the task's ``benchmark_batch_size``. ``device`` is where the
    models are timed (copied there for the measurement): ``cpu`` by default, the edge
    deployment case; ``cuda`` / ``cuda:N`` times with CUDA events after synchronising.
    """

    threads: int = 1
    warmup: int = 10
    repeats: int = 50
    batch_size: int | None = None
    device: str = "cpu"


# stop growing repeats here, even if min_seconds has not elapsed (very fast models)
_MAX_REPEATS = 10_000


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch intra-op threads, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _check(threads: int, warmup: int, repeats: int, min_seconds: float) -> None:
    for name, value, low in (("threads", threads, 1), ("warmup", warmup, 0), ("repeats", repeats, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, but got {name}={value!r}.")
    if not (isinstance(min_seconds, (int, float)) and min_seconds >= 0):
        raise ConfigError(f"min_seconds must be a number >= 0, but got min_seconds={min_seconds!r}.")


def _model_device(model: nn.Module) -> torch.device | None:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return None


def _measure(
    models: list[nn.Module], inputs: Any, threads: int, warmup: int, repeats: int,
    min_seconds: float, device: str | torch.device,
) -> list[float]:
    """Median ms per forward of each model, calls interleaved A, B, A, B, ..."""
    from autoprune.devices import resolve_device

    _check(threads, warmup, repeats, min_seconds)
    device = resolve_device(device, "latency.device")  # ConfigError when CUDA is asked for and absent
    cuda = device.type == "cuda"
    states = [(m.training, _model_device(m)) for m in models]
    inputs = to_device(inputs, device)
    samples: list[list[float]] = [[] for _ in models]
    try:
        for m in models:
            m.to(device).eval()
        with torch_threads(threads), torch.inference_mode():
            for _ in range(warmup):
                for m in models:
                    call_model(m, inputs)
            if cuda:
                torch.cuda.synchronize(device)
            # One CPU thread: time the thread's CPU clock, which stops while the scheduler
            # runs other processes, so a busy machine cannot inflate (or alias onto) one
            # model's calls. Several threads: the wall clock (CPU time would add threads up).
            clock = time.thread_time if threads == 1 and not cuda else time.perf_counter
            start = time.perf_counter()
            rounds = 0
            while rounds < repeats or (time.perf_counter() - start < min_seconds and rounds < _MAX_REPEATS):
                for m, out in zip(models, samples):
                    out.append(_time_call(m, inputs, cuda, clock))
                rounds += 1
    finally:
        for m, (training, dev) in zip(models, states):
            if dev is not None:
                m.to(dev)
            m.train(training)
    return [statistics.median(s) for s in samples]


def _time_call(model: nn.Module, inputs: Any, cuda: bool, clock: Callable[[], float]) -> float:
    if cuda:
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        call_model(model, inputs)
        end.record()
        end.synchronize()
        return begin.elapsed_time(end)
    t0 = clock()
    call_model(model, inputs)
    return (clock() - t0) * 1e3


def measure_latency(
    model: nn.Module,
    inputs: Any,
    *,
    threads: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    min_seconds: float = 0.2,
    device: str | torch.device = "cpu",
) -> float:
    """Median milliseconds of one forward of ``inputs``.

    The model runs in eval mode under ``torch.inference_mode`` with
    ``torch.set_num_threads(threads)`` (the previous thread count is restored), after
    ``warmup`` untimed calls. At least ``repeats`` calls are timed, more until
    ``min_seconds`` have elapsed (at most 10,000). With one thread on the CPU a call is
    timed by the thread's CPU clock (time spent descheduled by other processes does not
    count); with several threads by the wall clock; on CUDA by CUDA events. The model's
    mode and device are restored afterwards.

    Args:
        model: the model to time.
        inputs: a tensor, tuple or dict of tensors (see :func:`autoprune.tasks.call_model`).
        threads: torch intra-op threads while timing.
        warmup: untimed calls first (allocator, kernel selection, caches).
        repeats: minimum number of timed calls.
        min_seconds: keep timing until this much time has passed.
        device: where to run: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``; the model
            is moved there for the measurement and back afterwards.

    Example:
        >>> ms = measure_latency(nn.Linear(8, 8), torch.zeros(4, 8), repeats=5, min_seconds=0)
        >>> ms > 0
        True
    """
    return _measure([model], inputs, threads, warmup, repeats, min_seconds, device)[0]


def measure_latency_pair(
    model: nn.Module,
    baseline_model: nn.Module,
    inputs: Any,
    *,
    threads: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    min_seconds: float = 0.2,
    device: str | torch.device = "cpu",
) -> tuple[float, float]:
    """``(model_ms, baseline_ms)``: both timed in this process, calls interleaved.

    Same settings as :func:`measure_latency`; the calls alternate model, baseline, model,
    baseline, ... and the median of each is returned, so load from other processes
    slows both alike.
    """
    a, b = _measure([model, baseline_model], inputs, threads, warmup, repeats, min_seconds, device)
    return a, b


def architecture_key(model: nn.Module) -> tuple:
    """What a forward's cost depends on with dense kernels: every module's type and
    settings, every tensor's name, shape, dtype, layout and device. Weight values are left
    out: a pruned model whose zeros are kept runs the same kernels as the dense one."""
    modules = tuple((name, type(m).__qualname__, m.extra_repr()) for name, m in model.named_modules())
    tensors = tuple(
        (name, tuple(t.shape), str(t.dtype), str(t.layout), str(t.device))
        for name, t in [*model.named_parameters(), *model.named_buffers()]
    )
    return modules, tensors


def _input_key(inputs: Any) -> Any:
    if isinstance(inputs, torch.Tensor):
        return tuple(inputs.shape), str(inputs.dtype)
    if isinstance(inputs, dict):
        return tuple(sorted((k, _input_key(v)) for k, v in inputs.items()))
    if isinstance(inputs, (tuple, list)):
        return tuple(_input_key(v) for v in inputs)
    return repr(inputs)


class LatencyMemo:
    """:func:`measure_latency_pair` measured once per architecture, then reused.

    Timing the same shapes twice gives two slightly different numbers; a search that sees
    both learns from noise, and pays the timing again. With a memo, every model with the
    architecture (:func:`architecture_key`), inputs and settings of one already measured
    gets that measurement: identical models score identically. A search keeps one memo
    per process (driver or Ray worker) and stores the local one's measurements with its
    study (:meth:`measured`), so a resumed search starts from them; share one memo between
    searches in a process to score their identical models identically, e.g. when
    comparing samplers or trial pruners.

    Args:
        measured: measurements to start from, as :meth:`measured` returns them.

    Example:
        >>> memo = LatencyMemo()
        >>> x = torch.zeros(4, 8)
        >>> first = memo.pair(nn.Linear(8, 8), nn.Linear(8, 8), x, repeats=5, min_seconds=0)
        >>> memo.pair(nn.Linear(8, 8), nn.Linear(8, 8), x, repeats=5, min_seconds=0) == first
        True
        >>> LatencyMemo(memo.measured()).pair(nn.Linear(8, 8), nn.Linear(8, 8), x, repeats=5, min_seconds=0) == first
        True
    """

    def __init__(self, measured: Mapping[str, Sequence[float]] | None = None) -> None:
        self._pairs: dict[str, tuple[float, float]] = {}
        self.update(measured or {})

    def __len__(self) -> int:
        return len(self._pairs)

    def pair(self, model: nn.Module, baseline_model: nn.Module, inputs: Any, **settings: Any) -> tuple[float, float]:
        """``(model_ms, baseline_ms)`` as :func:`measure_latency_pair` takes them (same
        keyword settings), measured only the first time this key is seen."""
        key = (architecture_key(model), architecture_key(baseline_model), _input_key(inputs),
               tuple(sorted((k, str(v)) for k, v in settings.items())))
        # a digest, so that the measurements can be stored and read back by another process
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
        if digest not in self._pairs:
            self._pairs[digest] = measure_latency_pair(model, baseline_model, inputs, **settings)
        return self._pairs[digest]

    def measured(self) -> dict[str, tuple[float, float]]:
        """Every measurement so far, ``{key digest: (model_ms, baseline_ms)}`` (JSON-ready)."""
        return dict(self._pairs)

    def update(self, measured: Mapping[str, Sequence[float]]) -> None:
        """Add measurements taken before (:meth:`measured` of this or another memo)."""
        for digest, (model_ms, baseline_ms) in measured.items():
            self._pairs[str(digest)] = (float(model_ms), float(baseline_ms))
