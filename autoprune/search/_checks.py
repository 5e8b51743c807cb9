"""Every check of a search's inputs, run before the study exists and before anything is
written: the run's numbers within their bounds, the extras its executor needs, a Ray
address that answers, resources and devices the machine has, a storage that keeps the
study on disk and can be written, and an output path that is a writable directory.

A search that fails any of these leaves no trace: rerunning the corrected command does
not find a half-created study asking for ``--resume``.
"""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autoprune.errors import ConfigError

if TYPE_CHECKING:
    from autoprune.search._options import RunOptions
    from autoprune.search._space import ExecutorConfig, SearchSpace

__all__ = [
    "LIMITS",
    "ADDRESS_TIMEOUT_S",
    "check_number",
    "check_seed",
    "check_output_dir",
    "check_output_file",
    "check_storage",
    "check_executor",
    "check_devices",
    "check_task_picklable",
    "check_space_limits",
    "preflight",
]

# Inclusive bounds of a run's numbers, declared once (the recipe's are in
# :data:`autoprune.recipe.BOUNDS`): a value outside runs until killed or overflows later.
LIMITS: dict[str, tuple[float, float]] = {
    "seed": (0, 2**32 - 1),  # numpy and torch seeds
    "trials": (1, 1_000_000),
    "workers": (1, 1024),
    "max_attempts": (1, 100),
    "cpus_per_trial": (0.01, 1024),
    "gpus_per_trial": (0, 64),
    "latency.repeats": (1, 10_000),
    "latency.warmup": (0, 10_000),
    "latency.threads": (1, 1024),
    "baseline_epochs": (0, 10_000),
}

ADDRESS_TIMEOUT_S = 3.0  # a cluster that does not answer this fast is not there


def check_number(field: str, value: Any, *, integer: bool = True, limits: str | None = None) -> None:
    """Raise ConfigError unless ``value`` is a finite number within ``LIMITS[limits or field]``."""
    low, high = LIMITS[limits or field]
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{field} must be {kind} in [{low:g}, {high:g}], but got {field}={value!r}.")


def check_seed(field: str, value: Any) -> None:
    check_number(field, value, limits="seed")


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_dir(field: str, path: str | os.PathLike[str], shown: str | None = None) -> None:
    """``path`` is a directory, or can be created, and can be written (``shown``: the
    value as the user gave it, when the path is part of it)."""
    path = Path(path)
    value = shown if shown is not None else str(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{field}={value!r}: {str(path)!r} is a file; allowed: a directory (existing or new)."
                          if shown else f"{field}={value!r} is a file; allowed: a directory (existing or new).")
    base = _nearest_existing(path)
    if not base.is_dir():
        raise ConfigError(f"{field}={value!r} cannot be created: {str(base)!r} is a file; allowed: a path "
                          f"in a directory.")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ConfigError(f"{field}={value!r} is not writable (no write permission on {str(base)!r}); "
                          f"allowed: a directory you can write.")


