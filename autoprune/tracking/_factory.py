"""Trackers by name (:data:`autoprune.registry.TRACKERS`), for the CLI and the search options.

Each entry is a factory ``factory(run_dir, *, name=None, tags=()) -> Tracker``; a
third-party tracker registers one::

    from autoprune.registry import TRACKERS

    @TRACKERS.register("printer")
    def printer(run_dir, *, name=None, tags=()):
        return MyTracker()
"""

from __future__ import annotations

import importlib.util
import os
from typing import Sequence

from autoprune.registry import TRACKERS
from autoprune.tracking._base import Tracker
from autoprune.tracking._safe import SafeTracker, Trackers

__all__ = ["make_tracker", "resolve_tracker", "TRACKERS"]


# replace=True: a fresh import of this module (tests reload it) registers its own functions
@TRACKERS.register("none", replace=True)
def _none(run_dir: str | os.PathLike[str], *, name: str | None = None, tags: Sequence[str] = ()) -> Tracker:
    return Tracker()


@TRACKERS.register("neptune", replace=True)
def _neptune(run_dir: str | os.PathLike[str], *, name: str | None = None, tags: Sequence[str] = ()) -> Tracker:
    from autoprune.tracking._neptune import NeptuneTracker

    return SafeTracker(NeptuneTracker(run_dir, name=name, tags=tags))


@TRACKERS.register("mlflow", replace=True)
def _mlflow(run_dir: str | os.PathLike[str], *, name: str | None = None, tags: Sequence[str] = ()) -> Tracker:
    from autoprune.tracking._mlflow import MlflowTracker

    return SafeTracker(MlflowTracker(run_dir, name=name, tags=tags))


@TRACKERS.register("auto", replace=True)
def _auto(run_dir: str | os.PathLike[str], *, name: str | None = None, tags: Sequence[str] = ()) -> Tracker:
    # find_spec looks for the package without importing it (importing costs ~2 s)
    kind = "neptune" if importlib.util.find_spec("neptune") is not None else "none"
    return TRACKERS.get(kind)(run_dir, name=name, tags=tags)


def make_tracker(
    kind: str | Sequence[str] | None,
    run_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    tags: Sequence[str] = (),
) -> Tracker:
    """The tracker named ``kind``, ready for the controller.

    Args:
        kind: a name in :data:`autoprune.registry.TRACKERS`, several separated by commas
            (``"mlflow,neptune"``) or a list of names: ``none`` (or ``None``): no
            tracker; ``mlflow``: a :class:`~autoprune.tracking.MlflowTracker` (store from
            ``MLFLOW_TRACKING_URI``, else SQLite in ``run_dir``); ``neptune``: a :class:`~autoprune.tracking.NeptuneTracker` (mode from
            the environment, see :func:`~autoprune.tracking.resolve_neptune_mode`);
            ``auto``: ``neptune`` when the neptune client is installed, else ``none``.
        run_dir: the search's run directory (Neptune writes its local data under it).
        name: run name shown by the tracker.
        tags: tags of the tracker's run.

    Returns:
        A :class:`Tracker`; the built-in ones other than ``none`` come wrapped in a
        :class:`~autoprune.tracking.SafeTracker`, so their errors never stop the search;
        several names give a :class:`~autoprune.tracking.Trackers` that calls each in turn.

    Raises:
        ConfigError: unknown ``kind`` (the message lists the registered names), or Neptune
            settings that cannot work (bad ``NEPTUNE_MODE``, server mode without token or
            project).
        MissingDependencyError: ``neptune`` or ``mlflow`` asked for but not installed.

    Example:
        >>> make_tracker("none", "runs/demo")
        Tracker()
    """
    names = _names(kind)
    if len(names) == 1:
        return TRACKERS.get(names[0])(run_dir, name=name, tags=tags)
    for one in names:  # every name checked before any tracker is built
        TRACKERS.get(one)
    return Trackers([TRACKERS.get(one)(run_dir, name=name, tags=tags) for one in names])


def _names(kind: str | Sequence[str] | None) -> list[str]:
    """``"mlflow, neptune"`` or ``["mlflow", "neptune"]`` as a list of names; ``none`` entries
    and repeats dropped, so ``"none"`` alone (or nothing) is no tracker."""
    if kind is None:
        return ["none"]
    parts = kind.split(",") if isinstance(kind, str) else [str(k) for k in kind]
    names: list[str] = []
    for part in (p.strip() for p in parts):
        if part and part not in names and part != "none":
            names.append(part)
    return names or ["none"]


def resolve_tracker(value: str | Tracker | Sequence[str | Tracker] | None, run_dir: str | os.PathLike[str],
                    **kwargs: object) -> Tracker:
    """A tracker from a name (see :func:`make_tracker`), a :class:`Tracker` object, or a
    list of names and objects (a :class:`~autoprune.tracking.Trackers`).

    An object that is not already a :class:`SafeTracker` is wrapped in one, so a user's
    tracker can never stop the search either; the plain ``Tracker()`` (no tracker) is used
    as it is.
    """
    if value is None or isinstance(value, str):
        return make_tracker(value, run_dir, **kwargs)  # type: ignore[arg-type]
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, str) for v in value):
            return make_tracker(value, run_dir, **kwargs)  # type: ignore[arg-type]
        return Trackers([resolve_tracker(v, run_dir, **kwargs) for v in value])
    if isinstance(value, SafeTracker) or type(value) is Tracker:
        return value
    return SafeTracker(value)
