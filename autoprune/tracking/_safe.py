"""Trackers that can never stop or stall a search."""

from __future__ import annotations

import logging
import re
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Iterable

from autoprune.tracking._base import Tracker

__all__ = ["SafeTracker", "Trackers", "TrackerWarning"]

log = logging.getLogger("autoprune.tracking")


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _one_line(text: str, limit: int = 300) -> str:
    """Client errors span many lines with colour codes (neptune's do); a warning is one line."""
    text = " ".join(_ANSI.sub("", text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TrackerWarning(UserWarning):
    """A tracker failed or was slow; the search went on without it."""


class SafeTracker(Tracker):
    """Wraps a tracker so that no exception from it reaches the search.

    Any exception a hook raises (network, quota, a bug in the tracker) is swallowed
    after ONE warning per hook name, sent both to the ``autoprune.tracking`` logger and
    through :mod:`warnings` as :class:`TrackerWarning`; the message goes through the
    inner tracker's :meth:`~Tracker.redact` so a token never reaches a log. When
    :meth:`start` fails, the tracker is switched off for the rest of the search.

    Speed: the hooks run in the controller's loop, so a tracker must not block on the
    network. Every call is bounded: one that has not returned after ``timeout_seconds``
    is left running in a daemon thread and the tracker is switched off with one warning. Neptune's ``async`` mode queues operations and sends them from a background
    thread; ``offline`` and ``debug`` write to local disk or memory. ``sync`` mode waits
    for the server on every call: a hook slower than ``slow_seconds`` produces one
    warning that says so.

    Args:
        inner: the tracker to protect.
        slow_seconds: a hook call taking longer than this is reported once.
        timeout_seconds: a hook call taking longer than this turns the tracker off.

    Example:
        >>> class Broken(Tracker):
        ...     def log_trial(self, record):
        ...         raise ConnectionError("no route to host")
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     tracker = SafeTracker(Broken())
        ...     tracker.log_trial({"number": 0})
        ...     tracker.log_trial({"number": 1})
        >>> len(caught)
        1
    """

    def __init__(self, inner: Tracker, slow_seconds: float = 2.0, timeout_seconds: float = 5.0) -> None:
        self.inner = inner
        self.slow_seconds = slow_seconds
        self.timeout_seconds = timeout_seconds
        self.disabled = False
        self._warned: set[str] = set()
        self._warned_slow = False

    def __repr__(self) -> str:
        return f"SafeTracker({self.inner!r})"

    def _call(self, hook: str, *args: Any, **kwargs: Any) -> None:
        if self.disabled:
            return
        began = time.perf_counter()
        outcome: list[BaseException | None] = []

        def call() -> None:
            try:
                getattr(self.inner, hook)(*args, **kwargs)
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - handed to the controller's thread
                outcome.append(exc)

        # a daemon thread bounds the call: a client retrying an unreachable server for a
        # minute (neptune's init_run does) is left behind, and never keeps the process alive
        worker = threading.Thread(target=call, name=f"autoprune-tracker-{hook}", daemon=True)
        worker.start()
        worker.join(self.timeout_seconds)
        if not outcome:
            self.disabled = True
            self._emit(4, f"{type(self.inner).__name__}.{hook} did not return within {self.timeout_seconds:g} s "
                          "(an unreachable server?); tracking is off for this search; the local record in the "
                          "run directory is still written.")
            return
        exc = outcome[0]
        if exc is not None:
            if not isinstance(exc, Exception):
                raise exc  # KeyboardInterrupt, SystemExit: not the tracker's to swallow
            if hook == "start":
                self.disabled = True
            self._warn_failure(hook, exc)
            return
        took = time.perf_counter() - began
        if took > self.slow_seconds and not self._warned_slow:
            self._warned_slow = True
            self._emit(
                4,
                f"{type(self.inner).__name__}.{hook} took {took:.1f} s, which slows the search; "
                "with Neptune, use NEPTUNE_MODE=async (queued in the background) or offline, not sync."
            )

    def _warn_failure(self, hook: str, exc: Exception) -> None:
        name = type(self.inner).__name__
        detail = _one_line(self.inner.redact(f"{type(exc).__name__}: {exc}"))
        log.debug("%s.%s failed:\n%s", name, hook, self.inner.redact("".join(traceback.format_exception(exc))))
        if hook in self._warned:
            return
        self._warned.add(hook)
        if hook == "start":
            tail = "tracking is off for this search; the local record in the run directory is still written."
        else:
            tail = f"further {hook} errors are not reported; the search goes on."
        self._emit(5, f"{name}.{hook} failed ({detail}); {tail}")

    @staticmethod
    def _emit(stacklevel: int, message: str) -> None:
        # stacklevel points the warning at the controller line that called the hook
        log.warning(message)
        warnings.warn(message, TrackerWarning, stacklevel=stacklevel)

    def start(self, *, run_dir: Path, space: dict[str, Any], args: dict[str, Any], versions: dict[str, Any]) -> None:
        self._call("start", run_dir=run_dir, space=space, args=args, versions=versions)

    def log_baseline(self, measures: dict[str, Any]) -> None:
        self._call("log_baseline", measures)

    def log_trial(self, record: dict[str, Any]) -> None:
        self._call("log_trial", record)

    def log_front(self, rows: list[dict[str, Any]], hypervolume: float, n_trials: int) -> None:
        self._call("log_front", rows, hypervolume, n_trials)

    def log_file(self, key: str, path: Path) -> None:
        self._call("log_file", key, path)

    def finish(self, status: str = "complete") -> None:
        self._call("finish", status)

    def redact(self, text: str) -> str:
        return self.inner.redact(text)


class Trackers(Tracker):
    """Several trackers called in turn, each behind its own :class:`SafeTracker`.

    One tracker failing neither stops the search nor the other trackers.

    Example:
        >>> both = Trackers([Tracker(), Tracker()])
        >>> len(both.trackers)
        2
    """

    def __init__(self, trackers: Iterable[Tracker]) -> None:
        self.trackers = [t if isinstance(t, SafeTracker) else SafeTracker(t) for t in trackers]

    def __repr__(self) -> str:
        return f"Trackers({self.trackers!r})"

    def start(self, *, run_dir: Path, space: dict[str, Any], args: dict[str, Any], versions: dict[str, Any]) -> None:
        for t in self.trackers:
            t.start(run_dir=run_dir, space=space, args=args, versions=versions)

    def log_baseline(self, measures: dict[str, Any]) -> None:
        for t in self.trackers:
            t.log_baseline(measures)

    def log_trial(self, record: dict[str, Any]) -> None:
        for t in self.trackers:
            t.log_trial(record)

    def log_front(self, rows: list[dict[str, Any]], hypervolume: float, n_trials: int) -> None:
        for t in self.trackers:
            t.log_front(rows, hypervolume, n_trials)

    def log_file(self, key: str, path: Path) -> None:
        for t in self.trackers:
            t.log_file(key, path)

    def finish(self, status: str = "complete") -> None:
        for t in self.trackers:
            t.finish(status)

    def redact(self, text: str) -> str:
        for t in self.trackers:
            text = t.redact(text)
        return text
