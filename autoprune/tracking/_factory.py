"""Trackers by name, for the CLI and the search options."""

from __future__ import annotations

import importlib.util
import os
from typing import Sequence

from autoprune.errors import ConfigError
from autoprune.tracking._base import Tracker
from autoprune.tracking._safe import SafeTracker

__all__ = ["make_tracker", "TRACKERS"]

TRACKERS = ("none", "neptune", "auto")


def make_tracker(
    kind: str | None,
    run_dir: str | os.PathLike[str],
    *,
    name: str | None = None,
    tags: Sequence[str] = (),
) -> Tracker:
    """The tracker named ``kind``, ready for the controller.

    Args:
        kind: ``none`` (or ``None``): no tracker; ``neptune``: a
            :class:`~autoprune.tracking.NeptuneTracker` (mode from the environment, see
            :func:`~autoprune.tracking.resolve_neptune_mode`); ``auto``: ``neptune`` when
            the neptune client is installed, else ``none``.
        run_dir: the search's run directory (Neptune writes its local data under it).
        name: run name shown by the tracker.
        tags: tags of the tracker's run.

    Returns:
        A :class:`Tracker`; anything other than ``none`` comes wrapped in a
        :class:`~autoprune.tracking.SafeTracker`, so its errors never stop the search.

    Raises:
        ConfigError: unknown ``kind``, or Neptune settings that cannot work (bad
            ``NEPTUNE_MODE``, server mode without token or project).
        MissingDependencyError: ``neptune`` asked for but not installed.

    Example:
        >>> make_tracker("none", "runs/demo")
        Tracker()
    """
    kind = "none" if kind is None else kind
    if kind not in TRACKERS:
        raise ConfigError(f"tracker must be one of {', '.join(TRACKERS)}, but got tracker={kind!r}.")
    if kind == "auto":
        # find_spec looks for the package without importing it (importing costs ~2 s)
        kind = "neptune" if importlib.util.find_spec("neptune") is not None else "none"
    if kind == "none":
        return Tracker()
    from autoprune.tracking._neptune import NeptuneTracker

    return SafeTracker(NeptuneTracker(run_dir, name=name, tags=tags))
