"""How a search runs (as opposed to what it searches, which is the space)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from autoprune import measure
from autoprune.errors import ConfigError
from autoprune.registry import EXECUTORS

if TYPE_CHECKING:
    from autoprune.search._executors import Executor
    from autoprune.search._space import ExecutorConfig, SearchSpace
    from autoprune.tracking import Tracker

__all__ = ["RunOptions"]


@dataclass(frozen=True)
class RunOptions:
    """How a search runs (as opposed to what it searches, which is the space).

    The executor settings default to the space's ``executor`` section, which is their
    one source: a value set here overrides that field only (see :meth:`executor_config`).

    Args:
        out: run directory (default ``autoprune-runs/<study name>``).
        storage: Optuna storage URL (default: SQLite ``study.db`` in the run directory).
        resume: continue the study in ``out`` / ``storage``.
        executor: a name in :data:`autoprune.registry.EXECUTORS` (``local``, ``ray``) or an
            :class:`~autoprune.search.Executor` object; None: the space's (``ray`` when
            ``workers`` > 1 is set here).
        workers: trials run at once (Ray only); None: the space's.
        address: Ray cluster address (else the space's, ``RAY_ADDRESS``, a local Ray).
        cpus_per_trial: CPUs per trial (also the torch threads a trial trains with).
        gpus_per_trial: GPUs per trial.
        device: where trials train and evaluate (``auto``, ``cpu``, ``cuda``, ``cuda:N``);
            None: the space's ``device`` (``auto`` unless it sets one).
        amp: mixed precision of fine-tuning (``bf16``, ``fp16`` on CUDA, ``none`` for
            float32); None: the space's ``amp``.
        tracker: a name in :data:`autoprune.registry.TRACKERS` (``mlflow``, ``neptune``, ``none``,
            ``auto``: Neptune when its client is installed) or a
            :class:`~autoprune.tracking.Tracker` object.
        progress: show progress: bars on a terminal, else a line after every trial.
        data_dir: data directory for tasks that read files.
        max_attempts: runs of a trial whose worker died before it is FAILED.
        latency_memo: latencies measured so far in this process, reused for models of the
            same architecture (:class:`autoprune.measure.LatencyMemo`); default a new one
            per search. Either way it also gets the measurements stored with a resumed
            study. Pass one to several searches to score their identical models
            identically. Local executor only: Ray workers each keep their own.
    """

    out: Path | None = None
    storage: str | None = None
    resume: bool = False
    executor: str | Executor | None = None
    workers: int | None = None
    address: str | None = None
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None
    device: str | None = None
    amp: str | None = None
    tracker: str | Tracker | Sequence[str | Tracker] = "auto"
    progress: bool = True
    data_dir: str | None = None
    max_attempts: int = 3
    latency_memo: measure.LatencyMemo | None = None

    def __post_init__(self) -> None:
        if isinstance(self.executor, str):
            EXECUTORS.get(self.executor)  # the error lists the registered names
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers must be >= 1, but got workers={self.workers}.")
        if self.executor == "local" and (self.workers or 1) > 1:
            raise ConfigError(f"workers={self.workers} needs executor=ray; the local executor runs one trial at a time.")
        if (self.cpus_per_trial is not None and self.cpus_per_trial <= 0) or (
                self.gpus_per_trial is not None and self.gpus_per_trial < 0):
            raise ConfigError(
                f"cpus_per_trial must be > 0 and gpus_per_trial >= 0, but got "
                f"cpus_per_trial={self.cpus_per_trial}, gpus_per_trial={self.gpus_per_trial}."
            )
        if self.device is not None:
            from autoprune.devices import check_device

            check_device(self.device)
        if self.amp not in (None, "none", "bf16", "fp16"):
            raise ConfigError(f"amp must be one of none, bf16, fp16, but got amp={self.amp!r}.")
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, but got max_attempts={self.max_attempts}.")
        if self.latency_memo is not None and self.executor not in (None, "local"):
            raise ConfigError(
                f"latency_memo needs executor=local (Ray workers each keep their own), but got executor={self.executor!r}."
            )

    @classmethod
    def for_space(cls, space: SearchSpace, **options: Any) -> RunOptions:
        """Options for ``space`` (kept for callers of earlier versions: the space's executor
        section is now the default of every option, so this is ``RunOptions(**options)``)."""
        return cls(**options)

    def executor_config(self, space: SearchSpace) -> ExecutorConfig:
        """The space's executor section with the values set here; more than one worker
        without an executor name means Ray (an executor object ignores the name).

        Raises:
            ConfigError: the result asks the local executor for several workers, or a
                latency memo of a Ray search.
        """
        ex = space.executor
        workers = self.workers or ex.workers
        name = self.executor if isinstance(self.executor, str) else None
        config = dataclasses.replace(
            ex, name=name or ("ray" if workers > 1 else ex.name), workers=workers,
            address=self.address or ex.address,
            cpus_per_trial=ex.cpus_per_trial if self.cpus_per_trial is None else self.cpus_per_trial,
            gpus_per_trial=ex.gpus_per_trial if self.gpus_per_trial is None else self.gpus_per_trial,
        )
        EXECUTORS.get(config.name)
        if config.name == "local" and config.workers > 1:
            raise ConfigError(f"workers={config.workers} needs executor=ray; the local executor runs one trial at a time.")
        if self.latency_memo is not None and config.name != "local":
            raise ConfigError(
                f"latency_memo needs executor=local (Ray workers each keep their own), but got executor={config.name!r}."
            )
        return config

    def device_settings(self, space: SearchSpace) -> tuple[str, str | None]:
        """``(device, amp)`` in effect: the values set here, else the space's (``amp="none"``
        turns the space's mixed precision off)."""
        from autoprune.devices import amp_mode

        return self.device or space.device, amp_mode(space.amp if self.amp is None else self.amp)

    def to_dict(self) -> dict[str, Any]:
        """The options as a tracker logs them (objects by their class name, no secrets)."""
        from autoprune.search._result import redact

        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "latency_memo":  # measurements, not an argument
                continue
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, (list, tuple)):  # several trackers
                value = ",".join(v if isinstance(v, str) else type(v).__name__ for v in value)
            elif not isinstance(value, (str, int, float, bool, type(None))):
                value = type(value).__name__
            out[f.name] = value
        if out.get("storage"):
            out["storage"] = redact(out["storage"])
        return out
