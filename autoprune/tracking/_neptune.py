"""Neptune tracker (the ``neptune`` 1.x client, loaded lazily).

The hosted Neptune service shut down on 2026-03-05; the 1.x client still works:

- ``offline`` (the default without credentials) writes JSON-lines operation logs under
  ``<run_dir>/.neptune/offline/``; no token, no project, no network;
- ``async`` (the default when ``NEPTUNE_API_TOKEN`` and ``NEPTUNE_PROJECT`` are set)
  queues operations on disk under ``<run_dir>/.neptune/async/`` and sends them to a
  (self-hosted) server from a background thread, so the search never waits for it;
- ``sync`` waits for the server on every call (slow: avoid for searches); in both server
  modes, creating the run retries an unreachable server for ``NEPTUNE_RETRIES_TIMEOUT``
  seconds if set, else 3 (the client's own default, 60, would hold the search).
- ``debug`` keeps everything in memory, readable with ``run[...].fetch()`` (tests).

The client puts its data under ``NEPTUNE_DATA_DIRECTORY`` (default ``.neptune`` in the
current directory), read when a run is created. :class:`NeptuneTracker` sets it to
``<run_dir>/.neptune`` for the duration of ``init_run`` only, so the process's working
directory and environment stay as they were. The folder is named ``.neptune`` so that
Neptune's own sync tool finds it (its console script imports the dropped
``pkg_resources``; run it as ``python -c "from neptune.cli.commands import sync; sync()"
--path <run_dir> --project ws/proj``).

Layout of a run::

    config/space, config/args, config/run_dir     the search space, arguments, run dir
    versions/*                                    package versions
    baseline/*                                    dense model's measures
    trials/{n}/recipe/*, state, reason, seconds, worker, attempts, feasible
    trials/{n}/measures/*                         a trial's measures
    trials/{n}/curve                              FloatSeries: value per fine-tune step
    search/hypervolume                            FloatSeries, step = trials so far
    search/pareto_front                           HTML table (File), replaced every update
    search/front_size, search/n_trials, search/status
    <key>                                         files given to log_file
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import math
import numbers
import os
import threading
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from autoprune._imports import require
from autoprune.errors import ConfigError
from autoprune.tracking._base import Tracker, front_html

__all__ = ["NeptuneTracker", "resolve_neptune_mode", "NEPTUNE_MODES"]

log = logging.getLogger("autoprune.tracking")

NEPTUNE_MODES = ("async", "sync", "offline", "debug", "read-only")
_SERVER_MODES = ("async", "sync")
_INT32 = (-(2**31), 2**31 - 1)  # neptune 1.x skips ints outside this range
_DATA_DIR_ENV = "NEPTUNE_DATA_DIRECTORY"
_env_lock = threading.Lock()


def resolve_neptune_mode(env: Mapping[str, str]) -> str:
    """The Neptune connection mode for an environment; the one place it is decided.

    ``NEPTUNE_MODE`` when set (one of async, sync, offline, debug, read-only); else
    ``async`` when both ``NEPTUNE_API_TOKEN`` and ``NEPTUNE_PROJECT`` are set; else
    ``offline``.

    Example:
        >>> resolve_neptune_mode({})
        'offline'
        >>> resolve_neptune_mode({"NEPTUNE_API_TOKEN": "t", "NEPTUNE_PROJECT": "ws/p"})
        'async'
        >>> resolve_neptune_mode({"NEPTUNE_MODE": "debug", "NEPTUNE_API_TOKEN": "t", "NEPTUNE_PROJECT": "ws/p"})
        'debug'
    """
    mode = (env.get("NEPTUNE_MODE") or "").strip()
    if mode:
        if mode not in NEPTUNE_MODES:
            raise ConfigError(f"NEPTUNE_MODE must be one of {', '.join(NEPTUNE_MODES)}, but got NEPTUNE_MODE={mode!r}.")
        return mode
    if env.get("NEPTUNE_API_TOKEN") and env.get("NEPTUNE_PROJECT"):
        return "async"
    return "offline"


class _Secret:
    """Holds a token so that repr(), str() and vars() of its owner never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None) -> None:
        self._value = value or None

    def reveal(self) -> str | None:
        return self._value

    def __repr__(self) -> str:
        return "'***'" if self._value else "None"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a secret is not pickled")