def check_output_file(field: str, path: str | os.PathLike[str]) -> None:
    """``path`` names a file (new or to be replaced) in a writable directory."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{field}={str(path)!r} is a directory; allowed: a file path.")
    check_output_dir(field, path.parent, shown=str(path))


_IN_MEMORY = ("", ":memory:")


def check_storage(url: str, field: str = "storage") -> None:
    """The storage keeps the study on disk (no in-memory SQLite) and can be written.

    SQLite: its directory is writable, and an existing file is a writable SQLite file.
    Other databases: the URL parses and its driver is installed (reaching the server is
    checked when the study is opened, before anything is written to the run directory).
    """
    from autoprune.search._result import redact

    shown = redact(url)
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"{field}={shown!r} is not a database URL; allowed: sqlite:///path/to/study.db, "
                          f"postgresql://user@host/db, ...")
    if url.startswith("sqlite:"):
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        path = path.split("?", 1)[0]
        if path in _IN_MEMORY or path.startswith("file::memory:") or "mode=memory" in url:
            raise ConfigError(f"{field}={shown!r} keeps the study in memory and loses it when the search ends; "
                              f"allowed: sqlite:///path/to/study.db.")
        file = Path(path)
        if file.exists():
            if not file.is_file():
                raise ConfigError(f"{field}={shown!r}: {path!r} is not a file; allowed: an SQLite file.")
            if not os.access(file, os.R_OK | os.W_OK):
                raise ConfigError(f"{field}={shown!r}: {path!r} is not writable; allowed: a file you can write.")
            with open(file, "rb") as fh:
                head = fh.read(16)
            if head and head != b"SQLite format 3\x00":
                raise ConfigError(f"{field}={shown!r}: {path!r} is not an SQLite database; allowed: an SQLite "
                                  f"file or a new path.")
        else:
            check_output_dir(field, file.parent, shown=shown)
        return
    try:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        engine = create_engine(url)  # imports the driver
    except Exception as exc:  # noqa: BLE001 - any failure means this URL cannot be used
        raise ConfigError(f"{field}={shown!r} cannot be reached: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}; allowed: a database URL whose "
                          f"driver is installed.") from None
    try:
        engine.connect().close()  # reachable now, before the run directory is written
    except Exception as exc:  # noqa: BLE001 - the driver's own errors
        detail = " ".join(str(exc).split())
        if parsed.password:
            detail = detail.replace(str(parsed.password), "***")
        detail = redact(detail)[:200]
        raise ConfigError(f"{field}={shown!r} cannot be reached: {type(exc).__name__}: {detail}; allowed: "
                          f"a database server that answers.") from None
    finally:
        engine.dispose()


def _split_address(address: str) -> tuple[str, int] | None:
    """(host, port) of a Ray address, or None for ``auto`` / ``local``."""
    if address in ("auto", "local"):
        return None
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"address={address!r} is not a Ray address; allowed: host:port, ray://host:port or auto.")
    return host.strip("[]"), int(port)


def check_address(address: str, timeout: float = ADDRESS_TIMEOUT_S) -> None:
    """A TCP connection to the Ray address opens within ``timeout`` seconds."""
    target = _split_address(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(f"address={address!r} cannot be reached within {timeout:g} s ({exc.strerror or exc}); "
                          f"allowed: the host:port of a running Ray cluster, or no address for a local Ray.") from None


def _local_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_executor(config: ExecutorConfig, given: bool = False) -> None:
    """Workers, resources, the extras and the address of the executor ``config`` names
    (``given``: the user passed an executor object, whose resources are its own)."""
    from autoprune._imports import require

    check_number("workers", config.workers)
    check_number("cpus_per_trial", config.cpus_per_trial, integer=False)
    check_number("gpus_per_trial", config.gpus_per_trial, integer=False)
    if given:
        return
    local = config.name == "local" or not (config.address or os.environ.get("RAY_ADDRESS"))
    if config.gpus_per_trial > 0 and local:
        have = _local_gpus()
        if have == 0:
            raise ConfigError(f"gpus_per_trial={config.gpus_per_trial:g} but this machine has no GPU; "
                              f"allowed: 0 here, or the address of a cluster with GPUs.")
        if config.gpus_per_trial > have:
            raise ConfigError(f"gpus_per_trial={config.gpus_per_trial:g} but this machine has {have} GPU(s); "
                              f"allowed: at most {have}.")
    if config.name == "ray":
        require("ray")
        if local and config.cpus_per_trial > (os.cpu_count() or 1):
            raise ConfigError(f"cpus_per_trial={config.cpus_per_trial:g} but this machine has {os.cpu_count()} CPUs; "
                              f"allowed: at most {os.cpu_count()} (no trial would ever start).")
        address = config.address or os.environ.get("RAY_ADDRESS")
        if address:
            check_address(address)


def check_devices(device: str, amp: str | None, latency_device: str, config: ExecutorConfig | None = None) -> str:
    """The devices exist here and fit the executor; returns the device trials run on
    (for Ray: the one inside its workers, see :func:`autoprune.devices.worker_device`).

    On a Ray cluster (an address) the workers' GPUs are not this machine's: only the
    spelling of ``device`` is checked here. ``latency.device`` is always this machine's
    (the dense model's latency is measured here).
    """
    from autoprune.devices import check_amp, check_device, resolve_device, worker_device

    ray = config is not None and config.name == "ray"
    cluster = ray and bool(config.address or os.environ.get("RAY_ADDRESS"))
    text = check_device(device)
    if not cluster:
        resolve_device(text)
    resolve_device(latency_device, "latency.device")
    if not ray:
        trial_device = str(resolve_device(text))
    else:
        if text.startswith("cuda") and config.gpus_per_trial <= 0:
            raise ConfigError(f"device={text!r} with executor ray needs gpus_per_trial > 0 (each trial runs on the "
                              f"GPU Ray gives it), but got gpus_per_trial={config.gpus_per_trial:g}; allowed: "
                              f"gpus_per_trial > 0, or device cpu or auto.")
        trial_device = worker_device(text, config.gpus_per_trial)
    check_amp(amp, trial_device)
    return trial_device


def check_task_picklable(task: Any) -> None:
    """A task object given to a Ray search can be sent to the workers (cloudpickle, as Ray
    sends it); a one-line ConfigError otherwise, before any trial."""
    from autoprune._imports import require

    cloudpickle = require("ray").cloudpickle
    try:
        cloudpickle.dumps(task)
    except Exception as exc:  # noqa: BLE001 - whatever pickling raises, the task cannot travel
        detail = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(
            f"task={task!r} cannot be sent to Ray workers: it does not pickle ({type(exc).__name__}: {detail}); "
            f"allowed: a model, loaders, metric and loss that pickle, or a 'path/file.py:factory' task that "
            f"builds them in each worker."
        ) from None


def check_space_fits_model(space: SearchSpace, task: Any) -> None:
    """The task's model has something to prune, and every granularity the space can
    produce fits it at the space's largest sparsities (heads on a model without
    attention, every layer removed): one line before any trial."""
    from autoprune.pruning import granularity_of, prunable_layers
    from autoprune.recipe import Recipe
    from autoprune.search._params import extreme_recipes

    model = task.build_model()
    prunable_layers(model, Recipe())
    for recipe in extreme_recipes(space.params, space.fixed):
        granularity_of(recipe).check_model(model, task, recipe)


def check_space_limits(space: SearchSpace) -> None:
    """The space's numbers within :data:`LIMITS` (the schema checks their types)."""
    check_seed("seed", space.seed)
    if space.budget.trials is not None:
        check_number("trials", space.budget.trials)
    latency = space.latency
    for name in ("repeats", "warmup", "threads"):
        value = getattr(latency, name, None)
        if value is not None:
            check_number(f"latency.{name}", value)
    epochs = getattr(space, "baseline_epochs", None)
    if epochs is not None:
        check_number("baseline_epochs", epochs)


def preflight(space: SearchSpace, options: RunOptions, config: ExecutorConfig, run_dir: Path,
              storage_url: str, *, given_executor: bool = False) -> None:
    """All of the above for one search; raises the first ConfigError found."""
    from autoprune._imports import require

    check_space_limits(space)
    check_number("max_attempts", options.max_attempts)
    if space.backend == "flaml":
        require("flaml")  # the extra, before the study exists
    check_executor(config, given=given_executor)
    check_devices(*options.device_settings(space), space.latency.device, config)
    check_output_dir("out", run_dir)
    if options.resume and options.storage is None and not (run_dir / "study.db").is_file():
        # opening the default storage would create an empty study.db, and then say "nothing to resume"
        raise ConfigError(f"--resume: {str(run_dir)!r} holds no study (no study.db); allowed: the run directory "
                          f"of a search (--out), or --storage URL.")
    if options.storage is not None:
        check_storage(options.storage, "storage")
    else:
        check_storage(storage_url, "storage")