class NeptuneTracker(Tracker):
    """Mirrors a search into a Neptune run (``pip install 'autoprune[neptune]'``).

    Wrap it in :class:`~autoprune.tracking.SafeTracker` (``make_tracker`` does) so that
    no Neptune error can stop the search.

    Args:
        run_dir: the search's run directory; Neptune's local data goes to
            ``run_dir/.neptune``.
        mode: async, sync, offline or debug; ``None`` resolves it from the environment
            with :func:`resolve_neptune_mode` (explicit ``project`` and ``api_token``
            count as set).
        project: ``workspace/project`` (else ``NEPTUNE_PROJECT``); server modes only.
        api_token: API token (else ``NEPTUNE_API_TOKEN``); server modes only. It is
            never printed: repr and error messages mask it.
        name: the Neptune run's name.
        tags: tags of the Neptune run.
        stop_timeout: seconds :meth:`finish` waits for queued operations to reach the
            server (``async``); what is left stays under ``run_dir/.neptune`` for a
            later ``neptune sync``.

    Example:
        >>> import tempfile
        >>> tracker = NeptuneTracker(tempfile.mkdtemp(), mode="debug")
        >>> tracker.start(run_dir=tracker.run_dir, space={"sparsity": [0.1, 0.9]}, args={}, versions={})
        >>> tracker.log_baseline({"accuracy": 0.976})
        >>> tracker.run["baseline/accuracy"].fetch()
        0.976
        >>> tracker.finish()
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        mode: str | None = None,
        project: str | None = None,
        api_token: str | None = None,
        name: str | None = None,
        tags: Sequence[str] = (),
        *,
        stop_timeout: float = 60.0,
    ) -> None:
        env = dict(os.environ)
        if project:
            env["NEPTUNE_PROJECT"] = project
        if api_token:
            env["NEPTUNE_API_TOKEN"] = api_token
        if mode is None:
            mode = resolve_neptune_mode(env)
        elif mode not in NEPTUNE_MODES:
            raise ConfigError(f"neptune mode must be one of {', '.join(NEPTUNE_MODES)}, but got mode={mode!r}.")
        if mode == "read-only":
            raise ConfigError(
                "NEPTUNE_MODE='read-only' cannot record a search; use one of async, sync, offline, debug."
            )
        self.run_dir = Path(run_dir)
        self.mode = mode
        self.name = name
        self.tags = tuple(str(t) for t in tags)
        self.stop_timeout = float(stop_timeout)
        if mode in _SERVER_MODES:
            missing = [k for k in ("NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT") if not env.get(k)]
            if missing:
                raise ConfigError(
                    f"neptune mode {mode!r} sends data to a Neptune server and needs NEPTUNE_API_TOKEN and "
                    f"NEPTUNE_PROJECT, but {' and '.join(missing)} is not set; unset NEPTUNE_MODE to log offline."
                )
            self.project: str | None = env["NEPTUNE_PROJECT"]
            self._token = _Secret(env["NEPTUNE_API_TOKEN"])
        else:
            # offline and debug runs belong to no project and need no token
            self.project = None
            self._token = _Secret(None)
        require("neptune")  # fail now, before the first trial, if the extra is missing
        self._run: Any = None
        self._curve_last_step: dict[int, float] = {}
        self._hv_last_step = -1

    def __repr__(self) -> str:
        return f"NeptuneTracker(mode={self.mode!r}, project={self.project!r}, run_dir={str(self.run_dir)!r})"

    @property
    def run(self) -> Any:
        """The ``neptune.Run`` while the search runs, else ``None``."""
        return self._run

    @property
    def data_dir(self) -> Path:
        """Where the Neptune client writes its local data for this run."""
        return self.run_dir / ".neptune"

    def redact(self, text: str) -> str:
        token = self._token.reveal()
        return text.replace(token, "***") if token else text

    # -- hooks -------------------------------------------------------------------------

    def start(self, *, run_dir: Path, space: dict[str, Any], args: dict[str, Any], versions: dict[str, Any]) -> None:
        neptune = require("neptune")
        try:
            # offline there is no app: the client's "Open in the app: offline/<uuid>" misleads
            quiet = _quiet_neptune_logger() if self.mode not in _SERVER_MODES else contextlib.nullcontext()
            with _creating_run(self.data_dir.resolve(), self.mode), quiet:
                self._run = neptune.init_run(
                    mode=self.mode,
                    project=self.project,
                    api_token=self._token.reveal(),
                    name=self.name,
                    tags=list(self.tags) or None,
                    # The controller's own stdout, hardware and traceback are not what the
                    # search measures, and each is one more background thread.
                    capture_stdout=False,
                    capture_stderr=False,
                    capture_hardware_metrics=False,
                    capture_traceback=False,
                    source_files=[],
                )
        except Exception as exc:
            # The client's message may quote the token; the original is dropped for that reason.
            raise RuntimeError(self.redact(f"neptune.init_run failed: {type(exc).__name__}: {exc}")) from None
        log.info("Neptune run in %s mode, local data in %s", self.mode, self.data_dir)
        run = self._run
        run["config/run_dir"] = str(run_dir)
        _assign(run, "config/space", space)
        _assign(run, "config/args", args)
        _assign(run, "versions", versions)

    def log_baseline(self, measures: dict[str, Any]) -> None:
        _assign(self._require_run(), "baseline", measures)

    def log_trial(self, record: dict[str, Any]) -> None:
        run = self._require_run()
        number = int(record["number"])
        base = f"trials/{number}"
        run[f"{base}/state"] = str(_atom(record["state"]))  # an enum logs its value
        if record.get("reason") is not None:
            run[f"{base}/reason"] = str(record["reason"])
        _assign(run, f"{base}/recipe", record.get("recipe") or {})
        _assign(run, f"{base}/measures", record.get("measures") or {})
        for key, cast in (("seconds", float), ("worker", str), ("attempts", int), ("feasible", bool)):
            if record.get(key) is not None:
                run[f"{base}/{key}"] = _atom(cast(record[key]))
        self._log_curve(run, number, record.get("curve") or [])

    def _log_curve(self, run: Any, number: int, curve: Sequence[Sequence[float]]) -> None:
        # A series takes increasing steps only: skip points already sent (a trial logged
        # twice) and non-finite values, which the client rejects; the local record keeps all.
        last = self._curve_last_step.get(number, -math.inf)
        steps: list[float] = []
        values: list[float] = []
        for step, value in curve:
            if step > last and math.isfinite(float(value)):
                steps.append(step)
                values.append(float(value))
                last = step
        if values:
            run[f"trials/{number}/curve"].extend(values, steps=steps)
            self._curve_last_step[number] = last

    def log_front(self, rows: list[dict[str, Any]], hypervolume: float, n_trials: int) -> None:
        from neptune.types import File

        run = self._require_run()
        n_trials = int(n_trials)
        run["search/n_trials"] = n_trials
        run["search/front_size"] = len(rows)
        if n_trials > self._hv_last_step and math.isfinite(float(hypervolume)):
            run["search/hypervolume"].append(float(hypervolume), step=n_trials)
            self._hv_last_step = n_trials
        run["search/pareto_front"].upload(File.from_content(front_html(rows), extension="html"))

    def log_file(self, key: str, path: Path) -> None:
        if not key or not isinstance(key, str):
            raise ConfigError(f"log_file key must be a non-empty string, but got key={key!r}.")
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"log_file({key!r}): {path} is not a file.")
        # offline and async modes record the path and read the file when it is sent,
        # which is why files are logged from the run directory, where they stay
        self._require_run()[key].upload(str(path.resolve()))

    def finish(self, status: str = "complete") -> None:
        run, self._run = self._run, None
        if run is None:
            return
        try:
            run["search/status"] = str(status)
            if status == "failed":
                run["sys/failed"] = True
        finally:
            if self.mode in _SERVER_MODES:
                run.stop(seconds=self.stop_timeout)  # its progress lines tell what is still sent
            else:
                with _quiet_neptune_logger():  # nothing to send: "shutting down" is noise
                    run.stop(seconds=self.stop_timeout)

    def _require_run(self) -> Any:
        if self._run is None:
            raise RuntimeError("NeptuneTracker: start() was not called or finish() already was.")
        return self._run


INIT_RETRIES_S = 3  # creating a run retries an unreachable server this long (the client's default: 60 s)


@contextlib.contextmanager
def _creating_run(path: Path, mode: str) -> Iterator[None]:
    """While a run is created: point the client at ``path``, and in a server mode bound its
    retries (a module value it reads on every retry) unless NEPTUNE_RETRIES_TIMEOUT is set;
    then restore both."""
    from neptune.common.backends import utils

    with _env_lock:
        before, retries = os.environ.get(_DATA_DIR_ENV), utils.retries_timeout
        os.environ[_DATA_DIR_ENV] = str(path)
        if mode in _SERVER_MODES and not os.environ.get("NEPTUNE_RETRIES_TIMEOUT"):
            utils.retries_timeout = min(INIT_RETRIES_S, retries)
        try:
            yield
        finally:
            utils.retries_timeout = retries
            if before is None:
                os.environ.pop(_DATA_DIR_ENV, None)
            else:
                os.environ[_DATA_DIR_ENV] = before


@contextlib.contextmanager
def _quiet_neptune_logger() -> Iterator[None]:
    logger = logging.getLogger("neptune")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _atom(value: Any) -> bool | int | float | str:
    """A value Neptune stores as it is: bool, 32-bit int, finite float or string."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        value = int(value)
        # larger ints (FLOPs, bytes) would be skipped by the client; a float keeps them to 2**53
        return value if _INT32[0] <= value <= _INT32[1] else float(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else str(value)  # 'nan', 'inf': rejected as floats
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        return json.dumps(items, default=str)
    if isinstance(value, os.PathLike):
        return os.fspath(value)  # type: ignore[return-value]
    return str(value)


def _namespace(values: Mapping[str, Any]) -> dict[str, Any]:
    """A nested dict with only values Neptune accepts; ``None`` and empty dicts are left out."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            inner = _namespace(value)
            if inner:
                out[str(key)] = inner
        else:
            out[str(key)] = _atom(value)
    return out


def _assign(run: Any, key: str, values: Mapping[str, Any]) -> None:
    converted = _namespace(values)
    if converted:
        run[key] = converted
